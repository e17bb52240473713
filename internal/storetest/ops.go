package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

func testTenantsAndKeys(t *testing.T, s cairn.Store) {
	view(t, s, func(tx cairn.ReadTx) error {
		ok, err := tx.TenantExists("default")
		if err != nil || ok {
			t.Fatalf("TenantExists on an empty store = %v, %v", ok, err)
		}
		ts, err := tx.Tenants()
		if err != nil || len(ts) != 0 {
			t.Fatalf("Tenants = %v, %v", ts, err)
		}
		return nil
	})
	keys := []*cairn.Key{
		{KeyID: "key_1", Tenant: "default", Principal: "admin", Kind: cairn.KindHuman, Roles: []string{cairn.RoleAdmin}, Hash: "h1", CreatedAt: at(0), CreatedBy: "cairn"},
		{KeyID: "key_2", Tenant: "default", Principal: "agent", Kind: cairn.KindAgent, Roles: []string{cairn.RoleAgent}, Hash: "h2", CreatedAt: at(1), CreatedBy: "admin"},
		{KeyID: "key_3", Tenant: "default", Principal: "worker", Kind: cairn.KindService, Roles: []string{cairn.RoleWorker}, Hash: "h3", CreatedAt: at(2), CreatedBy: "admin"},
		{KeyID: "key_4", Tenant: "Acme-2", Principal: "admin", Kind: cairn.KindHuman, Roles: []string{cairn.RoleAdmin}, Hash: "h4", CreatedAt: at(3), CreatedBy: "cairn"},
	}
	update(t, s, func(tx cairn.Tx) error {
		for _, tenant := range []string{"default", "acme", "Acme-2", "default"} { // idempotent
			if err := tx.CreateTenant(tenant, at(0)); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := tx.InsertKey(k); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx cairn.ReadTx) error {
		ts, err := tx.Tenants()
		if err != nil {
			return err
		}
		eqList(t, "Tenants (byte order)", ts, []string{"Acme-2", "acme", "default"})
		for _, tenant := range []string{"default", "acme"} {
			if ok, err := tx.TenantExists(tenant); err != nil || !ok {
				t.Fatalf("TenantExists(%s) = %v, %v", tenant, ok, err)
			}
		}
		k, err := tx.KeyByHash("h2")
		if err != nil {
			return err
		}
		eq(t, "KeyByHash.KeyID", k.KeyID, "key_2")
		eq(t, "KeyByHash.Hash", k.Hash, "h2")
		eq(t, "KeyByHash.Tenant", k.Tenant, "default")
		eq(t, "KeyByHash.Roles", strings.Join(k.Roles, ","), cairn.RoleAgent)
		if !k.CreatedAt.Equal(at(1)) || k.RevokedAt != nil {
			t.Fatalf("KeyByHash = %+v", k)
		}
		_, err = tx.KeyByHash("nope")
		wantCode(t, err, cairn.ENotFound)
		page, err := tx.ListKeys("default", cairn.Page{Limit: 2})
		if err != nil {
			return err
		}
		if len(page) != 2 || page[0].KeyID != "key_1" || page[1].KeyID != "key_2" || page[0].Hash != "" || page[0].Seq == 0 || page[1].Seq <= page[0].Seq {
			t.Fatalf("ListKeys page 1 = %+v", page)
		}
		rest, err := tx.ListKeys("default", cairn.Page{Limit: 10, After: page[1].Seq})
		if err != nil {
			return err
		}
		if len(rest) != 1 || rest[0].KeyID != "key_3" {
			t.Fatalf("ListKeys page 2 = %+v", rest)
		}
		return nil
	})
	update(t, s, func(tx cairn.Tx) error { return tx.RevokeKey("default", "key_2", at(10)) })
	err := s.Update(ctx, func(tx cairn.Tx) error { return tx.RevokeKey("default", "key_2", at(11)) })
	wantCode(t, err, cairn.EConflict)
	err = s.Update(ctx, func(tx cairn.Tx) error { return tx.RevokeKey("default", "key_9", at(11)) })
	wantCode(t, err, cairn.ENotFound)
	err = s.Update(ctx, func(tx cairn.Tx) error { return tx.RevokeKey("acme", "key_3", at(11)) }) // other tenant's key
	wantCode(t, err, cairn.ENotFound)
	view(t, s, func(tx cairn.ReadTx) error {
		k, err := tx.KeyByHash("h2")
		if err != nil {
			return err
		}
		if k.RevokedAt == nil || !k.RevokedAt.Equal(at(10)) {
			t.Fatalf("revoked key = %+v", k)
		}
		return nil
	})
}

func testJobs(t *testing.T, s cairn.Store) {
	j1 := job("default", "j1", cairn.StateQueued, 0)
	j1.RunID = "r1"
	j1.Constraints = json.RawMessage(`{"max_rows":10}`)
	j2 := job("default", "j2", cairn.StatePendingApproval, 1)
	other := job("acme", "j1", cairn.StateQueued, 2)
	update(t, s, func(tx cairn.Tx) error {
		for _, j := range []*cairn.Job{j1, j2, other} {
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	if j1.Seq == 0 || j2.Seq <= j1.Seq || other.Seq <= j2.Seq {
		t.Fatalf("InsertJob seqs %d %d %d: want increasing", j1.Seq, j2.Seq, other.Seq)
	}
	view(t, s, func(tx cairn.ReadTx) error {
		got, err := tx.GetJob("default", "j1")
		if err != nil {
			return err
		}
		eq(t, "Seq", got.Seq, j1.Seq)
		eq(t, "RunID", got.RunID, cairn.Opt("r1"))
		eq(t, "State", got.State, cairn.StateQueued)
		eq(t, "Constraints", string(got.Constraints), `{"max_rows":10}`)
		if !got.CreatedAt.Equal(j1.CreatedAt) || got.Labels["env"] != "test" || got.LeaseExpiresAt != nil {
			t.Fatalf("GetJob = %+v", got)
		}
		g2, err := tx.GetJob("acme", "j1")
		if err != nil || g2.Seq != other.Seq || g2.Tenant != "acme" {
			t.Fatalf("GetJob(acme) = %+v, %v", g2, err)
		}
		_, err = tx.GetJob("default", "nope")
		wantCode(t, err, cairn.ENotFound)
		_, err = tx.GetJob("other", "j2")
		wantCode(t, err, cairn.ENotFound)
		return nil
	})
	// JobIDsFrom: byte order from a position, within the tenant.
	update(t, s, func(tx cairn.Tx) error {
		for _, id := range []string{"r.a.1", "r.B.2", "r-x", "r/", "q.a.1"} {
			if err := tx.InsertJob(job("default", id, cairn.StateQueued, 3)); err != nil {
				return err
			}
		}
		return tx.InsertJob(job("acme", "r.z.9", cairn.StateQueued, 3))
	})
	view(t, s, func(tx cairn.ReadTx) error {
		ids, err := tx.JobIDsFrom("default", "r.", 10)
		eq(t, "JobIDsFrom", strings.Join(ids, " "), "r.B.2 r.a.1 r/")
		if err != nil {
			return err
		}
		ids, err = tx.JobIDsFrom("default", "r.", 1)
		eq(t, "JobIDsFrom limit", strings.Join(ids, " "), "r.B.2")
		return err
	})
	exp := at(100)
	update(t, s, func(tx cairn.Tx) error {
		j, err := tx.GetJob("default", "j1")
		if err != nil {
			return err
		}
		j.State = cairn.StateRunning
		j.LeaseID, j.LeaseOwner, j.LeaseExpiresAt = "lease_1", "w1", &exp
		j.Attempts = 1
		return tx.UpdateJob(j)
	})
	err := s.Update(ctx, func(tx cairn.Tx) error { return tx.UpdateJob(job("default", "nope", cairn.StateQueued, 0)) })
	wantCode(t, err, cairn.ENotFound)
	view(t, s, func(tx cairn.ReadTx) error {
		got, err := tx.GetJob("default", "j1")
		if err != nil {
			return err
		}
		if got.State != cairn.StateRunning || got.LeaseID != "lease_1" || got.LeaseExpiresAt == nil || !got.LeaseExpiresAt.Equal(exp) || got.Attempts != 1 || got.Seq != j1.Seq {
			t.Fatalf("updated job = %+v", got)
		}
		n, err := tx.OpenRunJobs("default", "r1")
		eq(t, "OpenRunJobs", n, 1)
		return err
	})
	update(t, s, func(tx cairn.Tx) error {
		j, err := tx.GetJob("default", "j1")
		if err != nil {
			return err
		}
		j.State = cairn.StateSucceeded
		j.LeaseExpiresAt = nil
		j.CompletedAt = ptr(at(5))
		return tx.UpdateJob(j)
	})
	view(t, s, func(tx cairn.ReadTx) error {
		n, err := tx.OpenRunJobs("default", "r1")
		eq(t, "OpenRunJobs after completion", n, 0)
		js, err2 := tx.ExpiredLeases(at(1000), 10)
		if err2 != nil || len(js) != 0 {
			t.Fatalf("ExpiredLeases after completion = %v, %v", jobIDs(js), err2)
		}
		return err
	})
}

func testJobConflict(t *testing.T, s cairn.Store) {
	update(t, s, func(tx cairn.Tx) error { return tx.InsertJob(job("default", "j1", cairn.StateQueued, 0)) })
	var existing *cairn.Job
	var conflict error
	// Update functions run again when a store re-runs a batch; only the
	// last run counts, so the outcome is checked after Update returns.
	update(t, s, func(tx cairn.Tx) error {
		dup := job("default", "j1", cairn.StateDenied, 5)
		conflict = tx.InsertJob(dup)
		if conflict != nil && cairn.ErrorCode(conflict) != cairn.CodeJobConflict {
			return conflict
		}
		// The transaction is still usable after the conflict.
		var err error
		if existing, err = tx.GetJob("default", "j1"); err != nil {
			return err
		}
		if err := tx.InsertJob(job("default", "j2", cairn.StateQueued, 6)); err != nil {
			return err
		}
		return tx.AppendEvent(event("default", cairn.EventJobSubmitted, "", "j2", 6))
	})
	wantCode(t, conflict, cairn.CodeJobConflict)
	eq(t, "existing state", existing.State, cairn.StateQueued)
	view(t, s, func(tx cairn.ReadTx) error {
		if _, err := tx.GetJob("default", "j2"); err != nil {
			t.Fatalf("write after a conflict was not committed: %v", err)
		}
		n, err := tx.LedgerSize("default")
		eq(t, "LedgerSize", n, uint64(1))
		return err
	})
}

func testListJobs(t *testing.T, s cairn.Store) {
	// 12 jobs: states cycle, actions alternate, runs of 4, two submitters.
	states := []string{cairn.StateQueued, cairn.StateDenied, cairn.StatePendingApproval}
	update(t, s, func(tx cairn.Tx) error {
		for i := 0; i < 12; i++ {
			j := job("default", "j"+itoa(i), states[i%3], i*10)
			if i%2 == 1 {
				j.Action = "db.write"
				j.Decision = cairn.RequireApproval
				j.PolicyRuleID = "writes"
			}
			j.RunID = cairn.Opt("run" + itoa(i/4))
			if i >= 6 {
				j.SubmittedBy = "agent-2"
			}
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return tx.InsertJob(job("acme", "a1", cairn.StateQueued, 0))
	})
	view(t, s, func(tx cairn.ReadTx) error {
		list := func(f cairn.JobFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 100
			}
			js, err := tx.ListJobs("default", f)
			if err != nil {
				t.Fatal(err)
			}
			return jobIDs(js)
		}
		eqList(t, "all", list(cairn.JobFilter{}), []string{"j11", "j10", "j9", "j8", "j7", "j6", "j5", "j4", "j3", "j2", "j1", "j0"})
		eqList(t, "state", list(cairn.JobFilter{State: cairn.StateDenied}), []string{"j10", "j7", "j4", "j1"})
		eqList(t, "action", list(cairn.JobFilter{Action: "db.write", Page: cairn.Page{Limit: 3}}), []string{"j11", "j9", "j7"})
		eqList(t, "run", list(cairn.JobFilter{RunID: "run1"}), []string{"j7", "j6", "j5", "j4"})
		eqList(t, "decision", list(cairn.JobFilter{Decision: cairn.Allow, SubmittedBy: "agent-1"}), []string{"j4", "j2", "j0"})
		eqList(t, "rule", list(cairn.JobFilter{PolicyRuleID: "writes", State: cairn.StateQueued}), []string{"j9", "j3"})
		eqList(t, "since/until", list(cairn.JobFilter{Since: at(30), Until: at(60)}), []string{"j5", "j4", "j3"})
		all, err := tx.ListJobs("default", cairn.JobFilter{Page: cairn.Page{Limit: 5}})
		if err != nil {
			return err
		}
		eqList(t, "page 1", jobIDs(all), []string{"j11", "j10", "j9", "j8", "j7"})
		eqList(t, "page 2", list(cairn.JobFilter{Page: cairn.Page{Limit: 5, After: all[4].Seq}}), []string{"j6", "j5", "j4", "j3", "j2"})
		eqList(t, "run jobs", func() []string {
			js, err := tx.ListRunJobs("default", "run2", 10000)
			if err != nil {
				t.Fatal(err)
			}
			return jobIDs(js)
		}(), []string{"j8", "j9", "j10", "j11"})
		n, err := tx.OpenRunJobs("default", "run0")
		eq(t, "OpenRunJobs(run0)", n, 3) // j0 queued, j1 denied, j2 pending, j3 queued
		return err
	})
}

// testLeasableJobs: LeasableJobs returns a tenant's QUEUED jobs oldest
// first, of any action or of the actions named, and QueuedActions their
// distinct actions in byte order; jobs that leave QUEUED leave both.
func testLeasableJobs(t *testing.T, s cairn.Store) {
	actions := []string{"db.read", "db.write", "mail.send", "db.", "zz"}
	update(t, s, func(tx cairn.Tx) error {
		for i := 0; i < 30; i++ {
			state := cairn.StateQueued
			if i%3 == 2 {
				state = cairn.StateRunning
			}
			j := job("default", "q"+itoa(i), state, i)
			j.Action = actions[i%len(actions)]
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		// Jobs bound to an executor are leased only by name: in neither list.
		for i, a := range []string{"db.read", "bound.only"} {
			j := job("default", "bound"+itoa(i), cairn.StateQueued, 100+i)
			j.Action, j.Executor = a, "gateway"
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return tx.InsertJob(job("acme", "x", cairn.StateQueued, 0))
	})
	queued := func(keep func(i int) bool) []string {
		var out []string
		for i := 0; i < 30; i++ {
			if i%3 != 2 && keep(i) {
				out = append(out, "q"+itoa(i))
			}
		}
		return out
	}
	of := func(as ...string) func(int) bool {
		return func(i int) bool { return slices.Contains(as, actions[i%len(actions)]) }
	}
	all := func(int) bool { return true }
	view(t, s, func(tx cairn.ReadTx) error {
		for _, c := range []struct {
			actions []string
			limit   int
			want    []string
		}{
			{nil, 100, queued(all)},
			{nil, 4, queued(all)[:4]},
			{[]string{"db.read"}, 100, queued(of("db.read"))},
			{[]string{"db.read", "mail.send"}, 100, queued(of("db.read", "mail.send"))},
			{[]string{"mail.send", "db.read"}, 3, queued(of("db.read", "mail.send"))[:3]},
			{[]string{"nothing", "db."}, 100, queued(of("db."))},
			{[]string{"nothing"}, 100, nil},
			{[]string{}, 100, nil},
		} {
			js, err := tx.LeasableJobs("default", c.actions, c.limit)
			if err != nil {
				return err
			}
			eqList(t, fmt.Sprintf("LeasableJobs(%q, %d)", c.actions, c.limit), jobIDs(js), c.want)
			for i := 1; i < len(js); i++ {
				if js[i].Seq <= js[i-1].Seq {
					t.Errorf("LeasableJobs(%q): seq %d after %d", c.actions, js[i].Seq, js[i-1].Seq)
				}
			}
		}
		if j, err := tx.GetJob("default", "bound0"); err != nil || j.Executor != "gateway" {
			t.Errorf("bound job read back: %+v, %v", j, err)
		}
		js, err := tx.LeasableJobs("acme", nil, 10)
		if err != nil {
			return err
		}
		eqList(t, "LeasableJobs(acme)", jobIDs(js), []string{"x"})
		for _, c := range []struct {
			from  string
			limit int
			want  []string
		}{
			{"", 100, []string{"db.", "db.read", "db.write", "mail.send", "zz"}},
			{"", 2, []string{"db.", "db.read"}},
			{"db.read", 2, []string{"db.read", "db.write"}},
			{"db.s", 100, []string{"db.write", "mail.send", "zz"}},
			{"zzz", 100, nil},
		} {
			as, err := tx.QueuedActions("default", c.from, c.limit)
			if err != nil {
				return err
			}
			eqList(t, fmt.Sprintf("QueuedActions(%q, %d)", c.from, c.limit), as, c.want)
		}
		return nil
	})
	// A job leased (RUNNING) leaves both; one queued again comes back.
	gone := queued(of("mail.send", "db."))
	update(t, s, func(tx cairn.Tx) error {
		for _, id := range gone {
			j, err := tx.GetJob("default", id)
			if err != nil {
				return err
			}
			j.State = cairn.StateRunning
			if err := tx.UpdateJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx cairn.ReadTx) error {
		as, err := tx.QueuedActions("default", "", 100)
		if err != nil {
			return err
		}
		eqList(t, "QueuedActions after leasing", as, []string{"db.read", "db.write", "zz"})
		js, err := tx.LeasableJobs("default", []string{"mail.send", "db."}, 100)
		if err != nil {
			return err
		}
		eqList(t, "LeasableJobs after leasing", jobIDs(js), nil)
		return nil
	})
	update(t, s, func(tx cairn.Tx) error {
		j, err := tx.GetJob("default", gone[1])
		if err != nil {
			return err
		}
		j.State = cairn.StateQueued
		return tx.UpdateJob(j)
	})
	view(t, s, func(tx cairn.ReadTx) error {
		js, err := tx.LeasableJobs("default", []string{"mail.send", "db."}, 100)
		if err != nil {
			return err
		}
		eqList(t, "LeasableJobs after queuing again", jobIDs(js), gone[1:2])
		return nil
	})
}

func testPayloads(t *testing.T, s cairn.Store) {
	data := []byte(`{"q":"SELECT 1","bin":"\u0000"}`)
	update(t, s, func(tx cairn.Tx) error {
		return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j1", SHA256: "s1", Data: data})
	})
	err := s.Update(ctx, func(tx cairn.Tx) error {
		return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j1", SHA256: "s2", Data: []byte("{}")})
	})
	wantCode(t, err, cairn.EConflict)
	// The same pointer in another tenant is another payload.
	update(t, s, func(tx cairn.Tx) error {
		return tx.PutPayload(&cairn.Payload{Tenant: "acme", Ptr: "ctx:j1", SHA256: "s3", Data: []byte("null")})
	})
	view(t, s, func(tx cairn.ReadTx) error {
		p, err := tx.GetPayload("default", "ctx:j1")
		if err != nil {
			return err
		}
		if p.SHA256 != "s1" || string(p.Data) != string(data) || p.Tenant != "default" || p.Ptr != "ctx:j1" {
			t.Fatalf("GetPayload = %+v", p)
		}
		_, err = tx.GetPayload("default", "ctx:nope")
		wantCode(t, err, cairn.ENotFound)
		return nil
	})
}

func testApprovals(t *testing.T, s cairn.Store) {
	exp := at(100)
	a1 := approval("default", "j1", 1, &exp)
	a1.RunID = "r1"
	a2 := approval("default", "j2", 2, nil)
	a3 := approval("default", "j3", 3, ptr(at(50)))
	a3.PolicyRuleID = "other"
	b1 := approval("acme", "j1", 4, ptr(at(20)))
	update(t, s, func(tx cairn.Tx) error {
		for _, a := range []*cairn.Approval{a1, a2, a3, b1} {
			if err := tx.InsertApproval(a); err != nil {
				return err
			}
		}
		return nil
	})
	if a1.Seq == 0 || a2.Seq <= a1.Seq {
		t.Fatalf("InsertApproval seqs %d %d", a1.Seq, a2.Seq)
	}
	err := s.Update(ctx, func(tx cairn.Tx) error { return tx.InsertApproval(approval("default", "j1", 9, nil)) })
	wantCode(t, err, cairn.EConflict)
	view(t, s, func(tx cairn.ReadTx) error {
		a, err := tx.GetApproval("default", "j1")
		if err != nil {
			return err
		}
		if a.Tenant != "default" || a.Seq != a1.Seq || a.Status != cairn.ApprovalPending || a.ExpiresAt == nil || !a.ExpiresAt.Equal(exp) || a.RunID != "r1" {
			t.Fatalf("GetApproval = %+v", a)
		}
		_, err = tx.GetApproval("default", "nope")
		wantCode(t, err, cairn.CodeNoApprovalPending)
		if !cairn.IsNotFound(err) {
			t.Fatalf("missing approval is not a 404: %v", err)
		}
		return nil
	})
	// Resolve j2; a second resolution fails.
	resolve := func(jobID, by string) error {
		return s.Update(ctx, func(tx cairn.Tx) error {
			a, err := tx.GetApproval("default", jobID)
			if err != nil {
				return err
			}
			a.Status = cairn.ApprovalResolved
			a.Resolution = cairn.ResolutionApproved
			a.ResolvedBy = cairn.Opt(by)
			a.ResolvedAt = ptr(at(60))
			return tx.ResolveApproval(a)
		})
	}
	if err := resolve("j2", "boss"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, resolve("j2", "other"), cairn.CodeApprovalAlreadyResolved)
	view(t, s, func(tx cairn.ReadTx) error {
		a, err := tx.GetApproval("default", "j2")
		if err != nil {
			return err
		}
		if a.Status != cairn.ApprovalResolved || a.ResolvedBy != "boss" || a.Resolution != cairn.ResolutionApproved {
			t.Fatalf("resolved approval = %+v", a)
		}
		ids := func(as []*cairn.Approval, err error) []string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			out := make([]string, len(as))
			for i, a := range as {
				out[i] = a.JobID
				if a.Raw == nil && a.Tenant != "default" {
					t.Fatalf("ListApprovals entry without tenant: %+v", a)
				}
			}
			return out
		}
		eqList(t, "pending", ids(tx.ListApprovals("default", cairn.ApprovalFilter{Page: cairn.Page{Limit: 10}})), []string{"j3", "j1"})
		eqList(t, "all", ids(tx.ListApprovals("default", cairn.ApprovalFilter{IncludeResolved: true, Page: cairn.Page{Limit: 10}})), []string{"j3", "j2", "j1"})
		eqList(t, "resolved_by", ids(tx.ListApprovals("default", cairn.ApprovalFilter{IncludeResolved: true, ResolvedBy: "boss", Page: cairn.Page{Limit: 10}})), []string{"j2"})
		eqList(t, "run", ids(tx.ListApprovals("default", cairn.ApprovalFilter{RunID: "r1", Page: cairn.Page{Limit: 10}})), []string{"j1"})
		eqList(t, "rule", ids(tx.ListApprovals("default", cairn.ApprovalFilter{PolicyRuleID: "other", Page: cairn.Page{Limit: 10}})), []string{"j3"})
		eqList(t, "since/until", ids(tx.ListApprovals("default", cairn.ApprovalFilter{IncludeResolved: true, Since: at(2), Until: at(3), Page: cairn.Page{Limit: 10}})), []string{"j2"})
		eqList(t, "paged", ids(tx.ListApprovals("default", cairn.ApprovalFilter{IncludeResolved: true, Page: cairn.Page{Limit: 10, After: a3.Seq}})), []string{"j2", "j1"})
		raw, err := tx.ListApprovals("default", cairn.ApprovalFilter{RawOnly: true, Page: cairn.Page{Limit: 1}})
		if err != nil || len(raw) != 1 || raw[0].Seq != a3.Seq {
			t.Fatalf("RawOnly = %+v, %v", raw, err)
		}
		var decoded cairn.Approval
		if err := json.Unmarshal(raw[0].Raw, &decoded); err != nil || decoded.JobID != "j3" || decoded.PolicyRuleID != "other" {
			t.Fatalf("RawOnly JSON %s: %v", raw[0].Raw, err)
		}
		due, err := tx.DueApprovals(at(60), 10)
		if err != nil {
			return err
		}
		if len(due) != 2 || due[0].JobID != "j1" || due[0].Tenant != "acme" || due[1].JobID != "j3" || due[1].Tenant != "default" {
			t.Fatalf("DueApprovals = %+v", due)
		}
		due, err = tx.DueApprovals(at(60), 1)
		if err != nil || len(due) != 1 {
			t.Fatalf("DueApprovals limit = %d, %v", len(due), err)
		}
		return nil
	})
}

func testRuns(t *testing.T, s cairn.Store) {
	r := &cairn.Run{RunID: "r1", Tenant: "default", Status: cairn.RunRunning, StartedBy: "agent-1", CreatedAt: at(0), UpdatedAt: at(0),
		Jobs: []*cairn.Job{job("default", "j", cairn.StateQueued, 0)}}
	update(t, s, func(tx cairn.Tx) error { return tx.InsertRun(r) })
	view(t, s, func(tx cairn.ReadTx) error {
		got, err := tx.GetRun("default", "r1")
		if err != nil {
			return err
		}
		if got.Status != cairn.RunRunning || got.StartedBy != "agent-1" || len(got.Jobs) != 0 || got.CompletedAt != nil {
			t.Fatalf("GetRun = %+v", got)
		}
		_, err = tx.GetRun("default", "nope")
		wantCode(t, err, cairn.ENotFound)
		_, err = tx.GetRun("acme", "r1")
		wantCode(t, err, cairn.ENotFound)
		return nil
	})
	update(t, s, func(tx cairn.Tx) error {
		got, err := tx.GetRun("default", "r1")
		if err != nil {
			return err
		}
		got.Status = cairn.RunCompleted
		got.CompletedAt = ptr(at(9))
		got.UpdatedAt = at(9)
		return tx.UpdateRun(got)
	})
	view(t, s, func(tx cairn.ReadTx) error {
		got, err := tx.GetRun("default", "r1")
		if err != nil {
			return err
		}
		if got.Status != cairn.RunCompleted || got.CompletedAt == nil || !got.CompletedAt.Equal(at(9)) {
			t.Fatalf("updated run = %+v", got)
		}
		return nil
	})
}

func testPolicy(t *testing.T, s cairn.Store) {
	view(t, s, func(tx cairn.ReadTx) error {
		a, err := tx.ActiveSnapshot()
		if err != nil || a != nil {
			t.Fatalf("ActiveSnapshot on an empty store = %+v, %v", a, err)
		}
		return nil
	})
	snaps := []*cairn.Snapshot{
		{ID: cairn.SnapshotPrefix + "aa", SHA256: "aa", Text: "default: deny\n", CreatedAt: at(0), CreatedBy: "admin"},
		{ID: cairn.SnapshotPrefix + "bb", SHA256: "bb", Text: "default: allow\n", CreatedAt: at(1), CreatedBy: "admin"},
		{ID: cairn.SnapshotPrefix + "cc", SHA256: "cc", Text: "default: deny\nrules: []\n", CreatedAt: at(2), CreatedBy: "other"},
	}
	for i, sn := range snaps {
		update(t, s, func(tx cairn.Tx) error {
			if err := tx.InsertSnapshot(sn); err != nil {
				return err
			}
			if err := tx.SetActiveSnapshot(sn.ID, at(10+i)); err != nil {
				return err
			}
			return tx.InsertPolicyAudit(&cairn.PolicyAudit{AuditID: "pa_" + itoa(i), Action: "publish", SnapshotAfter: sn.ID, Actor: sn.CreatedBy, Tenant: "default", Timestamp: at(10 + i)})
		})
	}
	// Inserting an existing snapshot again is a no-op that keeps the original.
	update(t, s, func(tx cairn.Tx) error {
		dup := *snaps[0]
		dup.Text = "changed"
		if err := tx.InsertSnapshot(&dup); err != nil {
			return err
		}
		if err := tx.SetActiveSnapshot(snaps[0].ID, at(20)); err != nil {
			return err
		}
		return tx.InsertPolicyAudit(&cairn.PolicyAudit{AuditID: "pa_rb", Action: "rollback", SnapshotBefore: cairn.Opt(snaps[2].ID), SnapshotAfter: snaps[0].ID, Actor: "admin", Tenant: "default", Timestamp: at(20)})
	})
	view(t, s, func(tx cairn.ReadTx) error {
		a, err := tx.ActiveSnapshot()
		if err != nil {
			return err
		}
		if a == nil || a.ID != snaps[0].ID || a.Text != snaps[0].Text || !a.CreatedAt.Equal(at(20)) {
			t.Fatalf("ActiveSnapshot = %+v (created_at is the activation time)", a)
		}
		g, err := tx.GetSnapshot(snaps[1].ID)
		if err != nil {
			return err
		}
		if g.Text != snaps[1].Text || g.SHA256 != "bb" || !g.CreatedAt.Equal(at(1)) || g.CreatedBy != "admin" {
			t.Fatalf("GetSnapshot = %+v", g)
		}
		_, err = tx.GetSnapshot("nope")
		wantCode(t, err, cairn.ENotFound)
		list, err := tx.ListSnapshots(cairn.Page{Limit: 2})
		if err != nil {
			return err
		}
		if len(list) != 2 || list[0].ID != snaps[2].ID || list[1].ID != snaps[1].ID || list[0].Seq <= list[1].Seq {
			t.Fatalf("ListSnapshots = %+v", list)
		}
		rest, err := tx.ListSnapshots(cairn.Page{Limit: 2, After: list[1].Seq})
		if err != nil || len(rest) != 1 || rest[0].ID != snaps[0].ID || rest[0].Text != snaps[0].Text {
			t.Fatalf("ListSnapshots page 2 = %+v, %v", rest, err)
		}
		audit := func(f cairn.AuditFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 10
			}
			as, err := tx.ListPolicyAudit(f)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]string, len(as))
			for i, a := range as {
				out[i] = a.AuditID
				if a.Seq == 0 {
					t.Fatalf("audit entry without seq")
				}
			}
			return out
		}
		eqList(t, "audit", audit(cairn.AuditFilter{}), []string{"pa_rb", "pa_2", "pa_1", "pa_0"})
		eqList(t, "audit action", audit(cairn.AuditFilter{Action: "rollback"}), []string{"pa_rb"})
		eqList(t, "audit actor", audit(cairn.AuditFilter{Actor: "other"}), []string{"pa_2"})
		eqList(t, "audit since/until", audit(cairn.AuditFilter{Since: at(11), Until: at(20)}), []string{"pa_2", "pa_1"})
		as, _ := tx.ListPolicyAudit(cairn.AuditFilter{Page: cairn.Page{Limit: 2}})
		eqList(t, "audit after", audit(cairn.AuditFilter{Page: cairn.Page{After: as[1].Seq}}), []string{"pa_1", "pa_0"})
		if as[0].SnapshotBefore != cairn.Opt(snaps[2].ID) || !as[0].Timestamp.Equal(at(20)) {
			t.Fatalf("audit entry = %+v", as[0])
		}
		return nil
	})
}

func itoa(i int) string { return strconv.Itoa(i) }
