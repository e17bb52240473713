package http_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/ledger"
)

type feedLine struct {
	Index    uint64          `json:"index"`
	LeafHash string          `json:"leaf_hash"`
	Body     json.RawMessage `json:"body"`
}

func parseFeed(t *testing.T, raw []byte) []feedLine {
	t.Helper()
	var out []feedLine
	for _, l := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var f feedLine
		if err := json.Unmarshal(l, &f); err != nil {
			t.Fatalf("feed line %q: %v", l, err)
		}
		out = append(out, f)
	}
	return out
}

// The feed serves the ledger as /ledger/entries does, as NDJSON, after an
// exclusive cursor; each body hashes to its leaf hash.
func TestEventFeedMatchesLedger(t *testing.T) {
	e := newEnv(t)
	e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read", Input: json.RawMessage(`{}`)})
	var entries struct {
		Items []cairn.LedgerEntry `json:"items"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	if len(entries.Items) < 5 {
		t.Fatalf("ledger has %d entries", len(entries.Items))
	}
	status, raw := e.Do("auditor-1", "GET", "/api/v1/events", nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, raw)
	}
	all := parseFeed(t, raw)
	if len(all) != len(entries.Items) {
		t.Fatalf("feed has %d lines, ledger %d entries", len(all), len(entries.Items))
	}
	for i, f := range all {
		le := entries.Items[i]
		if f.Index != uint64(i) || f.LeafHash != le.LeafHash || !bytes.Equal(f.Body, le.Body) {
			t.Fatalf("line %d: %+v, ledger entry %+v", i, f, le)
		}
		if got := ledger.HashHex(ledger.LeafHash(f.Body)); got != f.LeafHash {
			t.Fatalf("line %d: body hashes to %s, leaf_hash %s", i, got, f.LeafHash)
		}
	}
	// after is exclusive; limit bounds the answer.
	_, raw = e.Do("auditor-1", "GET", "/api/v1/events?after=2&limit=2", nil)
	got := parseFeed(t, raw)
	if len(got) != 2 || got[0].Index != 3 || got[1].Index != 4 {
		t.Fatalf("after=2&limit=2: %+v", got)
	}
	// Past the end: an empty answer at once (no wait_ms).
	last := strconv.Itoa(len(all) - 1)
	status, raw = e.Do("admin", "GET", "/api/v1/events?after="+last, nil)
	if status != 200 || len(raw) != 0 {
		t.Fatalf("after the last entry: %d %q", status, raw)
	}
	if _, err := hex.DecodeString(all[0].LeafHash); err != nil || len(all[0].LeafHash) != 64 {
		t.Fatalf("leaf hash %q", all[0].LeafHash)
	}
}

// A long poll returns the entry appended while it waits.
func TestEventFeedLongPollWakes(t *testing.T) {
	e := newEnv(t)
	_, raw := e.Do("auditor-1", "GET", "/api/v1/events", nil)
	n := len(parseFeed(t, raw))
	type answer struct {
		status int
		raw    []byte
	}
	done := make(chan answer, 1)
	go func() {
		s, r := e.Do("auditor-1", "GET", "/api/v1/events?wait_ms=30000&after="+strconv.Itoa(n-1), nil)
		done <- answer{s, r}
	}()
	j := e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read", Input: json.RawMessage(`{}`)})
	a := <-done
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	got := parseFeed(t, a.raw)
	if len(got) == 0 || got[0].Index != uint64(n) {
		t.Fatalf("long poll answered %+v, want entry %d first", got, n)
	}
	var body struct {
		Event struct {
			JobID string `json:"job_id"`
			Type  string `json:"type"`
		} `json:"event"`
	}
	json.Unmarshal(got[0].Body, &body)
	if body.Event.JobID != j.JobID || body.Event.Type != cairn.EventJobSubmitted {
		t.Fatalf("first new entry %s", got[0].Body)
	}
}

// Bad parameters are 400 naming the field; other roles are 403.
func TestEventFeedRefusals(t *testing.T) {
	e := newEnv(t)
	for q, field := range map[string]string{
		"after=-1":        "after",
		"after=x":         "after",
		"limit=0":         "limit",
		"limit=10001":     "limit",
		"wait_ms=-5":      "wait_ms",
		"wait_ms=30001":   "wait_ms",
		"wait_ms=1.5":     "wait_ms",
		"from=3":          "from",
		"after=1&after=2": "after",
	} {
		status, raw := e.Do("auditor-1", "GET", "/api/v1/events?"+q, nil)
		var eb struct {
			Error struct{ Code, Field string } `json:"error"`
		}
		json.Unmarshal(raw, &eb)
		if status != 400 || eb.Error.Code != "invalid_input" || eb.Error.Field != field {
			t.Errorf("%s: %d %s, want 400 invalid_input naming %s", q, status, raw, field)
		}
	}
	for _, who := range []string{"agent-1", "worker-1", "manager-2", "polly"} {
		e.ErrCode(who, "GET", "/api/v1/events", nil, 403, "forbidden")
	}
	e.ErrCode("", "GET", "/api/v1/events", nil, 401, "unauthorized")
}

// A feed request with wait_ms is a long poll for admission: it takes a
// poll slot, so the principal's further long polls are refused while its
// ordinary requests (a feed read without wait_ms among them) are served.
func TestEventFeedLongPollAdmission(t *testing.T) {
	e := &env{apitest.New(t, apitest.Options{AdminKey: adminKey, Inflight: cairnhttp.InflightLimits{Calls: 8, Polls: 4, PerPrincipal: 1}})}
	e.Key("auditor-1", "human", "auditor")
	_, raw := e.Do("auditor-1", "GET", "/api/v1/events", nil)
	last := strconv.Itoa(len(parseFeed(t, raw)) - 1)
	held := make(chan int, 1)
	hold := func() {
		go func() {
			st, _ := e.Do("auditor-1", "GET", "/api/v1/events?wait_ms=30000&after="+last, nil)
			held <- st
		}()
	}
	hold()
	// Probe until a second long poll is refused. A probe can take the one
	// poll slot before the held request does, which is then refused: hold
	// again.
	deadline := time.Now().Add(20 * time.Second)
	for refused := false; !refused; {
		select {
		case st := <-held:
			if st != 429 {
				t.Fatalf("the held long poll ended with %d", st)
			}
			hold()
		default:
		}
		st, raw := e.Do("auditor-1", "GET", "/api/v1/events?wait_ms=1&after="+last, nil)
		switch {
		case st == 429 && strings.Contains(string(raw), cairn.ETooMany):
			refused = true
		case st != 200 || time.Now().After(deadline):
			t.Fatalf("a second long poll: %d %s", st, raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, raw := e.Do("auditor-1", "GET", "/api/v1/events?after="+last, nil); st != 200 {
		t.Fatalf("a feed read without wait_ms while the long poll is held: %d %s", st, raw)
	}
	e.Submit("admin", cairn.SubmitRequest{Action: "db.read", Input: json.RawMessage(`{}`)})
	if st := <-held; st != 200 {
		t.Fatalf("the held long poll: %d", st)
	}
}

// The spec check (spec_responses_test.go) decodes answers by content type:
// an event feed answer is NDJSON, each line of which must match
// components.schemas.EventFeedLine; the answer as a whole is a string.
func init() {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(r io.Reader, _ nethttp.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		raw, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		lineSchema.once.Do(func() {
			doc, err := openapi3.NewLoader().LoadFromFile("openapi.json")
			if err != nil {
				lineSchema.err = err
				return
			}
			ref := doc.Components.Schemas["EventFeedLine"]
			if ref == nil {
				lineSchema.err = errors.New("openapi.json has no components.schemas.EventFeedLine")
				return
			}
			lineSchema.s = ref.Value
		})
		if lineSchema.err != nil {
			return nil, lineSchema.err
		}
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			return nil, errors.New("the NDJSON answer does not end in a newline")
		}
		for i, l := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
			if len(raw) == 0 {
				break
			}
			var v any
			if err := json.Unmarshal(l, &v); err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			if err := lineSchema.s.VisitJSON(v, openapi3.VisitAsResponse()); err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
		}
		return string(raw), nil
	})
}

var lineSchema struct {
	once sync.Once
	s    *openapi3.Schema
	err  error
}
