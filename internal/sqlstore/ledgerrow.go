package sqlstore

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/pack"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// The ledger's rows as stored (ADR 0044): the indexed columns and the
// leaf hash's 32 bytes in ledger, the entry's body (Pack'ed) in
// ledger_bodies, both keyed by (tenant, idx).

// InsertLedgerSQL and InsertLedgerBodySQL write one entry's two rows.
const (
	InsertLedgerSQL     = `INSERT INTO ledger(tenant, idx, type, run_id, run_seq, job_id, leaf_hash) VALUES (?,?,?,?,?,?,?)`
	InsertLedgerBodySQL = `INSERT INTO ledger_bodies(tenant, idx, body) VALUES (?,?,?)`
)

// PackEnvelope returns the stored form of the envelope of ev that the
// kernel made (r.Body): the head ev carries packed, if it does, and the
// tail packed now (pack.Envelope).
func PackEnvelope(ev *cairn.Event, r *tree.Row) ([]byte, error) {
	var p *pack.Prefix
	if ev != nil && ev.Packed != nil {
		p = &pack.Prefix{Canon: ev.PackedFrom, Frame: ev.Packed}
	}
	return pack.Envelope(p, r.Body)
}

// LedgerArgs returns the values of InsertLedgerSQL and InsertLedgerBodySQL
// for the row the kernel made of ev.
func LedgerArgs(ev *cairn.Event, r *tree.Row) (entry, body []any, err error) {
	packed, err := PackEnvelope(ev, r)
	if err != nil {
		return nil, nil, err
	}
	var runSeq any
	if r.RunSeq > 0 {
		runSeq = r.RunSeq
	}
	leaf := r.Leaf
	entry = []any{r.Tenant, int64(r.Index), r.Type, NullStr(r.RunID), runSeq, NullStr(r.JobID), leaf[:]}
	body = []any{r.Tenant, int64(r.Index), packed}
	return entry, body, nil
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
