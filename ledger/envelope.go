package ledger

import (
	"encoding/json"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
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
	b := make([]byte, 0, len(canonEvent)+len(tenant)+len(prevHash)+64)
	b = append(b, `{"event":`...)
	b = append(b, canonEvent...)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, index, 10)
	b = append(b, `,"prev_hash":`...)
	if isLowerHex(prevHash) {
		b = append(b, '"')
		b = append(b, prevHash...)
		b = append(b, '"')
	} else {
		p, err := json.Marshal(prevHash) // as before for anything but hex
		if err != nil {
			return nil, err
		}
		b = append(b, p...)
	}
	if runSeq != 0 {
		b = append(b, `,"run_seq":`...)
		b = strconv.AppendInt(b, runSeq, 10)
	}
	b = append(b, `,"tenant":`...)
	n := len(b)
	if q, err := jsontext.AppendQuote(b, tenant); err == nil {
		b = q // the RFC 8785 form of a valid UTF-8 string
	} else {
		t, err := Canonical(tenant) // invalid UTF-8: as before
		if err != nil {
			return nil, err
		}
		b = append(b[:n], t...)
	}
	b = append(b, '}')
	return b, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
