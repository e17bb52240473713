package forward

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Feed reads Cairn's event feed (GET /api/v1/events) with an auditor's key.
type Feed struct {
	// Server is the Cairn base URL (http://127.0.0.1:8081).
	Server string
	// Key is the API key (auditor or admin role). It is sent only as the
	// Authorization header and never logged.
	Key string
	// HTTP is the client (nil: one with no overall timeout; each request
	// has its own deadline).
	HTTP *http.Client
}

// Page is an answer of the feed.
type Page struct {
	Records []Record
	// Size is the tenant's ledger size when the records were read
	// (X-Cairn-Ledger-Size).
	Size uint64
	// Read counts the feed's entries in the page, Last is the index of
	// the last one, and Pruned counts those whose body retention pruned
	// (docs/data-protection.md): they have nothing to deliver and are not
	// in Records, but the cursor moves past them.
	Read   int
	Last   uint64
	Pruned int
}

// readRecords appends the records of the feed body br to the page; the
// first must be ledger index next, and each must follow the one before and
// hash to its leaf hash. It returns the index after the last one.
func (page *Page) readRecords(br *bufio.Reader, next uint64) (uint64, error) {
	for {
		line, err := readLine(br, false)
		if err == io.EOF {
			return next, nil
		}
		if err != nil {
			return next, fmt.Errorf("event feed: %w", err)
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return next, &IntegrityError{fmt.Errorf("event feed: line for index %d is not a feed record: %w", next, err)}
		}
		if r.Index != next {
			return next, &IntegrityError{fmt.Errorf("event feed: expected ledger index %d, got %d (a gap or reordering: refusing to deliver)", next, r.Index)}
		}
		if err := r.check(); err != nil {
			return next, &IntegrityError{fmt.Errorf("event feed: %w", err)}
		}
		page.Read, page.Last = page.Read+1, r.Index
		if r.Pruned {
			page.Pruned++
		} else {
			page.Records = append(page.Records, r)
		}
		next++
	}
}

// MaxLineBytes bounds one line of the feed.
const MaxLineBytes = 16 << 20

// Next returns up to limit records after the cursor (all from the first
// entry when has is false), waiting up to wait for one. It checks that
// the records follow the cursor without a gap, in order, and that each
// body hashes to its leaf hash; anything else is an error.
func (f *Feed) Next(ctx context.Context, after uint64, has bool, limit int, wait time.Duration) (*Page, error) {
	q := url.Values{}
	if has {
		q.Set("after", strconv.FormatUint(after, 10))
	}
	q.Set("limit", strconv.Itoa(limit))
	if wait > 0 {
		q.Set("wait_ms", strconv.FormatInt(wait.Milliseconds(), 10))
	}
	ctx, cancel := context.WithTimeout(ctx, wait+60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(f.Server, "/")+"/api/v1/events?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("event feed: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+f.Key)
	req.Header.Set("Accept", "application/x-ndjson")
	hc := f.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("event feed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, feedError(resp)
	}
	page := &Page{}
	if sz := resp.Header.Get("X-Cairn-Ledger-Size"); sz != "" {
		if page.Size, err = strconv.ParseUint(sz, 10, 64); err != nil {
			return nil, fmt.Errorf("event feed: bad X-Cairn-Ledger-Size %q", sz)
		}
	}
	next := uint64(0)
	if has {
		next = after + 1
	}
	if next, err = page.readRecords(bufio.NewReaderSize(resp.Body, 256<<10), next); err != nil {
		return nil, err
	}
	if page.Size < next {
		page.Size = next
	}
	return page, nil
}

// readLine reads one line without its newline (io.EOF at the end). A final
// line without a newline is a truncated answer unless lastOK.
func readLine(br *bufio.Reader, lastOK bool) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxLineBytes {
			return nil, fmt.Errorf("a line is longer than %d bytes", MaxLineBytes)
		}
		switch err {
		case nil:
			return bytes.TrimSuffix(buf, []byte("\n")), nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(buf) == 0 {
				return nil, io.EOF
			}
			if lastOK {
				return buf, nil
			}
			return nil, fmt.Errorf("the answer ended in the middle of a line (truncated)")
		default:
			return nil, err
		}
	}
}

// APIError is a non-200 answer of the Cairn API.
type APIError struct {
	Status               int
	Code, Message, Field string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	msg := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	return msg
}

// feedError describes a non-200 answer of the feed.
func feedError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var eb struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message, e.Field = eb.Error.Code, eb.Error.Message, eb.Error.Field
	}
	return fmt.Errorf("event feed: %w", e)
}
