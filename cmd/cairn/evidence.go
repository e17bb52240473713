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
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/cairnhq/cairn/verify"
)

var exportFlags struct {
	run, job, since, until, out string
	consistencyFrom             uint64
}

var exportCmd = &cobra.Command{
	Use:   "export",
	Short: "Export a self-contained, verifiable evidence bundle",
	Long: `export writes an evidence bundle (docs/evidence.md): ledger entries, proofs to
a signed checkpoint, the public key, policy texts and payloads. Select a run,
a job or a time range; with none, the tenant's whole ledger. Needs the
auditor role.`,
	Args: cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		q := url.Values{}
		set := func(k, v string) {
			if v != "" {
				q.Set(k, v)
			}
		}
		set("run_id", exportFlags.run)
		set("job_id", exportFlags.job)
		set("since", exportFlags.since)
		set("until", exportFlags.until)
		if exportFlags.consistencyFrom > 0 {
			q.Set("consistency_from", strconv.FormatUint(exportFlags.consistencyFrom, 10))
		}
		body, err := apiGet("/api/v1/evidence/export?" + q.Encode())
		if err != nil {
			return err
		}
		if exportFlags.out == "" || exportFlags.out == "-" {
			_, err = os.Stdout.Write(body)
			return err
		}
		if err := os.WriteFile(exportFlags.out, body, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s (%d bytes)\n", exportFlags.out, len(body))
		return nil
	}),
}

var verifyFlags struct {
	trustedCheckpoint, key string
	witnessKeys            []string
	minWitnesses           int
	jsonOut                bool
}

var verifyCmd = &cobra.Command{
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
	RunE: func(cmd *cobra.Command, args []string) error {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := bundle.DecodeBundle(f)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		opts := verify.Options{}
		if verifyFlags.key != "" {
			k, err := readMaybeFile(verifyFlags.key)
			if err != nil {
				return err
			}
			opts.TrustedKey = strings.TrimSpace(string(k))
		}
		if verifyFlags.trustedCheckpoint != "" {
			if opts.TrustedCheckpoint, err = os.ReadFile(verifyFlags.trustedCheckpoint); err != nil {
				return err
			}
		}
		for _, wk := range verifyFlags.witnessKeys {
			k, err := readMaybeFile(wk)
			if err != nil {
				return err
			}
			opts.WitnessKeys = append(opts.WitnessKeys, strings.TrimSpace(string(k)))
		}
		if verifyFlags.minWitnesses < 0 {
			return errors.New("--min-witnesses must not be negative")
		}
		opts.MinWitnesses = verifyFlags.minWitnesses
		rep, verr := verify.Bundle(b, opts)
		if verifyFlags.jsonOut {
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
	},
}

var witnessFlags struct {
	state, keyFile, logKey, name string
}

// witnessState is what a witness keeps between runs: the last checkpoint it cosigned.
type witnessState struct {
	Checkpoint string `json:"checkpoint"`
}

var witnessCmd = &cobra.Command{
	Use:   "witness",
	Short: "Cosign the latest checkpoint after checking it extends the last one cosigned",
	Long: `witness is run by an independent party with its own key. It fetches the
log's latest checkpoint, verifies the log's signature with --log-key (pinned,
not fetched), proves with a consistency proof that the log only grew since the
checkpoint recorded in --state, cosigns it with --witness-key, submits the
cosignature, and records the checkpoint in --state. A failed check cosigns
nothing and exits non-zero. The witness key file is created (mode 0600) on
first use.

The cosignature is a C2SP tlog-cosignature "cosignature/v1" signature
(timestamped, Ed25519), what transparency-log witnesses sign. The witness key
it prints is the Ed25519 cosignature/v1 verifier key (type 0x04): the one the
log's users pin (cairn verify --witness-key). Key files and --state files of
earlier versions (which signed plain Ed25519 notes) keep working.`,
	Args: cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		wk, err := tree.LoadOrCreateKey(witnessFlags.keyFile, witnessFlags.name)
		if err != nil {
			return err
		}
		logKeyText, err := readMaybeFile(witnessFlags.logKey)
		if err != nil {
			return err
		}
		logV, err := tree.NewVerifier(strings.TrimSpace(string(logKeyText)))
		if err != nil {
			return fmt.Errorf("--log-key: %w", err)
		}
		signer, err := wk.CosignatureV1Signer()
		if err != nil {
			return err
		}
		wpub, err := wk.CosignatureV1VerifierKey()
		if err != nil {
			return err
		}
		w := &tree.Witness{Signer: signer, Log: logV}
		if raw, err := os.ReadFile(witnessFlags.state); err == nil {
			var st witnessState
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("--state: %w", err)
			}
			if w.Last, err = tree.OpenCheckpoint([]byte(st.Checkpoint), logV); err != nil {
				return fmt.Errorf("--state holds a checkpoint the log key does not verify: %w", err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		raw, err := apiGet("/api/v1/ledger/checkpoint?fresh=true")
		if err != nil {
			return err
		}
		var cp struct {
			Note string `json:"note"`
			Size uint64 `json:"size"`
		}
		if err := json.Unmarshal(raw, &cp); err != nil {
			return err
		}
		if w.Last != nil && w.Last.Size == cp.Size {
			if last, err := tree.ParseCheckpoint([]byte(cp.Note)); err == nil && last.Root == w.Last.Root {
				fmt.Printf("checkpoint of size %d already cosigned; the log has not grown\n", cp.Size)
				return nil
			}
		}
		var consistency [][]byte
		if w.Last != nil && w.Last.Size > 0 && w.Last.Size < cp.Size {
			raw, err := apiGet(fmt.Sprintf("/api/v1/ledger/proof/consistency?from=%d&to=%d", w.Last.Size, cp.Size))
			if err != nil {
				return err
			}
			var pr struct {
				Hashes []string `json:"hashes"`
			}
			if err := json.Unmarshal(raw, &pr); err != nil {
				return err
			}
			for _, h := range pr.Hashes {
				b, err := hexDecode(h)
				if err != nil {
					return err
				}
				consistency = append(consistency, b)
			}
		}
		cosigned, err := w.Cosign([]byte(cp.Note), consistency)
		if err != nil {
			return fmt.Errorf("refusing to cosign: %w", err)
		}
		body, _ := json.Marshal(map[string]string{"witness_key": wpub, "note": string(cosigned)})
		if _, err := apiPost("/api/v1/ledger/cosignatures", body); err != nil {
			return err
		}
		st, _ := json.Marshal(witnessState{Checkpoint: cp.Note})
		if err := writeFileSync(witnessFlags.state, st, 0o600); err != nil {
			return err
		}
		fmt.Printf("cosigned checkpoint of size %d\nwitness key: %s\n", cp.Size, wpub)
		return nil
	}),
}

func init() {
	f := exportCmd.Flags()
	f.StringVar(&exportFlags.run, "run", "", "export one run's evidence")
	f.StringVar(&exportFlags.job, "job", "", "export one job's evidence")
	f.StringVar(&exportFlags.since, "since", "", "export entries from this RFC 3339 time")
	f.StringVar(&exportFlags.until, "until", "", "export entries before this RFC 3339 time")
	f.Uint64Var(&exportFlags.consistencyFrom, "consistency-from", 0, "include a consistency proof from this older tree size")
	f.StringVarP(&exportFlags.out, "out", "o", "", "write the bundle to this file (default stdout)")
	v := verifyCmd.Flags()
	v.StringVar(&verifyFlags.trustedCheckpoint, "trusted-checkpoint", "", "a checkpoint note you kept earlier: prove the log only grew since")
	v.StringVar(&verifyFlags.key, "key", "", "the log's public (note verifier) key, or a file holding it")
	v.StringArrayVar(&verifyFlags.witnessKeys, "witness-key", nil, "a witness's verifier key (cosignature/v1 type 0x04/0x06, or Ed25519), or a file holding it; repeatable")
	v.IntVar(&verifyFlags.minWitnesses, "min-witnesses", 0, "fail unless at least this many distinct --witness-key witnesses cosigned the checkpoint or the trusted checkpoint")
	v.BoolVar(&verifyFlags.jsonOut, "json", false, "print the report as JSON")
	w := witnessCmd.Flags()
	w.StringVar(&witnessFlags.state, "state", "witness-state.json", "file recording the last checkpoint cosigned")
	w.StringVar(&witnessFlags.keyFile, "witness-key", "witness.key", "the witness's signing key file (created if missing)")
	w.StringVar(&witnessFlags.name, "name", "witness", "the witness key's name")
	w.StringVar(&witnessFlags.logKey, "log-key", "", "the log's public key, or a file holding it (required)")
	witnessCmd.MarkFlagRequired("log-key")
	rootCmd.AddCommand(exportCmd, verifyCmd, witnessCmd)
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

func apiDo(method, path string, body []byte) ([]byte, error) {
	key, err := resolveKey()
	if err != nil {
		return nil, err
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := nethttp.NewRequest(method, strings.TrimRight(flagServer, "/")+path, r)
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

func apiGet(path string) ([]byte, error)               { return apiDo("GET", path, nil) }
func apiPost(path string, body []byte) ([]byte, error) { return apiDo("POST", path, body) }
