package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/serve"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// migrateOptions are the flags of cairn migrate.
type migrateOptions struct {
	Store, Data string
}

func newMigrateCmd() *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's schema migrations and exit",
		Long: `migrate applies the embedded, ordered schema migrations that the store lacks
and exits. cairn serve does the same at start, so running it is optional; it
lets an operator migrate once before rolling out a new version. Replicas
that start or migrate together wait for one another (PostgreSQL advisory
lock), so each migration runs once.

The store is --store (env CAIRN_STORE): a postgres:// URL, or the embedded
store under --data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	envStringVar(fs, &o.Store, "store", "CAIRN_STORE", "", "postgres:// URL, or empty for the embedded store (env CAIRN_STORE)")
	envStringVar(fs, &o.Data, "data", "CAIRN_DATA", "./cairn-data", "data directory of the embedded store (env CAIRN_DATA)")
	return cmd
}

func (o *migrateOptions) run(ctx context.Context, out io.Writer) error {
	if serve.IsPostgres(o.Store) {
		applied, err := postgres.Migrate(ctx, o.Store)
		if err != nil {
			return err
		}
		for _, v := range applied {
			fmt.Fprintf(out, "applied %s\n", v)
		}
		fmt.Fprintf(out, "postgres schema is at %s (%d migrations applied now)\n", postgres.Versions()[len(postgres.Versions())-1], len(applied))
		return nil
	}
	st, err := serve.OpenStore(o.Store, o.Data)
	if err != nil {
		return err
	}
	st.Close()
	if s, ok := st.(*sqlite.Store); ok {
		fmt.Fprintf(out, "embedded store %s is up to date\n", s.Path())
	}
	return nil
}
