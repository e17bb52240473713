package pack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// A batch is several ledger envelopes stored as one value (ADR 0045): the
// entries a writer transaction appended to one tenant's ledger, one after
// the other. Neighbouring envelopes repeat one another (the policy
// snapshot's hash, the actor, rule texts, job ids and hashes, times), which
// one frame compresses away and separate frames cannot.
//
// The frame's content is the bodies' lengths as uvarints, then the bodies
// concatenated. Its stored form is one zstd frame against the body
// dictionary. A batch of one is stored as that body packed alone, which is
// exactly how single bodies were always stored, so a reader tells the two
// apart by the number of entries the row says it holds.

// MaxBatchEntries and MaxBatchBytes bound one batch (BatchRows starts a new
// one past either): what a read of one entry decompresses.
const (
	MaxBatchEntries = 256
	MaxBatchBytes   = 1 << 20
)

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// PackBatch returns the stored form of bodies (at least one) as one value.
// The bodies are copied: the caller may reuse them.
func PackBatch(bodies [][]byte) ([]byte, error) {
	switch len(bodies) {
	case 0:
		return nil, errors.New("pack: empty batch")
	case 1:
		return Pack(bodies[0])
	}
	if err := codec(); err != nil {
		return nil, err
	}
	bp := bufPool.Get().(*[]byte)
	content := (*bp)[:0]
	total := 0
	for _, b := range bodies {
		content = binary.AppendUvarint(content, uint64(len(b)))
		total += len(b)
	}
	for _, b := range bodies {
		content = append(content, b...)
	}
	out := encoder.EncodeAll(content, make([]byte, 0, total/4+64))
	*bp = content
	bufPool.Put(bp)
	return out, nil
}

// UnpackBatch returns the n bodies a stored value holds, exactly as they
// were packed (n 1: Unpack). The bodies share one buffer. A value that
// does not decode, or whose lengths do not add up to its content, is an
// error, never a guess.
func UnpackBatch(stored []byte, n int) ([][]byte, error) {
	if n < 1 {
		return nil, fmt.Errorf("pack: batch of %d entries", n)
	}
	if n > 1 && !bytes.HasPrefix(stored, zstdMagic) {
		return nil, errors.New("pack: corrupt batch: not a zstd frame")
	}
	content, err := Unpack(stored)
	if err != nil {
		return nil, err
	}
	if n == 1 {
		return [][]byte{content}, nil
	}
	lens := make([]uint64, n)
	rest := content
	for i := range lens {
		v, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, errors.New("pack: corrupt batch: bad length")
		}
		lens[i], rest = v, rest[k:]
	}
	out := make([][]byte, n)
	for i, l := range lens {
		if l > uint64(len(rest)) {
			return nil, errors.New("pack: corrupt batch: lengths exceed its content")
		}
		out[i], rest = rest[:l:l], rest[l:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("pack: corrupt batch: %d bytes past its last body", len(rest))
	}
	return out, nil
}
