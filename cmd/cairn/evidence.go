package main

// export, verify and witness: the commands an auditor or an independent
// witness runs. verify works offline on a bundle file.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// exportOptions are the flags of cairn export.
type exportOptions struct {
	Run, Job, Since, Until, Out string
	ConsistencyFrom             uint64
	g                           *clientOptions
}

func newExportCmd(g *clientOptions) *cobra.Command {
	o := &exportOptions{g: g}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export a self-contained, verifiable evidence bundle",
		Long: `export writes an evidence bundle (docs/evidence.md): ledger entries, proofs to
a signed checkpoint, the public key, policy texts and payloads. Select a run,
a job or a time range; with none, the tenant's whole ledger. Needs the
auditor role.`,
		Args: cobra.NoArgs,
		RunE: g.run(func(cmd *cobra.Command, _ []string) error { return o.run() }),
	}
	f := cmd.Flags()
	f.StringVar(&o.Run, "run", "", "export one run's evidence")
	f.StringVar(&o.Job, "job", "", "export one job's evidence")
	f.StringVar(&o.Since, "since", "", "export entries from this RFC 3339 time")
	f.StringVar(&o.Until, "until", "", "export entries before this RFC 3339 time")
	f.Uint64Var(&o.ConsistencyFrom, "consistency-from", 0, "include a consistency proof from this older tree size")
	f.StringVarP(&o.Out, "out", "o", "", "write the bundle to this file (default stdout)")
	return cmd
}

// query is the export's query string.
func (o *exportOptions) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"run_id": o.Run, "job_id": o.Job, "since": o.Since, "until": o.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.ConsistencyFrom > 0 {
		q.Set("consistency_from", strconv.FormatUint(o.ConsistencyFrom, 10))
	}
	return q
}

func (o *exportOptions) run() error {
	body, err := o.g.apiGet("/api/v1/evidence/export?" + o.query().Encode())
	if err != nil {
		return err
	}
	if o.Out == "" || o.Out == "-" {
		_, err = os.Stdout.Write(body)
		return err
	}
	if err := os.WriteFile(o.Out, body, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (%d bytes)\n", o.Out, len(body))
	return nil
}

// verifyOptions are the flags of cairn verify.
type verifyOptions struct {
	TrustedCheckpoint, Key string
	WitnessKeys            []string
	MinWitnesses           int
	JSON                   bool
}

func newVerifyCmd() *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify <bundle.json>",
		Short: "Verify an evidence bundle offline",
		Long: `verify checks an evidence bundle with no server: every leaf hash and job_hash
is recomputed, every proof and signature checked, every decision's policy
snapshot matched to the included policy text, and, given an older checkpoint
(--trusted-checkpoint), that the log only grew. Pass the log's public key with
--key (from GET /api/v1/ledger/key, obtained independently); without it the
bundle's own key is used and the report says so.

Witnesses: pass each witness's verifier key you pin with --witness-key
(repeatable; a C2SP cosignature/v1 key of type 0x04 or 0x06, as printed by
cairn witness, or an earlier cairn witness's plain Ed25519 key). Their
cosignatures on the bundle's checkpoint and on the --trusted-checkpoint note
(e.g. the note_with_cosignatures of GET /api/v1/ledger/checkpoints/{size})
are verified; an invalid one fails. --min-witnesses N fails (witness_missing)
unless at least N distinct given witnesses cosigned one of the two.

It names the first bad record and exits non-zero on any failure.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(args[0]) },
	}
	v := cmd.Flags()
	v.StringVar(&o.TrustedCheckpoint, "trusted-checkpoint", "", "a checkpoint note you kept earlier: prove the log only grew since")
	v.StringVar(&o.Key, "key", "", "the log's public (note verifier) key, or a file holding it")
	v.StringArrayVar(&o.WitnessKeys, "witness-key", nil, "a witness's verifier key (cosignature/v1 type 0x04/0x06, or Ed25519), or a file holding it; repeatable")
	v.IntVar(&o.MinWitnesses, "min-witnesses", 0, "fail unless at least this many distinct --witness-key witnesses cosigned the checkpoint or the trusted checkpoint")
	v.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	return cmd
}

// options reads the pinned keys and the trusted checkpoint.
func (o *verifyOptions) options() (verify.Options, error) {
	opts := verify.Options{MinWitnesses: o.MinWitnesses}
	if o.Key != "" {
		k, err := readMaybeFile(o.Key)
		if err != nil {
			return opts, err
		}
		opts.TrustedKey = strings.TrimSpace(string(k))
	}
	if o.TrustedCheckpoint != "" {
		var err error
		if opts.TrustedCheckpoint, err = os.ReadFile(o.TrustedCheckpoint); err != nil {
			return opts, err
		}
	}
	for _, wk := range o.WitnessKeys {
		k, err := readMaybeFile(wk)
		if err != nil {
			return opts, err
		}
		opts.WitnessKeys = append(opts.WitnessKeys, strings.TrimSpace(string(k)))
	}
	if o.MinWitnesses < 0 {
		return opts, errors.New("--min-witnesses must not be negative")
	}
	return opts, nil
}

func (o *verifyOptions) run(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := bundle.DecodeBundle(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	opts, err := o.options()
	if err != nil {
		return err
	}
	rep, verr := verify.Bundle(b, opts)
	if o.JSON {
		printJSON(os.Stdout, rep)
	} else if rep != nil {
		fmt.Print(rep.Summary())
	}
	if verr != nil {
		return fmt.Errorf("verification failed: %w", verr)
	}
	if rep == nil || !rep.OK {
		return errors.New("verification failed")
	}
	return nil
}

func readMaybeFile(v string) ([]byte, error) {
	if b, err := os.ReadFile(v); err == nil {
		return b, nil
	}
	return []byte(v), nil
}

func hexDecode(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd hex length")
	}
	for i := 0; i < len(b); i++ {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("bad hex: %w", err)
		}
		b[i] = byte(v)
	}
	return b, nil
}

var rawHTTP = &nethttp.Client{Timeout: 5 * time.Minute}

func (g *clientOptions) apiDo(method, path string, body []byte) ([]byte, error) {
	key, err := g.resolveKey()
	if err != nil {
		return nil, err
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := nethttp.NewRequest(method, strings.TrimRight(g.Server, "/")+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := rawHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(out, &eb) == nil && eb.Error.Code != "" {
			return nil, fmt.Errorf("%s: %s", eb.Error.Code, eb.Error.Message)
		}
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return out, nil
}

func (g *clientOptions) apiGet(path string) ([]byte, error) { return g.apiDo("GET", path, nil) }
func (g *clientOptions) apiPost(path string, body []byte) ([]byte, error) {
	return g.apiDo("POST", path, body)
}
