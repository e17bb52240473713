package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cairnhq/cairn/internal/payloadkey"
	"github.com/cairnhq/cairn/internal/service"
)

// Encryption at rest (ADR 0048): the key-encryption key that wraps the
// data keys of payloads. cairn serve reads it from --payload-key (env
// CAIRN_PAYLOAD_KEY_FILE), by default <data>/payload.key, created at first
// start like the ledger key.

// servePayloadKey is serve's --payload-key.
var servePayloadKey string

func init() {
	serveCmd.Flags().StringVar(&servePayloadKey, "payload-key", envOr("CAIRN_PAYLOAD_KEY_FILE", ""), "payload key-encryption key file, shared by replicas (default <data>/payload.key, created at first start; env CAIRN_PAYLOAD_KEY_FILE)")
	rotatePayloadKeyCmd.Flags().StringVar(&rotateFlags.data, "data", envOr("CAIRN_DATA", "./cairn-data"), "data directory (env CAIRN_DATA)")
	rotatePayloadKeyCmd.Flags().StringVar(&rotateFlags.store, "store", envOr("CAIRN_STORE", ""), "postgres:// URL, or empty for the embedded store under --data (env CAIRN_STORE)")
	rotatePayloadKeyCmd.Flags().StringVar(&rotateFlags.current, "payload-key", envOr("CAIRN_PAYLOAD_KEY_FILE", ""), "the payload key in use (default <data>/payload.key)")
	rotatePayloadKeyCmd.Flags().StringVar(&rotateFlags.next, "new-payload-key", "", "file of the new payload key, created when it does not exist (default: a new key replaces <data>/payload.key)")
	keysCmd.AddCommand(rotatePayloadKeyCmd)
}

// loadPayloadKey loads serve's KEK, creating it at first start.
func loadPayloadKey(path, dataDir string) (*payloadkey.KEK, error) {
	if path == "" {
		path = filepath.Join(dataDir, "payload.key")
	}
	k, err := payloadkey.LoadOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("payload key %s: %w", path, err)
	}
	return k, nil
}

var rotateFlags struct{ data, store, current, next string }

var rotatePayloadKeyCmd = &cobra.Command{
	Use:   "rotate-payload-key",
	Short: "Re-wrap every data key under a new payload key (servers stopped)",
	Long: `rotate-payload-key re-wraps every data key of the store under a new
key-encryption key and appends payload_key_rotated to each tenant's ledger;
the payloads themselves are not rewritten. Stop the servers first, then start
them with the new key. A rotation that stopped half-way is completed by
running it again with the same keys.

Without --new-payload-key, a new random key replaces <data>/payload.key (or
--payload-key) once every data key is re-wrapped. Destroy the old key when
no backup that needs it is kept.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		return rotatePayloadKey(cmd.Context(), cmd.OutOrStdout())
	},
}

func rotatePayloadKey(ctx context.Context, out io.Writer) error {
	current := rotateFlags.current
	if current == "" {
		current = filepath.Join(rotateFlags.data, "payload.key")
	}
	old, err := payloadkey.Load(current)
	if err != nil {
		return fmt.Errorf("payload key %s: %w", current, err)
	}
	nextPath, replace := rotateFlags.next, rotateFlags.next == ""
	if replace {
		nextPath = current + ".new"
	}
	next, err := payloadkey.Load(nextPath)
	if errors.Is(err, os.ErrNotExist) {
		next, err = payloadkey.LoadOrCreate(nextPath)
	}
	if err != nil {
		return fmt.Errorf("new payload key %s: %w", nextPath, err)
	}
	store, err := openStore(rotateFlags.store, rotateFlags.data)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := service.New(store, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	svc.SetPayloadKey(old)
	n, err := svc.RotatePayloadKey(ctx, next)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "re-wrapped %d data keys under payload key %s (was %s)\n", n, next.ID(), old.ID())
	if replace {
		if err := os.Rename(nextPath, current); err != nil {
			return err
		}
		nextPath = current
	}
	fmt.Fprintf(out, "start the servers with --payload-key %s\n", nextPath)
	return nil
}
