// Package sqlstore is what Cairn's two SQL stores (package sqlite and
// package postgres) share: appending an evidence event through the ledger
// kernel (ledger.Head.Step), and the SQL of the reads and simple writes
// over a small dialect. Each store keeps only what differs between the
// engines: its writer, durability, caches and migrations (ADR 0040, 0041).
package sqlstore

import (
	"errors"
	"fmt"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// errNoTenantOrType is AppendEvent's answer to an event without a tenant
// or a type.
var errNoTenantOrType = errors.New("event without tenant or type")

// Heads is a store's write transaction as AppendEvent sees it: where
// heads come from, and what the kernel reads that a head lacks.
type Heads interface {
	tree.Source
	// Head returns the tenant's ledger head as the transaction sees it.
	Head(tenant string) (*tree.Head, error)
}

// AppendEvent appends ev to its tenant's ledger head through the kernel:
// it fills in the event's timeline seq, previous hash and ledger position,
// and returns the row and the Merkle nodes the store must persist in the
// same transaction.
func AppendEvent(ev *cairn.Event, src Heads) (tree.Row, []tree.Node, error) {
	if ev.Tenant == "" || ev.Type == "" {
		return tree.Row{}, nil, errNoTenantOrType
	}
	h, err := src.Head(ev.Tenant)
	if err != nil {
		return tree.Row{}, nil, err
	}
	canon := ev.Canon
	if canon == nil {
		ev.Seq, ev.Ledger = 0, nil
		if canon, err = ledger.Canonical(ev); err != nil {
			return tree.Row{}, nil, fmt.Errorf("canonical event: %w", err)
		}
	}
	row, nodes, err := h.Step(tree.Append{Tenant: ev.Tenant, Type: ev.Type, RunID: string(ev.RunID), JobID: string(ev.JobID), Event: canon}, src)
	if err != nil {
		return tree.Row{}, nil, err
	}
	ev.Seq = row.RunSeq
	ev.PrevHash = row.PrevHash
	ev.Ledger = &cairn.LedgerRef{Index: row.Index, LeafHash: row.LeafHex}
	return row, nodes, nil
}
