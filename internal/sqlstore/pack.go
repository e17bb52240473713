package sqlstore

import "github.com/cairnhq/cairn/internal/pack"

// Pack is pack.Pack: the stored form of a body (ADR 0044).
func Pack(body []byte) ([]byte, error) { return pack.Pack(body) }

// Unpack is pack.Unpack: the body a stored value holds.
func Unpack(stored []byte) ([]byte, error) { return pack.Unpack(stored) }
