package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// OldLedger is what a store held before the compact layout (ADR 0044),
// row by row as that layout stored it: the migration tests write it into
// a store at the schema before, migrate, and compare what the store reads
// back with what a store of today's layout read back from the same writes.
type OldLedger struct {
	Tenants []string
	Entries []OldEntry
	Nodes   []OldNode
	Jobs    []*cairn.Job
}

// OldEntry is a ledger row of the old layout: body as text, hashes as hex.
type OldEntry struct {
	Tenant, Type, RunID, JobID string // "" for NULL
	Index, RunSeq              int64  // RunSeq 0 for NULL
	Body, LeafHash, PrevHash   string
}

// OldNode is a stored Merkle node (its table did not change).
type OldNode struct {
	Tenant       string
	Level, Index int64
	Hash         []byte
}

// OldJobArgs returns the values of sqlstore.JobColumns for j as the old
// layout stored them: the body as JSON text.
func OldJobArgs(j *cairn.Job) []any {
	body, _ := json.Marshal(j)
	opt := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var lease any
	if j.LeaseExpiresAt != nil {
		lease = j.LeaseExpiresAt.UnixNano()
	}
	return []any{j.Tenant, j.JobID, opt(string(j.RunID)), j.State, j.Action, j.Decision, opt(string(j.PolicyRuleID)), j.SubmittedBy,
		j.CreatedAt.UnixNano(), lease, opt(j.Executor), string(body)}
}

// Opt is OldEntry's "" for NULL, as a value for a statement.
func (e OldEntry) Opt(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// WriteOldLedger writes, through s (a fresh store of today's layout), the
// ledger entries and jobs of two tenants: runs of submitted and decided
// jobs, jobs outside runs, and an event whose data holds a "prev_hash"
// member of its own. It returns them as rows of the old layout.
func WriteOldLedger(t *testing.T, s cairn.Store) *OldLedger {
	t.Helper()
	old := &OldLedger{Tenants: []string{"acme", "default"}}
	var evs []*cairn.Event
	update(t, s, func(tx cairn.Tx) error {
		var err error
		evs, err = old.write(tx)
		return err
	})
	view(t, s, func(tx cairn.ReadTx) error { return old.readRows(tx, evs) })
	if len(old.Entries) != 2*2*24 {
		t.Fatalf("wrote %d ledger entries, want %d", len(old.Entries), 2*2*24)
	}
	return old
}

// write inserts each tenant's jobs and appends their events.
func (old *OldLedger) write(tx cairn.Tx) ([]*cairn.Event, error) {
	var evs []*cairn.Event
	for _, tenant := range old.Tenants {
		if err := tx.CreateTenant(tenant, at(0)); err != nil {
			return nil, err
		}
		for i := 0; i < 24; i++ {
			run := fmt.Sprintf("run-%d", i/6)
			if i%5 == 4 {
				run = ""
			}
			j := job(tenant, fmt.Sprintf("job-%d", i), cairn.StateQueued, i)
			j.RunID = cairn.Opt(run)
			if err := tx.InsertJob(j); err != nil {
				return nil, err
			}
			old.Jobs = append(old.Jobs, j)
			for _, e := range oldJobEvents(j, i) {
				if err := tx.AppendEvent(e); err != nil {
					return nil, err
				}
				evs = append(evs, e)
			}
		}
	}
	return evs, nil
}

// oldJobEvents are a job's job_submitted and policy_decided events; the
// i == 7th job's carry a "prev_hash" member in their data.
func oldJobEvents(j *cairn.Job, i int) []*cairn.Event {
	sub := event(j.Tenant, cairn.EventJobSubmitted, string(j.RunID), j.JobID, i)
	dec := event(j.Tenant, cairn.EventPolicyDecided, string(j.RunID), j.JobID, i)
	dec.Decision = cairn.Allow
	dec.Data = map[string]any{"phase": cairn.PhaseSubmit, "decision": &cairn.Decision{DecisionID: "dec_" + j.JobID, JobID: j.JobID, Phase: cairn.PhaseSubmit,
		Decision: cairn.Allow, PolicyRuleID: "reads", PolicySnapshot: "snap", JobHash: j.JobHash, EvaluatedAt: at(i)}}
	if i == 7 {
		sub.Data = map[string]any{"a": 1, "prev_hash": strings.Repeat("f", 64)}
		dec.Data = sub.Data
	}
	return []*cairn.Event{sub, dec}
}

// readRows reads back the entries the events became, and the Merkle nodes
// a store keeps of them, as rows of the old layout.
func (old *OldLedger) readRows(tx cairn.ReadTx, evs []*cairn.Event) error {
	byIndex := map[string]*cairn.Event{}
	for _, ev := range evs {
		byIndex[fmt.Sprintf("%s/%d", ev.Tenant, ev.Ledger.Index)] = ev
	}
	for _, tenant := range old.Tenants {
		es, err := tx.LedgerEntries(tenant, 0, 1000)
		if err != nil {
			return err
		}
		a := tree.NewAppender()
		for _, e := range es {
			nodes, err := a.Append(ledger.LeafHash(e.Body))
			if err != nil {
				return err
			}
			for _, n := range nodes {
				if n.Level >= tree.StoredLevel {
					old.Nodes = append(old.Nodes, OldNode{Tenant: tenant, Level: int64(n.Level), Index: int64(n.Index), Hash: n.Hash[:]})
				}
			}
			if ev := byIndex[fmt.Sprintf("%s/%d", tenant, e.Index)]; ev != nil {
				old.Entries = append(old.Entries, OldEntry{Tenant: tenant, Index: int64(e.Index), Type: ev.Type, RunID: string(ev.RunID), JobID: string(ev.JobID),
					RunSeq: ev.Seq, Body: string(e.Body), LeafHash: e.LeafHash, PrevHash: e.PrevHash})
			}
		}
	}
	return nil
}

// CheckMigrated checks a store migrated from old: every read returns want
// (what a store of today's layout read back from the same writes), each
// tenant's ledger verifies, and the store goes on: one more entry chains
// to the last migrated one, and job-3 takes an update.
func CheckMigrated(t *testing.T, s cairn.Store, old *OldLedger, want map[string]string) {
	t.Helper()
	SameReads(t, ReadBack(t, s, old), want)
	for _, tenant := range old.Tenants {
		CheckLedger(t, s, tenant, 48)
	}
	update(t, s, func(tx cairn.Tx) error {
		if err := tx.AppendEvent(event("default", cairn.EventJobSubmitted, "", "job-new", 30)); err != nil {
			return err
		}
		j, err := tx.GetJob("default", "job-3")
		if err != nil {
			return err
		}
		j.State = cairn.StateCancelled
		return tx.UpdateJob(j)
	})
	CheckLedger(t, s, "default", 49)
	view(t, s, func(tx cairn.ReadTx) error {
		j, err := tx.GetJob("default", "job-3")
		if err == nil && j.State != cairn.StateCancelled {
			t.Errorf("job-3 after its update: %+v", j)
		}
		return err
	})
}

// ReadBack returns what s reads back of old, through every read of
// entries, events, decisions and jobs, as JSON by read.
func ReadBack(t *testing.T, s cairn.Store, old *OldLedger) map[string]string {
	t.Helper()
	out := map[string]string{}
	put := func(key string, v any, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		b, err := json.Marshal(v)
		out[key] = string(b)
		return err
	}
	view(t, s, func(tx cairn.ReadTx) error {
		for _, tenant := range old.Tenants {
			es, err := tx.LedgerEntries(tenant, 0, 1000)
			if err := put(tenant+" entries", es, err); err != nil {
				return err
			}
			for r := 0; r < 4; r++ {
				run := fmt.Sprintf("run-%d", r)
				evs, err := tx.ListEvents(tenant, cairn.EventFilter{RunID: run, Page: cairn.Page{Limit: 100}})
				if err := put(tenant+" timeline "+run, evs, err); err != nil {
					return err
				}
			}
		}
		for _, j := range old.Jobs {
			key := j.Tenant + " " + j.JobID
			got, err := tx.GetJob(j.Tenant, j.JobID)
			if err := put(key+" job", got, err); err != nil {
				return err
			}
			evs, err := tx.ListEvents(j.Tenant, cairn.EventFilter{JobID: j.JobID, Page: cairn.Page{Limit: 100}})
			if err := put(key+" events", evs, err); err != nil {
				return err
			}
			raw, err := tx.ListEvents(j.Tenant, cairn.EventFilter{JobID: j.JobID, RawOnly: true, Page: cairn.Page{Limit: 100}})
			if err := put(key+" raw events", raw, err); err != nil {
				return err
			}
			ds, err := tx.ListDecisions(j.Tenant, j.JobID)
			if err := put(key+" decisions", ds, err); err != nil {
				return err
			}
		}
		return nil
	})
	return out
}

// SameReads fails t where got and want differ.
func SameReads(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(want) < 100 {
		t.Fatalf("only %d reads to compare", len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s after migrating:\n%s\nwant\n%s", k, got[k], w)
		}
	}
	if !reflect.DeepEqual(keysOf(got), keysOf(want)) {
		t.Errorf("reads differ in number: %d, want %d", len(got), len(want))
	}
}

func keysOf(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
