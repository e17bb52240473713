package ledger

import (
	"encoding/json"
	"strconv"
)

// EnvelopeBody builds the canonical body of an Envelope from the already
// canonical event (see Canonical). It produces exactly the bytes of
// EntryBody(Envelope{...}) without re-parsing the event, so the costly
// canonicalisation of the event can happen before the writer's
// transaction and only the position is filled in inside it.
//
// JCS sorts members by UTF-16 code units: event < index < prev_hash <
// run_seq < tenant. Index and run_seq are integers below 2^53, which JCS
// writes in plain decimal; prev_hash is lowercase hex; tenant is escaped by
// the JCS rules for strings.
func EnvelopeBody(tenant string, index uint64, prevHash string, runSeq int64, canonEvent []byte) ([]byte, error) {
	t, err := Canonical(tenant)
	if err != nil {
		return nil, err
	}
	p, err := json.Marshal(prevHash) // hex or "": identical under JCS
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(canonEvent)+len(t)+len(p)+64)
	b = append(b, `{"event":`...)
	b = append(b, canonEvent...)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, index, 10)
	b = append(b, `,"prev_hash":`...)
	b = append(b, p...)
	if runSeq != 0 {
		b = append(b, `,"run_seq":`...)
		b = strconv.AppendInt(b, runSeq, 10)
	}
	b = append(b, `,"tenant":`...)
	b = append(b, t...)
	b = append(b, '}')
	return b, nil
}
