package verify

import (
	"encoding/json"
	"slices"

	"github.com/cairnhq/cairn/ledger/bundle"
)

// Erased payloads (docs/evidence.md §5.2): an erasure removed a payload but
// the ledger still commits to the SHA-256 of its plaintext. The bundle
// lists it withheld, reason "erased", with that hash and erased_by, the
// index of the erasure event. Its content and the job_hash checks that
// need it are "erased, not checked"; everything else is verified. When the
// bundle holds the erasure event, it must name the payload with that hash.

// reasonErased is the reason of an erased payload.
const reasonErased = "erased"

// ReasonUndecryptable is the reason of a payload an exporter found stored
// but could not decrypt: its ciphertext was altered or moved at rest. It
// fails verification (payload_mismatch).
const ReasonUndecryptable = "does not decrypt: altered at rest"

// isErased reports whether p is listed as erased.
func isErased(p *bundle.Payload) bool {
	return p.ErasedBy != nil || p.Withheld && p.Reason == reasonErased
}

// erasureBody is what the verifier reads of an entry holding an erasure
// event.
type erasureBody struct {
	Event struct {
		Type string `json:"type"`
		Data struct {
			Payloads []struct {
				Ptr    string `json:"ptr"`
				SHA256 string `json:"sha256"`
			} `json:"payloads"`
		} `json:"data"`
	} `json:"event"`
}

// erasedPayload checks an erased payload's listing against its erasure
// event, when the bundle holds that entry.
func (c *checker) erasedPayload(p *bundle.Payload) {
	rec := "payload " + p.Ptr
	c.rep.PayloadsErased++
	if !p.Withheld || p.Reason != reasonErased || p.ErasedBy == nil {
		c.fail(recordErr(rec, ErrFormat, "an erased payload must be withheld, with reason %q and erased_by", reasonErased))
		return
	}
	c.note("payload %s (sha256 %s) erased by ledger entry %d: erased, not checked", p.Ptr, p.SHA256, *p.ErasedBy)
	i, ok := slices.BinarySearchFunc(c.b.Entries, *p.ErasedBy, func(e bundle.Entry, idx uint64) int {
		switch {
		case e.Index < idx:
			return -1
		case e.Index > idx:
			return 1
		}
		return 0
	})
	if !ok {
		return
	}
	var body erasureBody
	if err := json.Unmarshal([]byte(c.b.Entries[i].Body), &body); err != nil || body.Event.Type != "erasure" {
		c.fail(recordErr(rec, ErrPayload, "erased_by %d is not an erasure event", *p.ErasedBy))
		return
	}
	for _, e := range body.Event.Data.Payloads {
		if e.Ptr == p.Ptr && e.SHA256 == p.SHA256 {
			return
		}
	}
	c.fail(recordErr(rec, ErrPayload, "the erasure event in entry %d does not name this payload with sha256 %s", *p.ErasedBy, p.SHA256))
}

// sealedWithheld checks a payload withheld because of how it was sealed at
// rest (erased, or not decrypting) and reports whether it was one.
func (c *checker) sealedWithheld(p *bundle.Payload) bool {
	rec := "payload " + p.Ptr
	switch {
	case isErased(p):
		c.rep.PayloadsWithheld++
		if len(p.Data) > 0 {
			c.fail(recordErr(rec, ErrFormat, "withheld but has data"))
		}
		c.erasedPayload(p)
	case p.Withheld && p.Reason == ReasonUndecryptable:
		c.rep.PayloadsWithheld++
		c.fail(recordErr(rec, ErrPayload, "stored but %s", ReasonUndecryptable))
	default:
		return false
	}
	return true
}
