package pack

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// batchOf returns n envelopes in the shape of the submit path's, each a
// little different, and some empty or large.
func batchOf(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := bytes.Replace(sampleBody, []byte("job-31-0"), []byte(fmt.Sprintf("job-31-%d", i)), -1)
		switch i % 7 {
		case 3:
			b = nil
		case 5:
			b = []byte(`{"a":"` + strings.Repeat("\u00e9x", 5000+i) + `"}`)
		}
		out[i] = b
	}
	return out
}

// TestPackBatchRoundTrip: a batch of any size unpacks to exactly the
// bodies packed, in order; a batch of one is stored as that body packed
// alone (how single bodies were always stored); a batch costs less than
// its bodies packed one by one.
func TestPackBatchRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 3, 9, 64, MaxBatchEntries} {
		bodies := batchOf(n)
		stored, err := PackBatch(bodies)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnpackBatch(stored, n)
		if err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
		if len(got) != n {
			t.Fatalf("batch of %d: %d bodies back", n, len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], bodies[i]) {
				t.Fatalf("batch of %d: body %d differs", n, i)
			}
		}
	}
	one, _ := PackBatch([][]byte{sampleBody})
	if single, _ := Pack(sampleBody); !bytes.Equal(one, single) {
		t.Error("a batch of one is not the body packed alone")
	}
	nine := make([][]byte, 9)
	apart := 0
	for i := range nine {
		nine[i] = bytes.Replace(sampleBody, []byte("job-31-0"), []byte(fmt.Sprintf("job-31-%d", i)), -1)
		p, _ := Pack(nine[i])
		apart += len(p)
	}
	together, _ := PackBatch(nine)
	if len(together) >= apart/2 {
		t.Errorf("nine similar envelopes: %d bytes as a batch, %d packed apart; want under half", len(together), apart)
	}
	if _, err := PackBatch(nil); err == nil {
		t.Error("an empty batch was packed")
	}
}

// TestUnpackBatchCorrupt: a damaged, truncated or miscounted batch is an
// error, never other bytes and never a panic.
func TestUnpackBatchCorrupt(t *testing.T) {
	bodies := batchOf(9)
	stored, _ := PackBatch(bodies)
	for _, i := range []int{5, len(stored) / 2, len(stored) - 2} {
		bad := bytes.Clone(stored)
		bad[i] ^= 0x40
		if got, err := UnpackBatch(bad, 9); err == nil {
			t.Errorf("batch damaged at byte %d unpacked to %d bodies without an error", i, len(got))
		}
	}
	if _, err := UnpackBatch(stored[:len(stored)-7], 9); err == nil {
		t.Error("a truncated batch unpacked without an error")
	}
	for _, n := range []int{-1, 0, 2, 8, 10, 1000} {
		if got, err := UnpackBatch(stored, n); err == nil {
			t.Errorf("a batch of 9 read as %d: %d bodies, no error", n, len(got))
		}
	}
	if _, err := UnpackBatch(sampleBody, 2); err == nil {
		t.Error("a plain body read as a batch of 2 without an error")
	}
	// Frames whose content is not a batch: lengths past the end, and a
	// length that does not decode.
	for _, content := range [][]byte{{0x05, 0x05, 'a', 'b'}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		frame, _ := Pack(content)
		if got, err := UnpackBatch(frame, 2); err == nil {
			t.Errorf("content %x read as a batch of 2: %q", content, got)
		}
	}
}

func BenchmarkPackBatch9(b *testing.B) {
	nine := make([][]byte, 9)
	size := 0
	for i := range nine {
		nine[i] = bytes.Replace(sampleBody, []byte("job-31-0"), []byte(fmt.Sprintf("job-31-%d", i)), -1)
		size += len(nine[i])
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		if _, err := PackBatch(nine); err != nil {
			b.Fatal(err)
		}
	}
}
