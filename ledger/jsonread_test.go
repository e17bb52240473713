package ledger

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/ledger/internal/jsonread"
)

// TestParseEntryStringMatchesParseEntry: the string path (strings without
// escapes are substrings of the body) reads what the bytes path reads.
func TestParseEntryStringMatchesParseEntry(t *testing.T) {
	for _, b := range sampleBodies {
		want, err := ParseEntry([]byte(b))
		var got EntryFacts
		if err2 := ParseEntryString(b, &got); (err == nil) != (err2 == nil) {
			t.Fatalf("%s: bytes %v, string %v", b, err, err2)
		}
		if err == nil && !reflect.DeepEqual(*want, got) {
			t.Errorf("%s:\nbytes  %+v\nstring %+v", b, want, got)
		}
	}
}

// TestReaderRules pins the rules the reader kept from the scanner it
// replaced (ADR 0039), where they decide whether a bundle verifies.
func TestReaderRules(t *testing.T) {
	const tail = `,"index":1,"prev_hash":"","tenant":"t"}`
	nested := func(prefix string, n int) string {
		return prefix + strings.Repeat("[", n) + strings.Repeat("]", n)
	}
	for _, c := range []struct {
		body string
		ok   bool
	}{
		// An escaped unpaired surrogate is valid JSON and reads as U+FFFD;
		// raw invalid UTF-8 is refused.
		{`{"event":{"type":"x\ud800"}` + tail, true},
		{"{\"event\":{\"type\":\"x\xff\"}" + tail, false},
		// Values nest at most 512 deep, counted from the event inside it.
		{nested(`{"event":{"type":"x","k":`, 512) + `}` + tail, true},
		{nested(`{"event":{"type":"x","k":`, 513) + `}` + tail, false},
		{nested(`{"event":{"type":"x"},"k":`, 512) + tail, true},
		{nested(`{"event":{"type":"x"},"k":`, 513) + tail, false},
		// Unknown members may repeat, members read may not.
		{`{"event":{"type":"x","k":1,"k":2}` + tail, true},
		{`{"event":{"type":"x","job_id":"a","job_id":"b"}` + tail, false},
		// A data record of the wrong shape is an error only for its type.
		{`{"event":{"type":"key_created","data":{"job":{"tenant":5}}}` + tail, true},
		{`{"event":{"type":"job_submitted","data":{"job":{"tenant":5}}}` + tail, false},
		{`{"event":{"type":"key_created","data":{"job":{"tenant":5,}}}` + tail, false},
	} {
		var f EntryFacts
		if err := ParseEntryString(c.body, &f); (err == nil) != c.ok {
			t.Errorf("%.80q…: error %v, want ok %v", c.body, err, c.ok)
		}
	}
	var f EntryFacts
	if err := ParseEntryString(`{"event":{"type":"x\ud800"}`+tail, &f); err != nil || f.Event.Type != "x\uFFFD" {
		t.Errorf("type %q, %v", f.Event.Type, err)
	}
	if deep := strings.Repeat("[", 513) + strings.Repeat("]", 513); !jsonread.ValidJSON([]byte(deep)) || jsonread.ValidJSON([]byte("["+deep+"]")) {
		t.Error("jsonread.ValidJSON: want 513 nested arrays valid, 514 not")
	}
}

// BenchmarkParseEntryString is BenchmarkParseEntry on the string path that
// verification takes (verify.Bundle holds bodies as strings).
func BenchmarkParseEntryString(b *testing.B) {
	body := sampleBodies[1]
	b.SetBytes(int64(len(body)))
	var f EntryFacts
	for b.Loop() {
		if err := ParseEntryString(body, &f); err != nil {
			b.Fatal(err)
		}
	}
}
