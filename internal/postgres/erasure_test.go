package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestErasureOnPostgres: through the service on PostgreSQL, a subject's
// payloads are sealed, erased (key destroyed, rows deleted, the tables
// vacuumed), read as 410 erased with the erasure's ledger index, and the
// ledger verifies with the erased payloads listed as erased.
func TestErasureOnPostgres(t *testing.T) {
	svc := signedService(t)
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	agent := cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{"agent"}}
	admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{"admin"}}
	const marker = "MARKER-pg-5d1e0c"
	for _, id := range []string{"j-1", "j-2"} {
		if _, _, err := svc.Submit(ctx, agent, cairn.SubmitRequest{JobID: id, Action: "db.read", Labels: map[string]string{cairn.DefaultSubjectLabel: "s-" + id},
			Input: json.RawMessage(`{"m":"` + marker + `"}`)}, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Cancel(ctx, agent, id, cairn.CancelRequest{Reason: "done"}); err != nil {
			t.Fatal(err)
		}
	}
	er, err := svc.Erase(ctx, admin, cairn.ErasureRequest{Subject: "s-j-1", Reason: "request"})
	if err != nil || !er.KeyDestroyed || len(er.Payloads) != 1 {
		t.Fatalf("erase: %+v, %v", er, err)
	}
	_, err = svc.Payload(ctx, admin, "j-1", false, false)
	var ce *cairn.Error
	if cairn.ErrorCode(err) != cairn.CodeErased || !errors.As(err, &ce) || ce.LedgerIndex == nil || *ce.LedgerIndex != er.Entry {
		t.Fatalf("read after erasure: %v", err)
	}
	if p, err := svc.Payload(ctx, admin, "j-2", false, false); err != nil || !bytes.Contains(p.Data, []byte(marker)) {
		t.Fatalf("the other subject's payload: %v", err)
	}
	rep, err := svc.VerifyLedger(ctx, admin, nil)
	if err != nil || !rep.OK || rep.PayloadsErased != 1 || rep.JobHashesErased != 1 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if _, err := svc.Erase(ctx, admin, cairn.ErasureRequest{JobIDs: []string{"j-1"}, Reason: "again"}); cairn.ErrorCode(err) != cairn.CodeErased {
		t.Fatalf("erasing again: %v", err)
	}
}
