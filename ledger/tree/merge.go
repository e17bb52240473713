package tree

import (
	"bytes"
	"fmt"
)

// MergeSignatures returns base with the signature lines of the other notes
// appended (each line once). All notes must carry the same text: a witness
// cosignature is the checkpoint text with the witness's signature line.
// Signatures are not verified here; readers verify with the keys they trust.
func MergeSignatures(base []byte, others ...[]byte) ([]byte, error) {
	split := func(n []byte) (text []byte, sigs [][]byte, err error) {
		i := bytes.LastIndex(n, []byte("\n\n"))
		if i < 0 {
			return nil, nil, fmt.Errorf("ledger: not a signed note")
		}
		text = n[:i+1]
		for _, l := range bytes.Split(bytes.TrimSuffix(n[i+2:], []byte("\n")), []byte("\n")) {
			if len(l) > 0 {
				sigs = append(sigs, l)
			}
		}
		return text, sigs, nil
	}
	text, sigs, err := split(base)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range sigs {
		seen[string(s)] = true
	}
	for _, o := range others {
		t, ss, err := split(o)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(t, text) {
			return nil, fmt.Errorf("ledger: cosigned note has a different text")
		}
		for _, s := range ss {
			if !seen[string(s)] {
				seen[string(s)] = true
				sigs = append(sigs, s)
			}
		}
	}
	out := append([]byte{}, text...)
	out = append(out, '\n')
	for _, s := range sigs {
		out = append(out, s...)
		out = append(out, '\n')
	}
	return out, nil
}
