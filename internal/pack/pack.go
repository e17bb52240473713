// Package pack is how Cairn's SQL stores keep bodies at rest (ADR 0044):
// ledger entries' canonical envelopes and jobs' JSON as zstd frames
// compressed against a fixed raw dictionary. The dictionary holds the
// keys, event types and phrases every body repeats, so a body of 1 to 2 KB
// keeps little more than its identifiers, hashes and times. A body written
// before compression (plain JSON, which starts with '{') reads back as it
// is. Unpack returns exactly the bytes that were packed, so the ledger's
// leaf hashes, exports and verification see the canonical bytes they
// always saw.
//
// A dictionary, once used, is part of the store format forever: a new one
// gets a new id and is added beside it, never put in its place.
//
// The level is zstd's fastest: with a dictionary, each frame starts by
// restoring the encoder's match tables to the dictionary's, a copy whose
// size grows with the level (256 KB at the fastest, 4 MB at "better").
// "Better" saved 8% of the bytes for several times the CPU.
//
// Ledger envelopes are stored a writer transaction's entries at a time,
// one frame for several envelopes (batch.go, ADR 0045). Bodies stored
// before that are one frame, or two frames one after the other (the
// envelope's head packed ahead of the transaction and its tail packed by
// the writer, ADR 0044), which zstd decodes as the concatenation of their
// contents; Unpack reads them all.
package pack

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// bodyDictID is the zstd dictionary id of bodyDictV1 (written into each
// frame's header, which is how Unpack finds the dictionary).
const bodyDictID = 0xCA1201

var zstdMagic = []byte{0x28, 0xB5, 0x2F, 0xFD}

var (
	codecOnce sync.Once
	encoder   *zstd.Encoder // with the dictionary
	decoder   *zstd.Decoder
	codecErr  error
)

func codec() error {
	codecOnce.Do(func() {
		dict := []byte(bodyDictV1)
		encoder, codecErr = zstd.NewWriter(nil,
			zstd.WithEncoderDictRaw(bodyDictID, dict),
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithZeroFrames(true))
		if codecErr != nil {
			return
		}
		decoder, codecErr = zstd.NewReader(nil,
			zstd.WithDecoderDictRaw(bodyDictID, dict),
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(64<<20))
	})
	if codecErr != nil {
		return fmt.Errorf("pack: body codec: %w", codecErr)
	}
	return nil
}

// Pack returns the stored form of a body: a zstd frame (with its
// checksum) against the body dictionary.
func Pack(body []byte) ([]byte, error) {
	if err := codec(); err != nil {
		return nil, err
	}
	return encoder.EncodeAll(body, make([]byte, 0, len(body)/3+16)), nil
}

// Unpack returns the body a stored value holds: the decompressed bytes of
// its zstd frames, or the value itself when it is plain (written before
// bodies were compressed). A frame that does not decode is an error, never
// a guess.
func Unpack(stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, zstdMagic) {
		return stored, nil
	}
	if err := codec(); err != nil {
		return nil, err
	}
	out, err := decoder.DecodeAll(stored, nil)
	if err != nil {
		return nil, fmt.Errorf("pack: corrupt stored body: %w", err)
	}
	return out, nil
}
