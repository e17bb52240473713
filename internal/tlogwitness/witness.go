// Package tlogwitness pushes each tenant's checkpoints to witnesses with
// the C2SP tlog-witness protocol (https://c2sp.org/tlog-witness): POST
// <url>/add-checkpoint with the size the witness last cosigned, a
// consistency proof from it, and the new checkpoint. Each cosignature that
// comes back is verified with the witness key pinned in the configuration
// and stored with the checkpoint, exactly like one submitted through POST
// /api/v1/ledger/cosignatures. Pushing runs in the background, one
// goroutine per witness: a slow or dead witness delays nothing but its own
// cosignatures, and its lag is a metric.
package tlogwitness

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/cairnhq/cairn/ledger/tree"
	"golang.org/x/mod/sumdb/note"
)

// Witness is one configured witness: where it listens and the key its
// cosignatures must verify with.
type Witness struct {
	// URL is the witness's base URL; the protocol's endpoint is
	// URL + "/add-checkpoint".
	URL string
	// Key is the witness's verifier key ("<name>+<hash>+<base64>"), a
	// cosignature/v1 key (type 0x04 or 0x06) or a plain Ed25519 one.
	Key string

	verifier note.Verifier
}

// Name is the witness's key name: its label in metrics and logs.
func (w *Witness) Name() string { return w.verifier.Name() }

// ParseWitness parses a --witness value "URL=vkey". The key's base64 may
// itself end in "=", so the value is split at the first "=" after which a
// valid witness key follows.
func ParseWitness(s string) (*Witness, error) {
	for i := strings.IndexByte(s, '='); i >= 0; {
		u, k := s[:i], s[i+1:]
		if v, err := tree.NewWitnessVerifier(k); err == nil {
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				return nil, fmt.Errorf("witness %q: the URL must be http(s)://host[/path]", u)
			}
			return &Witness{URL: strings.TrimSuffix(u, "/"), Key: strings.TrimSpace(k), verifier: v}, nil
		}
		j := strings.IndexByte(s[i+1:], '=')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil, errors.New("a witness is URL=vkey, with vkey the witness's verifier key (<name>+<hash>+<base64>)")
}
