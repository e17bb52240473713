package metrics_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/internal/pgtest"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// TestStoreGauges checks cairn.GaugeReader on both stores (PostgreSQL
// when CAIRN_TEST_POSTGRES is set): open jobs by state, pending approvals,
// the oldest request and the next expiry, over two tenants.
func TestStoreGauges(t *testing.T) {
	stores := map[string]func(t *testing.T) cairn.Store{
		"sqlite": func(t *testing.T) cairn.Store {
			st, err := sqlite.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"postgres": func(t *testing.T) cairn.Store {
			st, err := postgres.Open(context.Background(), pgtest.Schema(t, "gauges_"))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			defer st.Close()
			ctx := context.Background()
			svc := service.New(st, nil, []byte("salt"))
			if _, err := svc.Bootstrap(ctx, "admin-key-0123456789"); err != nil {
				t.Fatal(err)
			}
			admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{cairn.RoleAdmin}}
			if _, err := svc.Publish(ctx, admin, cairn.PublishRequest{Bundle: apitest.ApprovalPolicy, Message: "t"}); err != nil {
				t.Fatal(err)
			}
			if err := svc.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer svc.Stop()
			before := time.Now()
			for _, tenant := range []string{"default", "other"} {
				if tenant != "default" {
					if err := st.Update(ctx, func(tx cairn.Tx) error { return tx.CreateTenant(tenant, time.Now()) }); err != nil {
						t.Fatal(err)
					}
				}
				agent := cairn.Principal{Tenant: tenant, ID: "agent-1", Kind: "agent", Roles: []string{cairn.RoleAgent}}
				for _, r := range []cairn.SubmitRequest{
					{JobID: "w", Action: "db.write", Input: json.RawMessage(`{}`)},
					{JobID: "r1", Action: "db.read", Input: json.RawMessage(`{}`)},
					{JobID: "r2", Action: "db.read", Input: json.RawMessage(`{}`)},
					{JobID: "d", Action: "db.drop", Input: json.RawMessage(`{}`)},
				} {
					if _, _, err := svc.Submit(ctx, agent, r, ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			gr, ok := st.(cairn.GaugeReader)
			if !ok {
				t.Fatal("the store is not a cairn.GaugeReader")
			}
			g, err := gr.Gauges(ctx, []string{"default", "other"})
			if err != nil {
				t.Fatal(err)
			}
			if g.OpenJobs[cairn.StatePendingApproval] != 2 || g.OpenJobs[cairn.StateQueued] != 4 || g.OpenJobs[cairn.StateRunning] != 0 {
				t.Errorf("open jobs %v", g.OpenJobs)
			}
			if g.PendingApprovals != 2 || g.OldestPending.Before(before.Add(-time.Second)) || g.OldestPending.After(time.Now()) {
				t.Errorf("pending %d, oldest %v", g.PendingApprovals, g.OldestPending)
			}
			if exp := g.OldestPending.Add(time.Hour); g.NextExpiry.Before(exp.Add(-time.Second)) || g.NextExpiry.After(exp.Add(time.Minute)) {
				t.Errorf("next expiry %v, want an hour after %v", g.NextExpiry, g.OldestPending)
			}
			if g.FsyncFailures != 0 {
				t.Errorf("fsync failures %d", g.FsyncFailures)
			}
			if g, _ := gr.Gauges(ctx, []string{"default"}); g.PendingApprovals != 1 || g.OpenJobs[cairn.StateQueued] != 2 {
				t.Errorf("one tenant: %+v", g)
			}
		})
	}
}
