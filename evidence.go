package cairn

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ledgerEnvelope is the decoded form of a ledger entry body (see
// ledger.Envelope, whose canonical JSON the body is).
type ledgerEnvelope struct {
	Tenant   string `json:"tenant"`
	Index    uint64 `json:"index"`
	PrevHash string `json:"prev_hash"`
	RunSeq   int64  `json:"run_seq"`
	Event    Event  `json:"event"`
}

// EventFromLedger decodes the evidence event a stored ledger entry carries,
// with its tenant, timeline seq and ledger position. Stores share it so
// that every store serves the same event from the same bytes.
func EventFromLedger(body, leafHash string) (*Event, error) {
	var env ledgerEnvelope
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return nil, fmt.Errorf("corrupt ledger body: %w", err)
	}
	ev := env.Event
	ev.Seq = env.RunSeq
	ev.Tenant = env.Tenant
	ev.PrevHash = env.PrevHash
	ev.Ledger = &LedgerRef{Index: env.Index, LeafHash: leafHash}
	return &ev, nil
}

// APIEventFromLedger builds an event's API JSON (Event.Raw) from its
// canonical ledger body without decoding it. The body is
// {"event":E,"index":I,"prev_hash":P[,"run_seq":S],"tenant":T} with the
// members in that order (RFC 8785 sorts them), and T (an id) and P (hex)
// cannot contain the separator searched for, so the last `,"index":` ends E.
func APIEventFromLedger(body, leafHash string) (*Event, error) {
	const head = `{"event":{`
	k := strings.LastIndex(body, `,"index":`)
	if !strings.HasPrefix(body, head) || k < len(head) || body[k-1] != '}' {
		return nil, fmt.Errorf("corrupt ledger body")
	}
	event := body[len(head)-1 : k]
	if event == "{}" {
		return nil, fmt.Errorf("empty ledger event")
	}
	idx, rest, ok := strings.Cut(body[k+len(`,"index":`):], ",")
	if !ok {
		return nil, fmt.Errorf("corrupt ledger body")
	}
	index, err := strconv.ParseUint(idx, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("corrupt ledger index")
	}
	var seq string
	if i := strings.Index(rest, `"run_seq":`); i >= 0 {
		seq, _, _ = strings.Cut(rest[i+len(`"run_seq":`):], ",")
	}
	var b strings.Builder
	b.Grow(len(event) + 120)
	b.WriteString(`{"ledger":{"index":`)
	b.WriteString(idx)
	b.WriteString(`,"leaf_hash":"`)
	b.WriteString(leafHash)
	b.WriteString(`"},`)
	var n int64
	if seq != "" {
		if n, err = strconv.ParseInt(seq, 10, 64); err != nil {
			return nil, fmt.Errorf("corrupt run_seq")
		}
		b.WriteString(`"seq":`)
		b.WriteString(seq)
		b.WriteString(",")
	}
	b.WriteString(event[1:])
	return &Event{Seq: n, Ledger: &LedgerRef{Index: index, LeafHash: leafHash}, Raw: json.RawMessage(b.String())}, nil
}

// DecisionOf extracts the decision a policy_decided event carries.
func DecisionOf(ev *Event) (*Decision, error) {
	var member any
	switch data := ev.Data.(type) {
	case *DecidedData:
		member = data.Decision
	case map[string]any:
		member = data["decision"]
	}
	raw, err := json.Marshal(member)
	if err != nil {
		return nil, err
	}
	var d Decision
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("corrupt decision event: %w", err)
	}
	d.Ledger = ev.Ledger
	return &d, nil
}
