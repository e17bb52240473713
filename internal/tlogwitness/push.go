package tlogwitness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
)

// Defaults of a Pusher.
const (
	DefaultInterval   = time.Second
	DefaultMaxBackoff = time.Minute
	// maxAnswer bounds a witness's answer (cosignature lines, or a size).
	maxAnswer = 64 << 10
)

// Pusher pushes the checkpoints of every tenant to the witnesses.
type Pusher struct {
	svc        *service.Service
	log        *slog.Logger
	witnesses  []*Witness
	client     *nethttp.Client
	interval   time.Duration
	maxBackoff time.Duration
	lag        *prometheus.GaugeVec

	stop chan struct{}
	wg   sync.WaitGroup
}

// Options tune a Pusher; zero values take the defaults.
type Options struct {
	// Interval is how often each witness is offered the latest checkpoints.
	Interval time.Duration
	// MaxBackoff bounds the wait after failures before trying a witness again.
	MaxBackoff time.Duration
	// Client is the HTTP client (default: 10 s timeout).
	Client *nethttp.Client
}

// New returns a Pusher for the witnesses; Start runs it.
func New(svc *service.Service, log *slog.Logger, witnesses []*Witness, o Options) *Pusher {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Client == nil {
		o.Client = &nethttp.Client{Timeout: 10 * time.Second}
	}
	p := &Pusher{svc: svc, log: log, witnesses: witnesses, client: o.Client, interval: o.Interval, maxBackoff: o.MaxBackoff, stop: make(chan struct{})}
	p.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_witness_lag_entries",
		Help: "Entries between the latest checkpoint and the latest one the witness cosigned (the largest lag over tenants).",
	}, []string{"witness"})
	for _, w := range witnesses {
		p.lag.WithLabelValues(w.Name()).Set(0)
	}
	return p
}

// Collector is the lag gauge, for the server's metrics registry.
func (p *Pusher) Collector() prometheus.Collector { return p.lag }

// Start runs one background loop per witness until Stop.
func (p *Pusher) Start() {
	for _, w := range p.witnesses {
		p.wg.Add(1)
		go p.loop(w)
	}
}

// Stop ends the loops and waits for them.
func (p *Pusher) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// logState is what a loop knows about one tenant's log at one witness.
type logState struct {
	known    bool   // size is the witness's, as far as we know
	size     uint64 // the size the witness last cosigned (its "old" size)
	cosigned uint64 // the largest size whose cosignature is stored
	lastTS   time.Time
	failing  string // the last failure logged, to log each kind once
	// unknown: the witness answered 404 (the log is not in its
	// configuration); the tenant then counts in no lag.
	unknown bool
}

func (p *Pusher) loop(w *Witness) {
	defer p.wg.Done()
	states := map[string]*logState{}
	wait := p.interval
	for {
		select {
		case <-p.stop:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		ok := p.round(ctx, w, states)
		cancel()
		if ok {
			wait = p.interval
		} else if wait *= 2; wait > p.maxBackoff {
			wait = p.maxBackoff
		}
	}
}

// round offers every tenant's latest checkpoint to w once; it reports
// false when the witness could not be reached or answered badly.
func (p *Pusher) round(ctx context.Context, w *Witness, states map[string]*logState) bool {
	tenants, err := p.svc.Tenants(ctx)
	if err != nil {
		p.log.Warn("witness push: list tenants", "err", err)
		return false
	}
	ok := true
	var lag uint64
	for _, tenant := range tenants {
		c, err := p.svc.LatestCheckpoint(ctx, tenant)
		if err != nil {
			return false // the lag is not known this round
		}
		if c == nil {
			continue
		}
		st := states[tenant]
		if st == nil {
			st = &logState{}
			states[tenant] = st
			p.resume(ctx, w, tenant, st)
		}
		if st.cosigned < c.Size {
			err := p.push(ctx, w, tenant, c, st)
			if ctx.Err() != nil {
				return false // stopping: the answer, if any, is not the witness's
			}
			if !p.noteOutcome(w, tenant, c.Size, st, err) {
				ok = false
			}
		}
		if !st.unknown && c.Size > st.cosigned && c.Size-st.cosigned > lag {
			lag = c.Size - st.cosigned
		}
	}
	p.lag.WithLabelValues(w.Name()).Set(float64(lag))
	return ok
}

// noteOutcome records in st how pushing the checkpoint of size to w went
// (logging a new failure once, and a recovery) and reports whether it did
// not fail: it succeeded, or the witness does not follow the log.
func (p *Pusher) noteOutcome(w *Witness, tenant string, size uint64, st *logState, err error) bool {
	st.unknown = errors.Is(err, errUnknownLog)
	if err == nil {
		if st.failing != "" {
			st.failing = ""
			p.log.Info("witness push recovered", "witness", w.Name(), "tenant", tenant, "size", size)
		}
		return true
	}
	if msg := err.Error(); msg != st.failing {
		st.failing = msg
		p.log.Warn("witness push failed; retrying in the background", "witness", w.Name(), "url", w.URL, "tenant", tenant, "size", size, "err", msg)
	}
	return st.unknown
}

// resume starts from the newest stored cosignature by w (if one is among
// the latest checkpoints): its size and timestamp.
func (p *Pusher) resume(ctx context.Context, w *Witness, tenant string, st *logState) {
	cs, err := p.svc.Checkpoints(ctx, cairn.Principal{Tenant: tenant}, cairn.Page{Limit: 200})
	if err != nil {
		return
	}
	for _, c := range cs {
		for _, co := range c.Cosignatures {
			if co.Witness != w.Name() {
				continue
			}
			st.cosigned = c.Size
			if ts, ok := p.cosignatureTime(tenant, w, []byte(co.Note)); ok {
				st.lastTS = ts
			}
			return
		}
	}
}

// errUnknownLog means the witness does not follow this tenant's log (404).
var errUnknownLog = errors.New("the witness does not follow this log (its configuration lacks the origin)")

// ErrGarbage wraps answers from a witness that are not what the protocol
// allows; nothing from them is stored.
var ErrGarbage = errors.New("witness answered garbage")

// push sends c to w, following the witness's size on 409, and stores the
// cosignature it returns.
func (p *Pusher) push(ctx context.Context, w *Witness, tenant string, c *cairn.Checkpoint, st *logState) error {
	for attempt := 0; attempt < 3; attempt++ {
		old := st.size
		if old > c.Size {
			return fmt.Errorf("the witness has cosigned size %d, larger than this log's latest checkpoint %d", old, c.Size)
		}
		body, err := p.request(ctx, tenant, old, c)
		if err != nil {
			return err
		}
		status, answer, err := p.post(ctx, w, body)
		if err != nil {
			return err
		}
		switch status {
		case nethttp.StatusOK:
			if err := p.store(ctx, w, tenant, c, answer, st); err != nil {
				return err
			}
			st.known, st.size, st.cosigned = true, c.Size, c.Size
			return nil
		case nethttp.StatusConflict:
			n, err := parseSize(answer)
			if err != nil {
				return fmt.Errorf("%w: 409 without a tree size: %v", ErrGarbage, err)
			}
			if st.known && n == old {
				return fmt.Errorf("%w: 409 naming the size %d that was sent", ErrGarbage, n)
			}
			p.log.Info("witness reported another size (409); pushing from it", "witness", w.Name(), "tenant", tenant, "sent_old", old, "witness_size", n, "size", c.Size)
			st.known, st.size = true, n
			continue
		case nethttp.StatusNotFound:
			return fmt.Errorf("%w: witness answered 404: %s", errUnknownLog, printable(answer))
		default:
			return fmt.Errorf("witness answered %d: %s", status, printable(answer))
		}
	}
	return errors.New("the witness's size kept changing")
}

// request builds the add-checkpoint body: "old <size>", the consistency
// proof lines, a blank line, the log's signed checkpoint.
func (p *Pusher) request(ctx context.Context, tenant string, old uint64, c *cairn.Checkpoint) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	if old > 0 && old < c.Size {
		pr, err := p.svc.ConsistencyProof(ctx, cairn.Principal{Tenant: tenant}, old, c.Size)
		if err != nil {
			return nil, fmt.Errorf("consistency proof %d→%d: %w", old, c.Size, err)
		}
		if pr.RootHash != c.RootHash {
			return nil, fmt.Errorf("the tree of size %d has root %s, the checkpoint says %s", c.Size, pr.RootHash, c.RootHash)
		}
		for _, h := range pr.Hashes {
			raw, err := hex.DecodeString(h)
			if err != nil {
				return nil, err
			}
			b.WriteString(b64(raw))
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	b.WriteString(c.Note)
	return b.Bytes(), nil
}

func (p *Pusher) post(ctx context.Context, w *Witness, body []byte) (int, []byte, error) {
	req, err := nethttp.NewRequestWithContext(ctx, "POST", w.URL+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return 0, nil, err
	}
	if len(answer) > maxAnswer {
		return 0, nil, fmt.Errorf("%w: an answer over %d bytes", ErrGarbage, maxAnswer)
	}
	return resp.StatusCode, answer, nil
}

// store verifies the witness's cosignature lines against the checkpoint
// with the pinned key and stores them. A cosignature/v1 timestamp must not
// go back in time for this witness and log.
func (p *Pusher) store(ctx context.Context, w *Witness, tenant string, c *cairn.Checkpoint, answer []byte, st *logState) error {
	lines, err := signatureLines(answer)
	if err != nil {
		return err
	}
	text, _, ok := strings.Cut(c.Note, "\n\n")
	if !ok {
		return errors.New("stored checkpoint is not a note")
	}
	cosigned := []byte(text + "\n\n" + lines)
	// Keep only the witness's own lines: the note the witness signed.
	ts, ok := p.cosignatureTime(tenant, w, cosigned)
	if !ok {
		return fmt.Errorf("%w: no valid signature by %s in %q", ErrGarbage, w.Name(), printable(answer))
	}
	if !st.lastTS.IsZero() && ts.Before(st.lastTS) {
		return fmt.Errorf("%w: cosignature timestamp %s is before the previous one, %s", ErrGarbage, ts.UTC().Format(time.RFC3339), st.lastTS.UTC().Format(time.RFC3339))
	}
	withLog, err := tree.MergeSignatures([]byte(c.Note), cosigned)
	if err != nil {
		return err
	}
	_, err = p.svc.Cosign(ctx, cairn.Principal{Tenant: tenant, Roles: []string{cairn.RoleAuditor}}, w.Key, withLog)
	if err != nil && cairn.ErrorCode(err) != cairn.EConflict {
		return fmt.Errorf("%w: the cosignature was refused: %v", ErrGarbage, err)
	}
	if !ts.IsZero() {
		st.lastTS = ts
	}
	return nil
}

// cosignatureTime verifies the signature by w in a note of tenant's
// checkpoint text and returns its timestamp (zero for untimestamped keys);
// ok is false when there is no valid one.
func (p *Pusher) cosignatureTime(tenant string, w *Witness, n []byte) (time.Time, bool) {
	opened, err := note.Open(n, note.VerifierList(w.verifier))
	if err != nil {
		return time.Time{}, false
	}
	for _, sig := range opened.Sigs {
		if sig.Name == w.verifier.Name() && sig.Hash == w.verifier.KeyHash() {
			ts, _, err := tree.CosignatureTime(w.verifier, sig)
			if err != nil {
				return time.Time{}, false
			}
			return ts, true
		}
	}
	return time.Time{}, false
}

// signatureLines checks that an answer is one or more note signature lines
// ("— <name> <base64>") and returns them.
func signatureLines(answer []byte) (string, error) {
	s := string(answer)
	if !strings.HasSuffix(s, "\n") || len(strings.TrimSpace(s)) == 0 {
		return "", fmt.Errorf("%w: %q is not signature lines", ErrGarbage, printable(answer))
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if !strings.HasPrefix(l, "— ") || strings.Count(l, " ") != 2 {
			return "", fmt.Errorf("%w: %q is not a signature line", ErrGarbage, printable([]byte(l)))
		}
	}
	return s, nil
}

// parseSize reads a 409 body: the witness's size, a decimal line.
func parseSize(b []byte) (uint64, error) {
	s := strings.TrimSuffix(string(b), "\n")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("%q", printable(b))
	}
	return n, nil
}

// printable shortens an answer for a log line.
func printable(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.ToValidUTF8(string(b), "?")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
