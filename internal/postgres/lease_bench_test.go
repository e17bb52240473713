package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cairnhq/cairn"
)

// BenchmarkLease measures one worker leasing and completing queued jobs
// one at a time through the service (no HTTP): each lease re-decides the
// job, appends its dispatch and returns a signed receipt with an inclusion
// proof read from the store.
//
//	CAIRN_TEST_POSTGRES=postgres://… go test -run '^$' -bench BenchmarkLease -benchtime 2000x ./postgres/
func BenchmarkLease(b *testing.B) {
	svc := signedService(b)
	ctx := context.Background()
	agent := cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{"agent"}}
	worker := cairn.Principal{Tenant: "default", ID: "worker", Kind: "service", Roles: []string{"worker"}}
	for i := 0; i < b.N; i++ {
		if _, _, err := svc.Submit(ctx, agent, cairn.SubmitRequest{JobID: fmt.Sprintf("j%d", i), Action: "db.read", Input: []byte(`{"q":1}`)}, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		jobs, err := svc.Lease(ctx, worker, cairn.LeaseRequest{WorkerID: "w", Actions: []string{"db.read"}, Max: 1})
		if err != nil || len(jobs) != 1 || jobs[0].Receipt == nil || jobs[0].Receipt.Checkpoint == "" {
			b.Fatalf("lease: %v %v", jobs, err)
		}
		if _, err := svc.Complete(ctx, worker, jobs[0].JobID, cairn.CompleteRequest{LeaseID: jobs[0].LeaseID, Status: "succeeded"}); err != nil {
			b.Fatal(err)
		}
	}
}
