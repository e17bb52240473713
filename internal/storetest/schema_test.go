package storetest_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// The two migration trees must produce one logical schema: the shared SQL
// (internal/sqlstore) runs unchanged on both. Where they differ on
// purpose, the difference is listed here, and nowhere else.
var (
	// Tables only one engine has: PostgreSQL's locked ledger heads and
	// write epoch (its writers are several replicas), SQLite's
	// AUTOINCREMENT bookkeeping; each engine's own migrations table.
	engineTables = []string{"ledger_heads", "write_epoch", "sqlite_sequence", "schema_migrations"}
	// Columns only PostgreSQL has: SQLite orders these tables by their
	// implicit rowid (sqlstore.Dialect.RowSeq). And jobs.body, declared
	// differently: bytea in PostgreSQL since its 0007, while SQLite keeps
	// the TEXT column and stores BLOBs (zstd frames) in it since its 0008
	// (a SQLite column's type does not bind its values; ADR 0044); and
	// payloads.sha256 likewise: bytea in PostgreSQL since its 0011, while
	// SQLite's TEXT column keeps the hex of older rows and 32-byte BLOBs
	// of new ones since its 0012 (ADR 0047).
	engineColumns = []string{"api_keys.seq", "snapshots.seq", "jobs.body", "payloads.sha256"}
	// Indexes that differ in form, not in what they serve. A SQLite index
	// on a rowid table ends with the rowid implicitly (seq, where seq is
	// the INTEGER PRIMARY KEY); PostgreSQL names it.
	engineIndexes = map[string]string{
		"api_keys_tenant": "SQLite (tenant, created_at) + rowid; PostgreSQL (tenant, seq)",
		"runs_wake":       "SQLite (wake_at) + rowid seq; PostgreSQL (wake_at, seq)",
		// Since SQLite's 0012 (ADR 0047): the same form, seq not named twice.
		"jobs_state":         "SQLite (tenant, state) + rowid seq; PostgreSQL (tenant, state, seq)",
		"jobs_run":           "SQLite (tenant, run_id) + rowid seq; PostgreSQL (tenant, run_id, seq)",
		"jobs_queued":        "SQLite (tenant) + rowid seq; PostgreSQL (tenant, seq)",
		"jobs_queued_action": "SQLite (tenant, action) + rowid seq; PostgreSQL (tenant, action, seq)",
		"runs_tenant":        "unique in PostgreSQL (seq is not the primary key there)",
		"ledger_job":         "partial (job_id IS NOT NULL) in PostgreSQL",
		"workflows_name":     "a UNIQUE constraint in PostgreSQL",
		"workflows_tenant":   "the PRIMARY KEY (tenant, seq) in PostgreSQL",
	}
)

// column is a column as both engines can describe it.
type column struct {
	Type    string // integer, text or blob
	NotNull bool
}

// index is an explicitly created index: its table, columns, uniqueness and
// whether it is partial.
type index struct {
	Table   string
	Columns string
	Unique  bool
	Partial bool
}

type schema struct {
	columns map[string]column // "table.column"
	indexes map[string]index  // by name
}

// normType maps both engines' column types to integer, text or blob.
func normType(t string) string {
	switch t = strings.ToLower(t); t {
	case "integer", "bigint", "int", "int4", "int8", "smallint":
		return "integer"
	case "text", "character varying", "varchar", "jsonb":
		return "text"
	case "blob", "bytea":
		return "blob"
	}
	return t
}

func sqliteSchema(t *testing.T) schema {
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := schema{columns: map[string]column{}, indexes: map[string]index{}}
	tables := strCol(t, db, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	for _, table := range tables {
		rows, err := db.Query(`SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, typ string
			var notNull, pk int
			if err := rows.Scan(&name, &typ, &notNull, &pk); err != nil {
				t.Fatal(err)
			}
			// A PRIMARY KEY column is NOT NULL in PostgreSQL always; SQLite
			// reports an INTEGER PRIMARY KEY (the rowid) as nullable.
			out.columns[table+"."+name] = column{Type: normType(typ), NotNull: notNull == 1 || pk > 0}
		}
		rows.Close()
	}
	rows, err := db.Query(`SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, table, def string
		if err := rows.Scan(&name, &table, &def); err != nil {
			t.Fatal(err)
		}
		out.indexes[name] = parseIndex(t, table, def)
	}
	return out
}

func postgresSchema(t *testing.T) schema {
	dsn := freshSchema(t)
	ctx := context.Background()
	if _, err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	out := schema{columns: map[string]column{}, indexes: map[string]index{}}
	rows, err := c.Query(ctx, `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, name, typ, nullable string
		if err := rows.Scan(&table, &name, &typ, &nullable); err != nil {
			t.Fatal(err)
		}
		out.columns[table+"."+name] = column{Type: normType(typ), NotNull: nullable == "NO"}
	}
	rows.Close()
	// Explicitly created indexes only: those behind a constraint (primary
	// keys, UNIQUE) are the tables' keys, which SQLite names by itself.
	rows, err = c.Query(ctx, `SELECT i.indexname, i.tablename, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname AND k.connamespace = current_schema()::regnamespace)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, table, def string
		if err := rows.Scan(&name, &table, &def); err != nil {
			t.Fatal(err)
		}
		out.indexes[name] = parseIndex(t, table, def)
	}
	return out
}

var indexDef = regexp.MustCompile(`(?is)^CREATE (UNIQUE )?INDEX .*? ON [^(]*\((.*?)\)\s*(WHERE .*)?$`)

// parseIndex reads a CREATE INDEX statement of either engine.
func parseIndex(t *testing.T, table, def string) index {
	m := indexDef.FindStringSubmatch(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(def), ";")))
	if m == nil {
		t.Fatalf("cannot read index definition %q", def)
	}
	var cols []string
	for _, c := range strings.Split(m[2], ",") {
		cols = append(cols, strings.ToLower(strings.TrimSpace(c)))
	}
	return index{Table: table, Columns: strings.Join(cols, ", "), Unique: m[1] != "", Partial: m[3] != ""}
}

func strCol(t *testing.T, db *sql.DB, q string) []string {
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestSchemasAgree checks that both migration trees produce the same
// tables, columns (types normalised), nullability and indexes, but for the
// differences listed above.
func TestSchemasAgree(t *testing.T) {
	if os.Getenv("CAIRN_TEST_POSTGRES") == "" {
		t.Skip("CAIRN_TEST_POSTGRES is not set")
	}
	lite, pg := sqliteSchema(t), postgresSchema(t)
	skip := func(key string) bool {
		table, _, _ := strings.Cut(key, ".")
		return slices.Contains(engineTables, table) || slices.Contains(engineColumns, key)
	}
	var diffs []string
	for _, k := range keys(lite.columns, pg.columns) {
		if skip(k) {
			continue
		}
		if a, b := lite.columns[k], pg.columns[k]; a != b {
			diffs = append(diffs, fmt.Sprintf("column %s: sqlite %+v, postgres %+v", k, a, b))
		}
	}
	for _, k := range keys(lite.indexes, pg.indexes) {
		a, b := lite.indexes[k], pg.indexes[k]
		if _, ok := engineIndexes[k]; ok || slices.Contains(engineTables, a.Table) || slices.Contains(engineTables, b.Table) {
			continue
		}
		if a != b {
			diffs = append(diffs, fmt.Sprintf("index %s: sqlite %+v, postgres %+v", k, a, b))
		}
	}
	for _, d := range diffs {
		t.Error(d)
	}
	if len(lite.columns) < 50 || len(lite.indexes) < 10 {
		t.Fatalf("read only %d columns and %d indexes of the SQLite schema", len(lite.columns), len(lite.indexes))
	}
}

func keys[V any](a, b map[string]V) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
