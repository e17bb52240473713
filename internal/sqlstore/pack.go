package sqlstore

import (
	"bytes"
	"encoding/json"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/jobrow"
	"github.com/cairnhq/cairn/internal/pack"
)

// Pack is pack.Pack: the stored form of a body (ADR 0044).
func Pack(body []byte) ([]byte, error) { return pack.Pack(body) }

// Unpack is pack.Unpack: the body a stored value holds.
func Unpack(stored []byte) ([]byte, error) { return pack.Unpack(stored) }

// PackJob returns the stored form of j's body: its JSON without what the
// row's columns hold (jobrow.Body, ADR 0047), packed. That is j.Packed when
// it was made from exactly the JSON j marshals to now (the service packs a
// new job's body ahead of the transaction), else it is made now.
func PackJob(j *cairn.Job) ([]byte, error) {
	full, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	if j.Packed != nil && bytes.Equal(j.PackedFrom, full) {
		return j.Packed, nil
	}
	body, err := jobrow.Body(j, full)
	if err != nil {
		return nil, err
	}
	return pack.Pack(body)
}
