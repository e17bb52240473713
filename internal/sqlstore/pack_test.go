package sqlstore

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/pack"
)

// TestPackJobUsesOnlyAMatchingPrepack: a job packed ahead of the
// transaction is stored as packed while it marshals to the same bytes;
// once changed, its body is packed anew and reads back as the change.
func TestPackJobUsesOnlyAMatchingPrepack(t *testing.T) {
	j := &cairn.Job{JobID: "j1", Tenant: "default", State: cairn.StateQueued, Action: "db.read"}
	from, _ := json.Marshal(j)
	j.Packed, j.PackedFrom = []byte("prepacked"), from
	body, _ := json.Marshal(j)
	if got, err := PackJob(j, body); err != nil || string(got) != "prepacked" {
		t.Fatalf("unchanged job: stored %q, %v", got, err)
	}
	j.State = cairn.StateRunning
	body, _ = json.Marshal(j)
	got, err := PackJob(j, body)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := pack.Unpack(got); err != nil || !bytes.Equal(back, body) {
		t.Fatalf("changed job: stored form unpacks to %q, %v; want %q", back, err, body)
	}
}
