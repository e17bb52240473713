package sqlstore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cairnhq/cairn"
)

// runEvents lists a run's events after run_seq f.After like events, and
// also those whose body a retention compaction pruned, each in its place
// as a marker (prunedEvent).
func (r *Reader) runEvents(tenant string, f cairn.EventFilter) ([]*cairn.Event, error) {
	if err := r.beforeBodies(); err != nil {
		return nil, err
	}
	rows, err := r.query(`SELECT l.idx, b.idx, b.n, b.body, l.leaf_hash, l.type, l.run_seq, coalesce(l.job_id, '') FROM ledger l LEFT`+JoinBody+
		` WHERE l.tenant = ? AND l.run_id = ? AND l.run_seq > ? ORDER BY l.run_seq LIMIT ?`, tenant, f.RunID, f.After, f.Limit)
	if err != nil {
		return nil, err
	}
	type marker struct {
		at  int // position in out
		idx uint64
	}
	var out []*cairn.Event
	var pruned []marker
	c := &bodyCache{name: r.D.Name}
	for rows.Next() {
		var idx, seq int64
		var first, n *int64
		var stored, leafBytes []byte
		var typ, jobID string
		if err := rows.Scan(&idx, &first, &n, &stored, &leafBytes, &typ, &seq, &jobID); err != nil {
			rows.Close()
			return nil, err
		}
		leaf, err := leafHex(leafBytes)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("%s: %w", r.D.Name, err)
		}
		if first == nil {
			pruned = append(pruned, marker{len(out), uint64(idx)})
			out = append(out, &cairn.Event{Tenant: tenant, Seq: seq, Type: typ, RunID: cairn.Opt(f.RunID), JobID: cairn.Opt(jobID),
				Ledger: &cairn.LedgerRef{Index: uint64(idx), LeafHash: leaf}, Pruned: true})
			continue
		}
		b, err := c.entry(storedRow{first: uint64(*first), n: int(*n), body: stored}, uint64(idx))
		if err == nil {
			var ev *cairn.Event
			if ev, err = eventFromBody(f.RawOnly, string(b), leaf); err == nil {
				out = append(out, ev)
			}
		}
		if err != nil {
			rows.Close()
			return nil, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The compaction of each marker, read once per compaction range.
	var last *cairn.Compaction
	for _, m := range pruned {
		if last == nil || m.idx < last.From || m.idx >= last.To {
			if last, err = r.compactionOver(tenant, m.idx); err != nil {
				return nil, err
			}
			if last == nil {
				return nil, fmt.Errorf("%s: ledger entry %d of tenant %q has no body and no compaction", r.D.Name, m.idx, tenant)
			}
		}
		ev := out[m.at]
		by := last.Event
		ev.PrunedBy = &by
		if f.RawOnly {
			ev.Raw = prunedEventJSON(ev)
		}
	}
	return out, nil
}

// eventFromBody decodes a stored body as events does.
func eventFromBody(raw bool, body, leaf string) (*cairn.Event, error) {
	if raw {
		return cairn.APIEventFromLedger(body, leaf)
	}
	return cairn.EventFromLedger(body, leaf)
}

// prunedEventJSON is a pruned marker's API JSON: what the ledger row
// still says about the entry.
func prunedEventJSON(ev *cairn.Event) []byte {
	var b strings.Builder
	b.WriteString(`{"ledger":{"index":`)
	b.WriteString(strconv.FormatUint(ev.Ledger.Index, 10))
	b.WriteString(`,"leaf_hash":"`)
	b.WriteString(ev.Ledger.LeafHash)
	b.WriteString(`"},"seq":`)
	b.WriteString(strconv.FormatInt(ev.Seq, 10))
	b.WriteString(`,"type":`)
	b.WriteString(strconv.Quote(ev.Type))
	b.WriteString(`,"run_id":`)
	b.WriteString(strconv.Quote(string(ev.RunID)))
	b.WriteString(`,"job_id":`)
	if ev.JobID == "" {
		b.WriteString(`null`)
	} else {
		b.WriteString(strconv.Quote(string(ev.JobID)))
	}
	b.WriteString(`,"pruned":true,"pruned_by":`)
	b.WriteString(strconv.FormatUint(*ev.PrunedBy, 10))
	b.WriteString(`}`)
	return []byte(b.String())
}
