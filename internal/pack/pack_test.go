package pack

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// A body in the shape of a policy_decided envelope (its hashes and ids
// made up), the largest body of the submit path.
var sampleBody = []byte(`{"event":{"actor":"agent-7","data":{"decision":{"constraints":null,"decision":"ALLOW","decision_id":"dec_251f6d96534e94ed5822b647","default_rule":false,"evaluated_at":"2026-12-06T02:11:25.389110023Z","explanation":"rule reads-are-fine matched: action db.read matches db.read","job_hash":"3a28a30ede6e4fa44b39f36a916f84cae499f1a1618f549a5d05a1362d0624b6","job_id":"job-31-0","phase":"submit","policy_reason":"Read-only actions","policy_rule_id":"reads-are-fine","policy_snapshot":"cfg:system:policy#sha256:6a065ad1ee74f8bb7368b22db52432a28883162d182a881e91483ab7e35ac9fe","rules_tried":[{"matched":false,"rule_id":"prod-write-needs-approval","why":"action db.read does not match [db.write]"},{"matched":true,"rule_id":"reads-are-fine","why":"action db.read matches db.read"}]},"phase":"submit"},"decision":"ALLOW","job_hash":"3a28a30ede6e4fa44b39f36a916f84cae499f1a1618f549a5d05a1362d0624b6","job_id":"job-31-0","policy_rule_id":"reads-are-fine","policy_snapshot":"cfg:system:policy#sha256:6a065ad1ee74f8bb7368b22db52432a28883162d182a881e91483ab7e35ac9fe","run_id":"run-31-0","timestamp":"2026-12-06T02:11:25.389110023Z","type":"policy_decided","workflow_step_id":null},"index":5,"prev_hash":"c237374cf619059632bdbe1a9a10a4ee95b9897b302b8757fb4628b5c670babf","run_seq":3,"tenant":"default"}`)

// TestPackRoundTrip: Unpack returns exactly the bytes Pack was given, for
// bodies large and small, and compresses the submit path's bodies.
func TestPackRoundTrip(t *testing.T) {
	for _, body := range [][]byte{sampleBody, []byte(`{}`), []byte(`{"a":"` + strings.Repeat("\u00e9\\u0000x", 30000) + `"}`)} {
		stored, err := Pack(body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(stored, zstdMagic) {
			t.Fatalf("stored form %x is not a zstd frame", stored[:8])
		}
		got, err := Unpack(stored)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round trip of %d bytes: %d bytes back, %v", len(body), len(got), err)
		}
	}
	stored, _ := Pack(sampleBody)
	if len(stored) > len(sampleBody)/3 {
		t.Errorf("a %d-byte decision envelope packs to %d bytes, want at most a third", len(sampleBody), len(stored))
	}
}

// TestUnpackPlainAndCorrupt: a plain body (written before compression)
// reads back as it is; a damaged frame is an error, never other bytes.
func TestUnpackPlainAndCorrupt(t *testing.T) {
	if got, err := Unpack(sampleBody); err != nil || !bytes.Equal(got, sampleBody) {
		t.Fatalf("plain body: %v", err)
	}
	stored, _ := Pack(sampleBody)
	for _, i := range []int{len(stored) / 2, len(stored) - 2} {
		bad := bytes.Clone(stored)
		bad[i] ^= 0x40
		if got, err := Unpack(bad); err == nil {
			t.Errorf("frame damaged at byte %d unpacked to %d bytes without an error", i, len(got))
		}
	}
	if _, err := Unpack(stored[:len(stored)-5]); err == nil {
		t.Error("a truncated frame unpacked without an error")
	}
}

func BenchmarkPack(b *testing.B) {
	b.SetBytes(int64(len(sampleBody)))
	for b.Loop() {
		if _, err := Pack(sampleBody); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpack(b *testing.B) {
	stored, _ := Pack(sampleBody)
	b.SetBytes(int64(len(sampleBody)))
	for b.Loop() {
		if _, err := Unpack(stored); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUnpackConcatenatedFrames: a body stored as two frames one after the
// other (ADR 0044's head packed with the dictionary and tail packed
// without) unpacks to the concatenation of their contents.
func TestUnpackConcatenatedFrames(t *testing.T) {
	i := bytes.Index(sampleBody, []byte(`,"index":`))
	head, err := Pack(sampleBody[:i])
	if err != nil {
		t.Fatal(err)
	}
	plain, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	stored := plain.EncodeAll(sampleBody[i:], bytes.Clone(head))
	if got, err := Unpack(stored); err != nil || !bytes.Equal(got, sampleBody) {
		t.Fatalf("two frames unpack to %q, %v", got, err)
	}
}
