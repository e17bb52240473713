package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestPostgresSubmitAndLease: on PostgreSQL, a submit that takes its lease
// in the same transaction (insert then update of one job, five ledger
// entries in one batch) leaves the job RUNNING under that lease with a
// verifiable receipt, completes, and the ledger verifies; concurrent ones
// too (five entries a job: submitted, two decisions, dispatched, completed).
func TestPostgresSubmitAndLease(t *testing.T) {
	svc := signedService(t)
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{"admin", "auditor"}}
	agent := cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{"agent"}}
	gw := cairn.Principal{Tenant: "default", ID: "gw", Kind: "service", Roles: []string{"worker"}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("sl-%d", i)
			j, l, _, err := svc.SubmitAndLease(ctx, agent, &gw, cairn.SubmitRequest{JobID: id, Action: "db.read", Executor: "gw",
				Input: []byte(`{"q":1}`), Lease: &cairn.SubmitLease{}}, "")
			if err != nil {
				errs <- err
				return
			}
			if j.State != cairn.StateRunning || l == nil || l.Receipt == nil || l.Receipt.Checkpoint == "" || l.LeaseID != string(j.LeaseID) {
				errs <- fmt.Errorf("%s: job %+v lease %+v", id, j, l)
				return
			}
			if _, err := svc.Complete(ctx, gw, id, cairn.CompleteRequest{LeaseID: l.LeaseID, Status: "succeeded"}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := svc.VerifyLedger(ctx, admin, nil)
	if err != nil || !rep.OK || rep.Jobs != 16 || rep.TreeSize != 2+16*5 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
