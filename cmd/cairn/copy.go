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
	"github.com/cairnhq/cairn/internal/serve"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// copyOptions are the flags of cairn copy.
type copyOptions struct {
	From, To string
}

func newCopyCmd() *cobra.Command {
	o := &copyOptions{}
	cmd := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return copyStore(cmd.Context(), o.From, o.To, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.From, "from", "", "data directory of the embedded store to copy")
	cmd.Flags().StringVar(&o.To, "to", "", "postgres:// URL of an empty database (migrated by copy)")
	return cmd
}

// Validate checks that --from and --to are given.
func (o *copyOptions) Validate() error {
	if o.From == "" || !serve.IsPostgres(o.To) {
		return fmt.Errorf("copy needs --from DIR and --to postgres://…")
	}
	return nil
}

// copyTable describes one table: its PostgreSQL columns and the SQLite
// expressions that produce them, and each column's kind (i integer, t text,
// b bytes, h a payload hash: sqlstore.PayloadHash).
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
	{name: "jobs", cols: []string{"seq", "tenant", "job_id", "run_id", "state", "action", "decision", "policy_rule_id", "submitted_by", "created_at", "lease_expires_at", "executor", "body"}, kinds: "ittttttttiitb", order: "seq", serial: "seq"},
	{name: "payloads", cols: []string{"tenant", "ptr", "sha256", "data", "key_id"}, kinds: "tthbt", order: "tenant, ptr"},
	{name: "payload_keys", cols: []string{"tenant", "key_id", "subject", "wrapped", "kek_id", "created_at"}, kinds: "tttbti", order: "tenant, key_id"},
	{name: "erased_payloads", cols: []string{"tenant", "ptr", "sha256", "job_id", "entry"}, kinds: "tttti", order: "tenant, ptr"},
	{name: "tenant_settings", cols: []string{"tenant", "body"}, kinds: "tt", order: "tenant"},
	{name: "approvals", cols: []string{"seq", "tenant", "job_id", "status", "run_id", "policy_rule_id", "resolved_by", "requested_at", "expires_at", "body"}, kinds: "ittttttiit", order: "seq", serial: "seq"},
	{name: "runs", cols: []string{"seq", "tenant", "run_id", "workflow_id", "status", "started_by", "wake_at", "body"}, kinds: "itttttit", order: "seq", serial: "seq"},
	{name: "workflows", cols: []string{"seq", "tenant", "workflow_id", "name", "version", "created_at", "body"}, kinds: "itttiit", order: "seq", serial: "seq"},
	{name: "ledger", cols: []string{"tenant", "idx", "type", "run_id", "run_seq", "job_id", "leaf_hash"}, kinds: "tittitb", order: "tenant, idx"},
	{name: "ledger_bodies", cols: []string{"tenant", "idx", "n", "body"}, kinds: "tiib", order: "tenant, idx"},
	{name: "snapshots", cols: []string{"seq", "id", "sha256", "text", "created_at", "created_by"}, src: []string{"rowid", "id", "sha256", "text", "created_at", "created_by"}, kinds: "itttit", order: "rowid", serial: "seq"},
	{name: "policy_active", cols: []string{"one", "snapshot_id", "activated_at"}, kinds: "iti", order: "one"},
	{name: "policy_audit", cols: []string{"seq", "action", "actor", "timestamp", "body"}, kinds: "ittit", order: "seq", serial: "seq"},
	{name: "ledger_nodes", cols: []string{"tenant", "level", "idx", "hash"}, kinds: "tiib", order: "tenant, level, idx"},
	{name: "checkpoints", cols: []string{"tenant", "size", "root_hash", "note", "created_at"}, kinds: "titti", order: "tenant, size"},
	{name: "cosignatures", cols: []string{"tenant", "size", "witness", "note", "created_at"}, kinds: "titti", order: "tenant, size, witness"},
	{name: "store_secrets", cols: []string{"name", "value", "source", "recorded_at"}, kinds: "ttti", order: "name"},
	{name: "tenant_retention", cols: []string{"tenant", "period", "set_by", "set_at"}, kinds: "titi", order: "tenant"},
	{name: "holds", cols: []string{"seq", "tenant", "hold_id", "scope", "target", "status", "body"}, kinds: "itttttt", order: "seq", serial: "seq"},
	{name: "compactions", cols: []string{"tenant", "event", "from_idx", "to_idx", "cutoff"}, kinds: "tiiii", order: "tenant, event"},
}

func copyStore(ctx context.Context, from, to string, out io.Writer) error {
	sdb, stx, err := openCopySource(ctx, from)
	if err != nil {
		return err
	}
	defer sdb.Close()
	defer stx.Rollback()
	if _, err := postgres.Migrate(ctx, to); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	pc, err := pgx.Connect(ctx, to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer pc.Close(context.Background())
	counts, err := copyRows(ctx, stx, pc, out)
	if err != nil {
		return err
	}
	stx.Rollback()
	if err := checkCounts(ctx, pc, counts); err != nil {
		return err
	}
	if err := verifyLedgers(ctx, from, to, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "copy complete: serve it with cairn serve --store <url> --ledger-key %s --payload-key %s\n", filepath.Join(from, "ledger.key"), filepath.Join(from, "payload.key"))
	return nil
}

// openCopySource opens the embedded store in from read-only, in one read
// transaction. Opening it as a store first applies its pending migrations
// and checkpoints its WAL on close, so the file read is complete.
func openCopySource(ctx context.Context, from string) (*sql.DB, *sql.Tx, error) {
	src, err := sqlite.Open(from)
	if err != nil {
		return nil, nil, fmt.Errorf("--from: %w", err)
	}
	src.Close()
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(from, "cairn.db")+"?mode=ro&"+url.Values{"_pragma": {"busy_timeout(10000)"}}.Encode())
	if err != nil {
		return nil, nil, err
	}
	stx, err := sdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		sdb.Close()
		return nil, nil, fmt.Errorf("--from: %w", err)
	}
	return sdb, stx, nil
}

// copyRows copies every table in one PostgreSQL transaction, after
// checking the destination is empty, and returns each table's row count.
func copyRows(ctx context.Context, stx *sql.Tx, pc *pgx.Conn, out io.Writer) (map[string]int64, error) {
	ptx, err := pc.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer ptx.Rollback(context.Background())
	var used bool
	if err := ptx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants) OR EXISTS (SELECT 1 FROM ledger) OR EXISTS (SELECT 1 FROM jobs) OR EXISTS (SELECT 1 FROM api_keys) OR EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM workflows)`).Scan(&used); err != nil {
		return nil, err
	}
	if used {
		return nil, fmt.Errorf("--to: the destination database already holds a Cairn store; copy needs an empty one")
	}
	counts := map[string]int64{}
	for _, tb := range copyTables {
		n, err := copyTableRows(ctx, stx, ptx, tb)
		if err != nil {
			return nil, err
		}
		counts[tb.name] = n
		fmt.Fprintf(out, "copied %-13s %9d rows\n", tb.name, n)
	}
	if _, err := ptx.Exec(ctx, `INSERT INTO ledger_heads(tenant, size, hash)
		SELECT l.tenant, l.idx + 1, encode(l.leaf_hash, 'hex') FROM ledger l
		JOIN (SELECT tenant, max(idx) AS idx FROM ledger GROUP BY tenant) m ON m.tenant = l.tenant AND m.idx = l.idx`); err != nil {
		return nil, fmt.Errorf("ledger heads: %w", err)
	}
	return counts, ptx.Commit(ctx)
}

// copyTableRows copies one table and moves its identity sequence past
// the copied values.
func copyTableRows(ctx context.Context, stx *sql.Tx, ptx pgx.Tx, tb copyTable) (int64, error) {
	if len(tb.kinds) != len(tb.cols) {
		return 0, fmt.Errorf("copy: table %s is described wrongly", tb.name)
	}
	srcCols := tb.src
	if srcCols == nil {
		srcCols = tb.cols
	}
	rows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(srcCols, ", ")+` FROM `+tb.name+` ORDER BY `+tb.order)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", tb.name, err)
	}
	n, err := ptx.CopyFrom(ctx, pgx.Identifier{tb.name}, tb.cols, &sqlRows{rows: rows, kinds: tb.kinds})
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", tb.name, err)
	}
	if tb.serial != "" && n > 0 {
		if _, err := ptx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), (SELECT max(`+tb.serial+`) FROM `+tb.name+`))`, tb.name, tb.serial); err != nil {
			return 0, fmt.Errorf("sequence of %s: %w", tb.name, err)
		}
	}
	return n, nil
}

// checkCounts compares each table's row count after the copy with the
// rows copied.
func checkCounts(ctx context.Context, pc *pgx.Conn, counts map[string]int64) error {
	for _, tb := range copyTables {
		var n int64
		if err := pc.QueryRow(ctx, `SELECT count(*) FROM `+tb.name).Scan(&n); err != nil {
			return err
		}
		if n != counts[tb.name] {
			return fmt.Errorf("verify: %s has %d rows after the copy, %d were copied", tb.name, n, counts[tb.name])
		}
	}
	return nil
}

// verifyLedgers compares every tenant's copied ledger with the source's.
func verifyLedgers(ctx context.Context, from, to string, out io.Writer) error {
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
	return nil
}

// digest summarises a tenant's ledger as verified.
type digest struct {
	size        uint64
	last, root  string
	checkpoints int
}

// ledgerDigest walks a tenant's whole ledger: it recomputes every leaf hash
// and the prev_hash chain (full), rebuilds the Merkle root from the leaves
// and compares it with the stored tree (full) and, at each checkpoint's
// size, with the checkpoint's root hash.
func ledgerDigest(ctx context.Context, s cairn.Store, tenant string, full bool) (digest, error) {
	var d digest
	err := s.View(ctx, func(tx cairn.ReadTx) error {
		size, err := tx.LedgerSize(tenant)
		if err != nil {
			return err
		}
		cps, err := checkpointRoots(tx, tenant)
		if err != nil {
			return err
		}
		w := &ledgerWalk{cps: cps, full: full, a: tree.NewAppender()}
		if err := w.walk(tx, tenant, size); err != nil {
			return err
		}
		root := w.a.Root()
		if full && size > 0 {
			stored, err := tree.RootAt(size, cairn.TenantNodes{Src: tx, Tenant: tenant})
			if err != nil {
				return fmt.Errorf("stored tree: %w", err)
			}
			if stored != root {
				return fmt.Errorf("the stored Merkle tree does not match the leaves")
			}
		}
		d = digest{size: size, last: w.prev, root: hex.EncodeToString(root[:]), checkpoints: w.checkpoints}
		return nil
	})
	return d, err
}

// checkpointRoots maps each checkpoint's size to its root hash.
func checkpointRoots(tx cairn.ReadTx, tenant string) (map[uint64]string, error) {
	cps := map[uint64]string{}
	for after := int64(0); ; {
		page, err := tx.ListCheckpoints(tenant, cairn.Page{Limit: 1000, After: after})
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			cps[c.Size] = c.RootHash
		}
		if len(page) < 1000 {
			return cps, nil
		}
		after = int64(page[len(page)-1].Size)
	}
}

// ledgerWalk appends a ledger's leaves in order, checking the chain (full)
// and the root at each checkpoint.
type ledgerWalk struct {
	cps         map[uint64]string
	full        bool
	a           *tree.Appender
	prev        string
	checkpoints int
}

func (w *ledgerWalk) walk(tx cairn.ReadTx, tenant string, size uint64) error {
	for from := uint64(0); from < size; {
		es, err := tx.LedgerEntries(tenant, from, 5000)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return fmt.Errorf("ledger ends at %d, its size is %d", from, size)
		}
		for _, e := range es {
			if err := w.add(from, e); err != nil {
				return err
			}
			from++
		}
	}
	return nil
}

// add appends entry e, which must have index i.
func (w *ledgerWalk) add(i uint64, e *cairn.LedgerEntry) error {
	if e.Index != i {
		return fmt.Errorf("entry %d has index %d", i, e.Index)
	}
	leaf := ledger.LeafHash(e.Body)
	if e.Pruned { // by retention: the stored leaf hash is all there is
		h, err := hex.DecodeString(e.LeafHash)
		if err != nil || len(h) != 32 {
			return fmt.Errorf("entry %d: pruned, with a malformed leaf hash", i)
		}
		leaf = [32]byte(h)
	}
	if w.full && (ledger.HashHex(leaf) != e.LeafHash || e.PrevHash != w.prev) {
		return fmt.Errorf("entry %d: leaf hash or chain does not verify", i)
	}
	w.prev = e.LeafHash
	if _, err := w.a.Append(leaf); err != nil {
		return err
	}
	if root, ok := w.cps[i+1]; ok {
		r := w.a.Root()
		if root != hex.EncodeToString(r[:]) {
			return fmt.Errorf("checkpoint at size %d does not match the ledger", i+1)
		}
		w.checkpoints++
	}
	return nil
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
		case 'h':
			switch x := v.(type) {
			case []byte:
				out[i] = append([]byte(nil), x...)
			case string:
				// A payload hash stored before SQLite's 0012, as hex: the
				// stored form PostgreSQL's 0011 gives such a row.
				b, err := sqlstore.PayloadHash(x)
				if err != nil {
					return nil, fmt.Errorf("column %d: %w", i, err)
				}
				out[i] = b
			default:
				return nil, fmt.Errorf("column %d: %T is not a payload hash", i, v)
			}
		}
	}
	return out, nil
}

func (r *sqlRows) Err() error { return r.rows.Err() }
