package sqlstore

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Stored bodies (ledger entries' canonical envelopes, jobs' JSON) are
// zstd frames compressed against a fixed raw dictionary (ADR 0044): the
// dictionary holds the keys, event types and phrases every body repeats,
// so a body of 1 to 2 KB keeps little more than its identifiers, hashes
// and times. A body written before compression (plain JSON, which starts
// with '{') reads back as it is. Unpack returns exactly the bytes Pack was
// given, so the ledger's leaf hashes, exports and verification see the
// canonical bytes they always saw.
//
// A dictionary, once used, is part of the store format forever: a new one
// gets a new id and is added beside it, never put in its place.
//
// The level is zstd's fastest: with a dictionary, each frame starts by
// restoring the encoder's match tables to the dictionary's, a copy whose
// size grows with the level (256 KB at the fastest, 4 MB at "better"), and
// bodies are compressed in the store's writer. "Better" saved 8% of the
// bytes for three times the CPU (ADR 0044).

// bodyDictID is the zstd dictionary id of bodyDictV1 (written into each
// frame's header, which is how Unpack finds the dictionary).
const bodyDictID = 0xCA1201

var zstdMagic = []byte{0x28, 0xB5, 0x2F, 0xFD}

var (
	codecOnce sync.Once
	encoder   *zstd.Encoder
	decoder   *zstd.Decoder
	codecErr  error
)

func codec() (*zstd.Encoder, *zstd.Decoder, error) {
	codecOnce.Do(func() {
		dict := []byte(bodyDictV1)
		encoder, codecErr = zstd.NewWriter(nil,
			zstd.WithEncoderDictRaw(bodyDictID, dict),
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true))
		if codecErr != nil {
			return
		}
		decoder, codecErr = zstd.NewReader(nil,
			zstd.WithDecoderDictRaw(bodyDictID, dict),
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(64<<20))
	})
	return encoder, decoder, codecErr
}

// Pack returns the stored form of a body: a zstd frame (with its
// checksum) against the body dictionary.
func Pack(body []byte) ([]byte, error) {
	enc, _, err := codec()
	if err != nil {
		return nil, fmt.Errorf("sqlstore: body codec: %w", err)
	}
	return enc.EncodeAll(body, make([]byte, 0, len(body)/3+16)), nil
}

// MustPack is Pack for callers that cannot fail on it: the codec is built
// from constants, so only a broken build makes Pack fail, and then every
// write would; it panics then rather than store a body it cannot read.
func MustPack(body []byte) []byte {
	b, err := Pack(body)
	if err != nil {
		panic(err)
	}
	return b
}

// Unpack returns the body a stored value holds: the decompressed bytes of
// a zstd frame, or the value itself when it is plain (written before
// bodies were compressed). A frame that does not decode is an error, never
// a guess.
func Unpack(stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, zstdMagic) {
		return stored, nil
	}
	_, dec, err := codec()
	if err != nil {
		return nil, fmt.Errorf("sqlstore: body codec: %w", err)
	}
	out, err := dec.DecodeAll(stored, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: corrupt stored body: %w", err)
	}
	return out, nil
}
