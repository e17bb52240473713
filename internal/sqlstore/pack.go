package sqlstore

import (
	"bytes"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/pack"
)

// Pack is pack.Pack: the stored form of a body (ADR 0044).
func Pack(body []byte) ([]byte, error) { return pack.Pack(body) }

// Unpack is pack.Unpack: the body a stored value holds.
func Unpack(stored []byte) ([]byte, error) { return pack.Unpack(stored) }

// PackJob returns the stored form of j's JSON body: j.Packed when it was
// made from exactly these bytes (the service packs a new job's body ahead
// of the transaction), else the body packed now.
func PackJob(j *cairn.Job, body []byte) ([]byte, error) {
	if j.Packed != nil && bytes.Equal(j.PackedFrom, body) {
		return j.Packed, nil
	}
	return pack.Pack(body)
}
