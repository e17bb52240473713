package sqlstore

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// The ledger's rows as stored (ADR 0044, 0045): the indexed columns and
// the leaf hash's 32 bytes in ledger, keyed by (tenant, idx); the entries'
// bodies in ledger_bodies, a transaction's entries of a tenant in one row
// (bodies.go).

// InsertLedgerSQL writes one entry's ledger row.
const InsertLedgerSQL = `INSERT INTO ledger(tenant, idx, type, run_id, run_seq, job_id, leaf_hash) VALUES (?,?,?,?,?,?,?)`

// LedgerArgs returns the values of InsertLedgerSQL for the row the kernel
// made, and the entry's body for the writer to store with its neighbours.
func LedgerArgs(r *tree.Row) (entry []any, body PendingBody) {
	var runSeq any
	if r.RunSeq > 0 {
		runSeq = r.RunSeq
	}
	leaf := r.Leaf
	entry = []any{r.Tenant, int64(r.Index), r.Type, NullStr(r.RunID), runSeq, NullStr(r.JobID), leaf[:]}
	return entry, PendingBody{Tenant: r.Tenant, Index: r.Index, Envelope: r.Body}
}

// leafHex is a stored leaf hash as the evidence formats write it.
func leafHex(b []byte) (string, error) {
	if len(b) != 32 {
		return "", errors.New("corrupt leaf hash")
	}
	return ledger.HashHex([32]byte(b)), nil
}

// LeafHex is leafHex for the stores' own reads (their ledger heads).
func LeafHex(b []byte) (string, error) { return leafHex(b) }

var prevHashKey = []byte(`,"prev_hash":"`)

// EnvelopePrevHash returns the prev_hash of a canonical envelope (ledger
// package, EnvelopeBody). Its members are in JCS order (event, index,
// prev_hash, run_seq, tenant), and what follows prev_hash is a number and
// a validated tenant, so the envelope's own prev_hash is the last such key
// in the body, whatever the event holds.
func EnvelopePrevHash(body []byte) (string, error) {
	i := bytes.LastIndex(body, prevHashKey)
	if i < 0 {
		return "", fmt.Errorf("envelope without prev_hash")
	}
	rest := body[i+len(prevHashKey):]
	j := bytes.IndexByte(rest, '"')
	if j != 0 && j != 64 {
		return "", fmt.Errorf("envelope with a malformed prev_hash")
	}
	return string(rest[:j]), nil
}
