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
	"github.com/cairnhq/cairn/internal/serve"
	"github.com/cairnhq/cairn/internal/service"
)

// rotatePayloadKeyOptions are the flags of cairn keys rotate-payload-key
// (encryption at rest, ADR 0048).
type rotatePayloadKeyOptions struct {
	Data, Store, Current, Next string
}

func newKeysRotatePayloadKeyCmd() *cobra.Command {
	o := &rotatePayloadKeyOptions{}
	cmd := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	envStringVar(fs, &o.Data, "data", "CAIRN_DATA", "./cairn-data", "data directory (env CAIRN_DATA)")
	envStringVar(fs, &o.Store, "store", "CAIRN_STORE", "", "postgres:// URL, or empty for the embedded store under --data (env CAIRN_STORE)")
	envStringVar(fs, &o.Current, "payload-key", "CAIRN_PAYLOAD_KEY_FILE", "", "the payload key in use (default <data>/payload.key; env CAIRN_PAYLOAD_KEY_FILE)")
	fs.StringVar(&o.Next, "new-payload-key", "", "file of the new payload key, created when it does not exist (default: a new key replaces the one in use)")
	return cmd
}

func (o *rotatePayloadKeyOptions) run(ctx context.Context, out io.Writer) error {
	current := o.Current
	if current == "" {
		current = filepath.Join(o.Data, "payload.key")
	}
	old, err := payloadkey.Load(current)
	if err != nil {
		return fmt.Errorf("payload key %s: %w", current, err)
	}
	nextPath, replace := o.Next, o.Next == ""
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
	store, err := serve.OpenStore(o.Store, o.Data)
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
