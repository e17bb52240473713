package forward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhq/cairn/ledger"
)

// Record is one ledger entry as the feed serves it: its index, leaf hash
// and canonical body (SHA-256(0x00 || Body) is the leaf hash).
type Record struct {
	Index    uint64          `json:"index"`
	LeafHash string          `json:"leaf_hash"`
	Body     json.RawMessage `json:"body"`
	// Pruned: retention removed the body (body is null); the leaf hash
	// stays and is all there is to check.
	Pruned bool `json:"pruned,omitempty"`

	ev *Envelope // parsed on first use
}

// Envelope is the part of an entry's body the encoders read
// (docs/evidence.md §2.1, §2.2). Members absent from the body are empty.
type Envelope struct {
	Index    uint64 `json:"index"`
	Tenant   string `json:"tenant"`
	PrevHash string `json:"prev_hash"`
	Event    Event  `json:"event"`
}

// Event is the evidence event of an entry, as far as the encoders read it.
type Event struct {
	Type           string        `json:"type"`
	Timestamp      string        `json:"timestamp"`
	Actor          string        `json:"actor"`
	RunID          string        `json:"run_id"`
	WorkflowStepID string        `json:"workflow_step_id"`
	JobID          string        `json:"job_id"`
	Decision       string        `json:"decision"`
	PolicyRuleID   string        `json:"policy_rule_id"`
	PolicySnapshot string        `json:"policy_snapshot"`
	JobHash        string        `json:"job_hash"`
	Resolution     string        `json:"resolution"`
	ResolvedBy     string        `json:"resolved_by"`
	State          string        `json:"state"`
	OutputSafety   *OutputSafety `json:"output_safety"`
	Data           struct {
		Job *struct {
			Action   string `json:"action"`
			Resource string `json:"resource"`
			TraceID  string `json:"trace_id"`
		} `json:"job"`
	} `json:"data"`
}

// OutputSafety is the output check of an output_checked event.
type OutputSafety struct {
	Decision string `json:"decision"`
	RuleID   string `json:"rule_id"`
}

// Envelope parses the record's body (once).
func (r *Record) Envelope() (*Envelope, error) {
	if r.ev != nil {
		return r.ev, nil
	}
	var env Envelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		return nil, fmt.Errorf("ledger entry %d: body is not a ledger envelope: %w", r.Index, err)
	}
	r.ev = &env
	return r.ev, nil
}

// Time is the event's timestamp (the zero time when it has none).
func (r *Record) Time() time.Time {
	env, err := r.Envelope()
	if err != nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, env.Event.Timestamp)
	return t
}

// check verifies that the record's body hashes to its leaf hash and names
// its index.
func (r *Record) check() error {
	if r.Pruned {
		if len(r.LeafHash) != 64 || strings.Trim(r.LeafHash, "0123456789abcdef") != "" {
			return fmt.Errorf("ledger entry %d: pruned, with a malformed leaf hash %q", r.Index, r.LeafHash)
		}
		return nil
	}
	if got := ledger.HashHex(ledger.LeafHash(r.Body)); got != r.LeafHash {
		return fmt.Errorf("ledger entry %d: body hashes to %s, the feed says %s", r.Index, got, r.LeafHash)
	}
	// The envelope's own "index" member is the last one in the body: in
	// its canonical form only prev_hash, run_seq and tenant follow the
	// event, and a nested "index" would sit inside the event, before it.
	// (The line was parsed as JSON already; the encoders that need more of
	// the envelope parse it when they do.)
	i := bytes.LastIndex(r.Body, []byte(`"index":`))
	if i < 0 {
		return fmt.Errorf("ledger entry %d: body is not a ledger envelope", r.Index)
	}
	digits := r.Body[i+len(`"index":`):]
	n := 0
	for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	if got, err := strconv.ParseUint(string(digits[:n]), 10, 64); err != nil || got != r.Index {
		return fmt.Errorf("ledger entry %d: its body says index %q", r.Index, digits[:n])
	}
	return nil
}
