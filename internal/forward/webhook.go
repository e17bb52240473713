package forward

import (
	"bytes"
	"errors"
	"net/url"
	"strconv"
)

// appendRecordLine appends r as one NDJSON line, in the feed's own format:
// {"index":N,"leaf_hash":"<hex>","body":<canonical body as stored>}.
func appendRecordLine(buf *bytes.Buffer, r *Record) {
	var num [20]byte
	buf.WriteString(`{"index":`)
	buf.Write(strconv.AppendUint(num[:0], r.Index, 10))
	buf.WriteString(`,"leaf_hash":"`)
	buf.WriteString(r.LeafHash)
	buf.WriteString(`","body":`)
	buf.Write(r.Body)
	buf.WriteString("}\n")
}

// encodeNDJSON writes the batch as the webhook's NDJSON body.
func encodeNDJSON(buf *bytes.Buffer, recs []Record) error {
	for i := range recs {
		appendRecordLine(buf, &recs[i])
	}
	return nil
}

// redactURL drops user information and the query from u for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User = nil
	p.RawQuery = ""
	return p.String()
}

// unwrapURL drops the *url.Error wrapper (it repeats the full URL).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
