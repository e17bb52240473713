package sqlstore

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/jobrow"
	"github.com/cairnhq/cairn/internal/pack"
)

// TestPackJobUsesOnlyAMatchingPrepack: a job packed ahead of the
// transaction is stored as packed while it marshals to the same bytes;
// once changed, its body (without what its columns hold) is packed anew
// and reads back, over its columns, as the change.
func TestPackJobUsesOnlyAMatchingPrepack(t *testing.T) {
	j := &cairn.Job{JobID: "j1", Tenant: "default", State: cairn.StateQueued, Action: "db.read"}
	from, _ := json.Marshal(j)
	j.Packed, j.PackedFrom = []byte("prepacked"), from
	if got, err := PackJob(j); err != nil || string(got) != "prepacked" {
		t.Fatalf("unchanged job: stored %q, %v", got, err)
	}
	j.State = cairn.StateRunning
	full, _ := json.Marshal(j)
	got, err := PackJob(j)
	if err != nil {
		t.Fatal(err)
	}
	body, err := pack.Unpack(got)
	if err != nil || bytes.Contains(body, []byte(`"state"`)) {
		t.Fatalf("changed job: stored form unpacks to %q, %v", body, err)
	}
	c := jobrow.Of(j)
	back, err := jobrow.Decode(&c, body)
	if again, _ := json.Marshal(back); err != nil || !bytes.Equal(again, full) {
		t.Fatalf("changed job reads back as %s, %v; want %s", again, err, full)
	}
}
