package main

// cairn forward: deliver the ledger's events to SIEM sinks (docs/siem.md,
// ADR 0033), and --verify a delivered range against a signed checkpoint.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/forward"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

// forwardOptions are the flags of cairn forward.
type forwardOptions struct {
	Config      string
	State       string
	MetricsAddr string
	Verify      bool
	LogKey      string
	Checkpoint  string
	SDID        string
	g           *clientOptions
}

const forwardLong = `forward tails the tenant's event feed (GET /api/v1/events, with an auditor's
key) and delivers every ledger event to the sinks of --config: a signed NDJSON
webhook, syslog (RFC 5424 or CEF, over TCP or TLS), Splunk HEC, or OCSF API
Activity records. Each sink's cursor (the last ledger index it acknowledged)
is kept in --state, written (fsync'd, atomically renamed) only after the sink
acknowledged the batch: delivery is at least once and in order, and a sink
that fails is retried with backoff, never skipped. Every record carries its
ledger index and leaf hash. Lag is served as Prometheus metrics on
--metrics-addr (cairn_forward_lag_entries, cairn_forward_lag_seconds).

With --verify it reads delivered records from the files given (any of the
sinks' formats, e.g. a receiver's output file), and checks that they are one
contiguous range of the log committed to by a checkpoint signed with
--log-key (the latest one from the server, or --checkpoint FILE), using the
server's proof endpoints. See docs/siem.md.`

func newForwardCmd(g *clientOptions) *cobra.Command {
	o := &forwardOptions{g: g}
	cmd := clientGroup(&cobra.Command{
		Use:   "forward --config FILE --state FILE | forward --verify --log-key KEY FILE...",
		Short: "Deliver every ledger event to SIEM sinks, at least once and in order",
		Long:  forwardLong,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.Verify && len(args) == 0 {
				return errors.New("--verify needs the files holding the delivered records")
			}
			if !o.Verify && len(args) > 0 {
				return fmt.Errorf("unexpected argument %q (files are for --verify)", args[0])
			}
			return nil
		},
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			if o.Verify {
				return o.verify(cmd, args)
			}
			return o.forward(cmd)
		}),
	})
	f := cmd.Flags()
	f.StringVar(&o.Config, "config", "", "the sinks' configuration (YAML; docs/siem.md)")
	f.StringVar(&o.State, "state", "cairn-forward.state", "the state file holding each sink's cursor")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9466); none when empty")
	f.BoolVar(&o.Verify, "verify", false, "verify delivered records (files as arguments) against a signed checkpoint")
	f.StringVar(&o.LogKey, "log-key", "", "--verify: the log's public (note verifier) key, or a file holding it (pin it; required)")
	f.StringVar(&o.Checkpoint, "checkpoint", "", "--verify: a file holding the signed checkpoint note to verify against (default: the server's latest)")
	f.StringVar(&o.SDID, "sd-id", forward.DefaultSDID, "--verify: the SD-ID of syslog records")
	return cmd
}

// sinks reads --config and builds its sinks.
func (o *forwardOptions) sinks() (*forward.Config, []forward.Sink, error) {
	if o.Config == "" {
		return nil, nil, errors.New("--config is required (the sinks to deliver to; see docs/siem.md)")
	}
	raw, err := os.ReadFile(o.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("--config: %w", err)
	}
	cfg, err := forward.ParseConfig(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.Config, err)
	}
	sinks, err := cfg.Build()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.Config, err)
	}
	return cfg, sinks, nil
}

// serveMetrics serves reg on --metrics-addr (nothing when empty).
func (o *forwardOptions) serveMetrics(reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	if o.MetricsAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", o.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Info("metrics", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// forward delivers the event feed to the sinks until interrupted.
func (o *forwardOptions) forward(cmd *cobra.Command) error {
	cfg, sinks, err := o.sinks()
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range sinks {
			s.Close()
		}
	}()
	if o.State == "" {
		return errors.New("--state is required")
	}
	state, err := forward.OpenState(o.State)
	if err != nil {
		return err
	}
	key, err := o.g.resolveKey()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := forward.NewMetrics(reg)
	ctx, stop := o.g.context(cmd, false)
	defer stop()
	stopMetrics, err := o.serveMetrics(reg, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	names := make([]string, len(sinks))
	for i, s := range sinks {
		names[i] = s.Name()
	}
	log.Info("forwarding", "server", o.g.Server, "sinks", strings.Join(names, ","), "state", o.State)
	fw := &forward.Forwarder{
		Feed:      &forward.Feed{Server: o.g.Server, Key: key},
		State:     state,
		Sinks:     sinks,
		BatchSize: cfg.BatchSize,
		Wait:      cfg.Wait,
		Log:       log,
		Metrics:   metrics,
	}
	return fw.Run(ctx)
}

// verify checks delivered records against a signed checkpoint.
func (o *forwardOptions) verify(cmd *cobra.Command, files []string) error {
	if o.LogKey == "" {
		return errors.New("--verify needs --log-key (the log's public key, pinned out of band)")
	}
	keyText, err := readMaybeFile(o.LogKey)
	if err != nil {
		return err
	}
	logV, err := tree.NewVerifier(strings.TrimSpace(string(keyText)))
	if err != nil {
		return fmt.Errorf("--log-key: %w", err)
	}
	var recs []forward.Record
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		rs, err := forward.ExtractRecords(f, o.SDID)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		recs = append(recs, rs...)
	}
	key, err := o.g.resolveKey()
	if err != nil {
		return err
	}
	api := &forward.API{Server: o.g.Server, Key: key}
	ctx, stop := o.g.context(cmd, true)
	defer stop()
	var note []byte
	if o.Checkpoint != "" {
		if note, err = os.ReadFile(o.Checkpoint); err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
	} else if note, err = api.Checkpoint(ctx); err != nil {
		return err
	}
	rep, err := forward.Verify(ctx, recs, api, logV, note)
	if err != nil {
		return fmt.Errorf("verification FAILED: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "ok: ledger entries %d..%d (%d records, %d duplicates) are entries of %s under its signed checkpoint of size %d\n",
		rep.First, rep.Last, rep.Records, rep.Duplicates, rep.Origin, rep.CheckpointSize)
	return nil
}
