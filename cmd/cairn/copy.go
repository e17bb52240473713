package main

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

var copyFlags struct {
	from, to string
}

var copyCmd = &cobra.Command{
	Use:   "copy --from DIR --to postgres://…",
	Short: "Move an embedded store to PostgreSQL with its ledger intact",
	Long: `copy moves the embedded store in --from (a cairn serve --data directory) into
the empty PostgreSQL database --to, table by table and row by row: ledger
entries keep their bodies, indexes and hashes, the Merkle tree nodes,
checkpoints and cosignatures are copied as they are, and every job, run,
workflow, approval, key and payload keeps its identity. Stop the server first.

It then verifies the copy: every ledger entry's leaf hash and hash chain,
the Merkle root rebuilt from the leaves against the stored tree and against
every copied checkpoint, and each table's row count against the source.
Checkpoints signed before the move verify after it: serve the PostgreSQL
store with the same --ledger-key, export, and cairn verify the bundle with
--trusted-checkpoint set to a checkpoint taken before the move.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		if copyFlags.from == "" || !isPostgres(copyFlags.to) {
			return fmt.Errorf("copy needs --from DIR and --to postgres://…")
		}
		return copyStore(cmd.Context(), copyFlags.from, copyFlags.to, cmd.OutOrStdout())
	},
}

func init() {
	copyCmd.Flags().StringVar(&copyFlags.from, "from", "", "data directory of the embedded store to copy")
	copyCmd.Flags().StringVar(&copyFlags.to, "to", "", "postgres:// URL of an empty database (migrated by copy)")
	rootCmd.AddCommand(copyCmd)
}

// copyTable describes one table: its PostgreSQL columns and the SQLite
// expressions that produce them, and each column's kind (i integer, t text,
// b bytes).
type copyTable struct {
	name   string
	cols   []string
	src    []string // SQLite select expressions; nil = cols
	kinds  string
	order  string
	serial string // identity column whose sequence follows the copied values
}

var copyTables = []copyTable{
	{name: "tenants", cols: []string{"tenant", "created_at"}, kinds: "ti", order: "tenant"},
	{name: "api_keys", cols: []string{"seq", "key_id", "tenant", "hash", "body", "created_at", "revoked_at"}, src: []string{"rowid", "key_id", "tenant", "hash", "body", "created_at", "revoked_at"}, kinds: "ittttii", order: "rowid", serial: "seq"},
	{name: "jobs", cols: []string{"seq", "tenant", "job_id", "run_id", "state", "action", "decision", "policy_rule_id", "submitted_by", "created_at", "lease_expires_at", "executor", "body"}, kinds: "ittttttttiitt", order: "seq", serial: "seq"},
	{name: "payloads", cols: []string{"tenant", "ptr", "sha256", "data"}, kinds: "tttb", order: "tenant, ptr"},
	{name: "approvals", cols: []string{"seq", "tenant", "job_id", "status", "run_id", "policy_rule_id", "resolved_by", "requested_at", "expires_at", "body"}, kinds: "ittttttiit", order: "seq", serial: "seq"},
	{name: "runs", cols: []string{"seq", "tenant", "run_id", "workflow_id", "status", "started_by", "wake_at", "body"}, kinds: "itttttit", order: "seq", serial: "seq"},
	{name: "workflows", cols: []string{"seq", "tenant", "workflow_id", "name", "version", "created_at", "body"}, kinds: "itttiit", order: "seq", serial: "seq"},
	{name: "ledger", cols: []string{"tenant", "idx", "type", "run_id", "run_seq", "job_id", "body", "leaf_hash", "prev_hash"}, kinds: "tittitttt", order: "tenant, idx"},
	{name: "snapshots", cols: []string{"seq", "id", "sha256", "text", "created_at", "created_by"}, src: []string{"rowid", "id", "sha256", "text", "created_at", "created_by"}, kinds: "itttit", order: "rowid", serial: "seq"},
	{name: "policy_active", cols: []string{"one", "snapshot_id", "activated_at"}, kinds: "iti", order: "one"},
	{name: "policy_audit", cols: []string{"seq", "action", "actor", "timestamp", "body"}, kinds: "ittit", order: "seq", serial: "seq"},
	{name: "ledger_nodes", cols: []string{"tenant", "level", "idx", "hash"}, kinds: "tiib", order: "tenant, level, idx"},
	{name: "checkpoints", cols: []string{"tenant", "size", "root_hash", "note", "created_at"}, kinds: "titti", order: "tenant, size"},
	{name: "cosignatures", cols: []string{"tenant", "size", "witness", "note", "created_at"}, kinds: "titti", order: "tenant, size, witness"},
	{name: "store_secrets", cols: []string{"name", "value", "source", "recorded_at"}, kinds: "ttti", order: "name"},
}

func copyStore(ctx context.Context, from, to string, out io.Writer) error {
	// Opening the embedded store applies its pending migrations and
	// checkpoints its WAL on close, so the file read below is complete.
	src, err := sqlite.Open(from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	src.Close()
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(from, "cairn.db")+"?mode=ro&"+url.Values{"_pragma": {"busy_timeout(10000)"}}.Encode())
	if err != nil {
		return err
	}
	defer sdb.Close()
	stx, err := sdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer stx.Rollback()

	if _, err := postgres.Migrate(ctx, to); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	pc, err := pgx.Connect(ctx, to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer pc.Close(context.Background())
	ptx, err := pc.Begin(ctx)
	if err != nil {
		return err
	}
	defer ptx.Rollback(context.Background())
	var used bool
	if err := ptx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants) OR EXISTS (SELECT 1 FROM ledger) OR EXISTS (SELECT 1 FROM jobs) OR EXISTS (SELECT 1 FROM api_keys) OR EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM workflows)`).Scan(&used); err != nil {
		return err
	}
	if used {
		return fmt.Errorf("--to: the destination database already holds a Cairn store; copy needs an empty one")
	}
	counts := map[string]int64{}
	for _, tb := range copyTables {
		if len(tb.kinds) != len(tb.cols) {
			return fmt.Errorf("copy: table %s is described wrongly", tb.name)
		}
		srcCols := tb.src
		if srcCols == nil {
			srcCols = tb.cols
		}
		rows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(srcCols, ", ")+` FROM `+tb.name+` ORDER BY `+tb.order)
		if err != nil {
			return fmt.Errorf("read %s: %w", tb.name, err)
		}
		n, err := ptx.CopyFrom(ctx, pgx.Identifier{tb.name}, tb.cols, &sqlRows{rows: rows, kinds: tb.kinds})
		rows.Close()
		if err != nil {
			return fmt.Errorf("copy %s: %w", tb.name, err)
		}
		counts[tb.name] = n
		if tb.serial != "" && n > 0 {
			if _, err := ptx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), (SELECT max(`+tb.serial+`) FROM `+tb.name+`))`, tb.name, tb.serial); err != nil {
				return fmt.Errorf("sequence of %s: %w", tb.name, err)
			}
		}
		fmt.Fprintf(out, "copied %-13s %9d rows\n", tb.name, n)
	}
	if _, err := ptx.Exec(ctx, `INSERT INTO ledger_heads(tenant, size, hash)
		SELECT l.tenant, l.idx + 1, l.leaf_hash FROM ledger l
		JOIN (SELECT tenant, max(idx) AS idx FROM ledger GROUP BY tenant) m ON m.tenant = l.tenant AND m.idx = l.idx`); err != nil {
		return fmt.Errorf("ledger heads: %w", err)
	}
	if err := ptx.Commit(ctx); err != nil {
		return err
	}
	stx.Rollback()

	// Verify the copy against itself and against the source.
	for _, tb := range copyTables {
		var n int64
		if err := pc.QueryRow(ctx, `SELECT count(*) FROM `+tb.name).Scan(&n); err != nil {
			return err
		}
		if n != counts[tb.name] {
			return fmt.Errorf("verify: %s has %d rows after the copy, %d were copied", tb.name, n, counts[tb.name])
		}
	}
	srcStore, err := sqlite.Open(from)
	if err != nil {
		return err
	}
	defer srcStore.Close()
	dst, err := postgres.Open(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()
	var tenants []string
	if err := srcStore.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		tenants, err = tx.Tenants()
		return err
	}); err != nil {
		return err
	}
	for _, tenant := range tenants {
		want, err := ledgerDigest(ctx, srcStore, tenant, false)
		if err != nil {
			return fmt.Errorf("verify source %s: %w", tenant, err)
		}
		got, err := ledgerDigest(ctx, dst, tenant, true)
		if err != nil {
			return fmt.Errorf("verify %s: %w", tenant, err)
		}
		if got != want {
			return fmt.Errorf("verify %s: copied ledger %+v differs from the source %+v", tenant, got, want)
		}
		fmt.Fprintf(out, "verified tenant %s: %d ledger entries, root %s, %d checkpoints consistent\n", tenant, got.size, got.root, got.checkpoints)
	}
	fmt.Fprintf(out, "copy complete: serve it with cairn serve --store <url> --ledger-key %s\n", filepath.Join(from, "ledger.key"))
	return nil
}

// digest summarises a tenant's ledger as verified.
type digest struct {
	size        uint64
	last, root  string
	checkpoints int
}

// ledgerDigest walks a tenant's whole ledger: it recomputes every leaf hash
// and the prev_hash chain, rebuilds the Merkle root from the leaves and
// compares it with the stored tree and, at each checkpoint's size, with the
// checkpoint's root hash.
func ledgerDigest(ctx context.Context, s cairn.Store, tenant string, full bool) (digest, error) {
	var d digest
	err := s.View(ctx, func(tx cairn.ReadTx) error {
		size, err := tx.LedgerSize(tenant)
		if err != nil {
			return err
		}
		cps := map[uint64]string{}
		for after := int64(0); ; {
			page, err := tx.ListCheckpoints(tenant, cairn.Page{Limit: 1000, After: after})
			if err != nil {
				return err
			}
			for _, c := range page {
				cps[c.Size] = c.RootHash
			}
			if len(page) < 1000 {
				break
			}
			after = int64(page[len(page)-1].Size)
		}
		a := tree.NewAppender()
		prev := ""
		for from := uint64(0); from < size; {
			es, err := tx.LedgerEntries(tenant, from, 5000)
			if err != nil {
				return err
			}
			if len(es) == 0 {
				return fmt.Errorf("ledger ends at %d, its size is %d", from, size)
			}
			for _, e := range es {
				if e.Index != from {
					return fmt.Errorf("entry %d has index %d", from, e.Index)
				}
				leaf := ledger.LeafHash(e.Body)
				if full && (ledger.HashHex(leaf) != e.LeafHash || e.PrevHash != prev) {
					return fmt.Errorf("entry %d: leaf hash or chain does not verify", from)
				}
				prev = e.LeafHash
				if _, err := a.Append(leaf); err != nil {
					return err
				}
				from++
				if root, ok := cps[from]; ok {
					r := a.Root()
					if root != hex.EncodeToString(r[:]) {
						return fmt.Errorf("checkpoint at size %d does not match the ledger", from)
					}
					d.checkpoints++
				}
			}
		}
		root := a.Root()
		if full && size > 0 {
			stored, err := tree.RootAt(size, cairn.TenantNodes{Src: tx, Tenant: tenant})
			if err != nil {
				return fmt.Errorf("stored tree: %w", err)
			}
			if stored != root {
				return fmt.Errorf("the stored Merkle tree does not match the leaves")
			}
		}
		d.size, d.last, d.root = size, prev, hex.EncodeToString(root[:])
		return nil
	})
	return d, err
}

// sqlRows streams SQLite rows into COPY, converting each column to its
// PostgreSQL kind.
type sqlRows struct {
	rows  *sql.Rows
	kinds string
}

func (r *sqlRows) Next() bool { return r.rows.Next() }

func (r *sqlRows) Values() ([]any, error) {
	n := len(r.kinds)
	raw := make([]any, n)
	ptrs := make([]any, n)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i, v := range raw {
		if v == nil {
			continue
		}
		switch r.kinds[i] {
		case 'i':
			x, ok := v.(int64)
			if !ok {
				return nil, fmt.Errorf("column %d: %T is not an integer", i, v)
			}
			out[i] = x
		case 't':
			switch x := v.(type) {
			case string:
				out[i] = x
			case []byte:
				out[i] = string(x)
			default:
				return nil, fmt.Errorf("column %d: %T is not text", i, v)
			}
		case 'b':
			switch x := v.(type) {
			case []byte:
				out[i] = append([]byte(nil), x...)
			case string:
				out[i] = []byte(x)
			default:
				return nil, fmt.Errorf("column %d: %T is not bytes", i, v)
			}
		}
	}
	return out, nil
}

func (r *sqlRows) Err() error { return r.rows.Err() }
