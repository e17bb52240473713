package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/sqlite"
)

var migrateFlags struct {
	store, data string
}

var migrateCmd = &cobra.Command{
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
	RunE: func(cmd *cobra.Command, args []string) error {
		spec := migrateFlags.store
		if isPostgres(spec) {
			applied, err := postgres.Migrate(cmd.Context(), spec)
			if err != nil {
				return err
			}
			for _, v := range applied {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %s\n", v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "postgres schema is at %s (%d migrations applied now)\n", postgres.Versions()[len(postgres.Versions())-1], len(applied))
			return nil
		}
		st, err := openStore(spec, migrateFlags.data)
		if err != nil {
			return err
		}
		st.Close()
		if s, ok := st.(*sqlite.Store); ok {
			fmt.Fprintf(cmd.OutOrStdout(), "embedded store %s is up to date\n", s.Path())
		}
		return nil
	},
}

func init() {
	migrateCmd.Flags().StringVar(&migrateFlags.store, "store", envOr("CAIRN_STORE", ""), "postgres:// URL, or empty for the embedded store (env CAIRN_STORE)")
	migrateCmd.Flags().StringVar(&migrateFlags.data, "data", envOr("CAIRN_DATA", "./cairn-data"), "data directory of the embedded store (env CAIRN_DATA)")
	rootCmd.AddCommand(migrateCmd)
}
