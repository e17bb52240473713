package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/cairnhq/cairn/internal/serve"
	"github.com/cairnhq/cairn/ledger/tree"
)

// witnessOptions are the flags of cairn witness.
type witnessOptions struct {
	State, KeyFile, LogKey, Name string
	g                            *clientOptions
}

// witnessState is what a witness keeps between runs: the last checkpoint it cosigned.
type witnessState struct {
	Checkpoint string `json:"checkpoint"`
}

func newWitnessCmd(g *clientOptions) *cobra.Command {
	o := &witnessOptions{g: g}
	cmd := &cobra.Command{
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
		RunE: g.run(func(cmd *cobra.Command, _ []string) error { return o.run() }),
	}
	w := cmd.Flags()
	w.StringVar(&o.State, "state", "witness-state.json", "file recording the last checkpoint cosigned")
	w.StringVar(&o.KeyFile, "witness-key", "witness.key", "the witness's signing key file (created if missing)")
	w.StringVar(&o.Name, "name", "witness", "the witness key's name")
	w.StringVar(&o.LogKey, "log-key", "", "the log's public key, or a file holding it (required)")
	markRequired(cmd, "log-key")
	return cmd
}

// witness builds the cosigner: the witness's key and the pinned log key,
// and the last checkpoint cosigned (from --state). It returns the
// witness's verifier key too.
func (o *witnessOptions) witness() (*tree.Witness, string, error) {
	wk, err := tree.LoadOrCreateKey(o.KeyFile, o.Name)
	if err != nil {
		return nil, "", err
	}
	logKeyText, err := readMaybeFile(o.LogKey)
	if err != nil {
		return nil, "", err
	}
	logV, err := tree.NewVerifier(strings.TrimSpace(string(logKeyText)))
	if err != nil {
		return nil, "", fmt.Errorf("--log-key: %w", err)
	}
	signer, err := wk.CosignatureV1Signer()
	if err != nil {
		return nil, "", err
	}
	wpub, err := wk.CosignatureV1VerifierKey()
	if err != nil {
		return nil, "", err
	}
	w := &tree.Witness{Signer: signer, Log: logV}
	if w.Last, err = o.lastCosigned(logV); err != nil {
		return nil, "", err
	}
	return w, wpub, nil
}

// lastCosigned reads the checkpoint in --state; nil when there is none yet.
func (o *witnessOptions) lastCosigned(logV note.Verifier) (*tree.Checkpoint, error) {
	raw, err := os.ReadFile(o.State)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st witnessState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("--state: %w", err)
	}
	last, err := tree.OpenCheckpoint([]byte(st.Checkpoint), logV)
	if err != nil {
		return nil, fmt.Errorf("--state holds a checkpoint the log key does not verify: %w", err)
	}
	return last, nil
}

// consistency fetches the proof that the log of size to extends the last
// checkpoint cosigned.
func (o *witnessOptions) consistency(last *tree.Checkpoint, to uint64) ([][]byte, error) {
	if last == nil || last.Size == 0 || last.Size >= to {
		return nil, nil
	}
	raw, err := o.g.apiGet(fmt.Sprintf("/api/v1/ledger/proof/consistency?from=%d&to=%d", last.Size, to))
	if err != nil {
		return nil, err
	}
	var pr struct {
		Hashes []string `json:"hashes"`
	}
	if err := json.Unmarshal(raw, &pr); err != nil {
		return nil, err
	}
	var proof [][]byte
	for _, h := range pr.Hashes {
		b, err := hexDecode(h)
		if err != nil {
			return nil, err
		}
		proof = append(proof, b)
	}
	return proof, nil
}

func (o *witnessOptions) run() error {
	w, wpub, err := o.witness()
	if err != nil {
		return err
	}
	raw, err := o.g.apiGet("/api/v1/ledger/checkpoint?fresh=true")
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
	proof, err := o.consistency(w.Last, cp.Size)
	if err != nil {
		return err
	}
	cosigned, err := w.Cosign([]byte(cp.Note), proof)
	if err != nil {
		return fmt.Errorf("refusing to cosign: %w", err)
	}
	body, _ := json.Marshal(map[string]string{"witness_key": wpub, "note": string(cosigned)})
	if _, err := o.g.apiPost("/api/v1/ledger/cosignatures", body); err != nil {
		return err
	}
	st, _ := json.Marshal(witnessState{Checkpoint: cp.Note})
	if err := serve.WriteFileSync(o.State, st, 0o600); err != nil {
		return err
	}
	fmt.Printf("cosigned checkpoint of size %d\nwitness key: %s\n", cp.Size, wpub)
	return nil
}
