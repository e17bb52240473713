package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

// flatRows is a synthetic soak: rows of constant resources, then f applied
// to each row by its index.
func flatRows(n int, f func(i int, r *soakRow)) []soakRow {
	rows := make([]soakRow, n)
	for i := range rows {
		rows[i] = soakRow{At: time.Duration(i+1) * time.Minute, Ops: 6000, RSS: 50 << 20, Goroutines: 40, FDs: 30}
		if f != nil {
			f(i, &rows[i])
		}
	}
	return rows
}

func TestJudgeSoak(t *testing.T) {
	cases := []struct {
		name     string
		rows     []soakRow
		flat, ok bool
		reason   string
	}{
		{"flat", flatRows(30, nil), true, true, ""},
		{"warm-up growth is ignored", flatRows(30, func(i int, r *soakRow) {
			if i < 10 {
				r.RSS = int64(20+3*i) << 20
				r.Goroutines = int64(10 + 3*i)
			}
		}), true, true, ""},
		{"noise within the tolerances", flatRows(30, func(i int, r *soakRow) {
			r.Goroutines += int64(i % 7)
			r.FDs += int64(i % 4)
			r.RSS += int64(i%3) << 20
		}), true, true, ""},
		{"requests in flight swing, the floor does not", flatRows(30, func(i int, r *soakRow) {
			if i >= 20 && i%2 == 0 {
				r.Goroutines += 30
				r.FDs += 30
			}
		}), true, true, ""},
		{"RSS grows 1 MB a minute", flatRows(30, func(i int, r *soakRow) { r.RSS = int64(50+i) << 20 }), false, false, "RSS"},
		{"goroutines leak", flatRows(30, func(i int, r *soakRow) { r.Goroutines = int64(40 + 2*i) }), false, false, "goroutines"},
		{"descriptors leak", flatRows(30, func(i int, r *soakRow) { r.FDs = int64(30 + i) }), false, false, "open fds"},
		{"errors", flatRows(30, func(i int, r *soakRow) {
			if i == 17 {
				r.Errors = 2
			}
		}), true, false, ""},
		{"too short to judge", flatRows(2, nil), false, false, "at least 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := judgeSoak(c.rows)
			if v.Flat != c.flat || v.OK() != c.ok {
				t.Fatalf("flat %v ok %v, want flat %v ok %v (%v)", v.Flat, v.OK(), c.flat, c.ok, v.Reasons)
			}
			if c.reason != "" && (len(v.Reasons) != 1 || !strings.Contains(v.Reasons[0], c.reason)) {
				t.Fatalf("reasons %q, want one naming %q", v.Reasons, c.reason)
			}
			if c.reason == "" && len(v.Reasons) > 0 {
				t.Fatalf("unexpected reasons %q", v.Reasons)
			}
		})
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 37\n" +
		"go_goroutines_total{x=\"1\"} 9\nprocess_resident_memory_bytes 5.4525952e+07\n"
	if v, ok := metricValue(text, "go_goroutines"); !ok || v != 37 {
		t.Fatalf("go_goroutines = %v %v", v, ok)
	}
	if v, ok := metricValue(text, "process_resident_memory_bytes"); !ok || v != 54525952 {
		t.Fatalf("rss = %v %v", v, ok)
	}
	if _, ok := metricValue(text, "process_open_fds"); ok {
		t.Fatal("found a metric that is not there")
	}
}

// TestSoakShort runs a 5-second soak against a cairn serve process on a
// fresh embedded store: a row a second with the server's resources and
// every operation kind, no errors, and the CSV has the same rows.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	var out bytes.Buffer
	o := soakOptions{duration: 5 * time.Second, interval: time.Second, rate: 40, senders: 8,
		serverBin: cairnBinary(t), data: t.TempDir(), out: &out}
	rows, errs, err := runSoak(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Fatalf("errors: %q", errs)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5:\n%s", len(rows), out.String())
	}
	checkSoakRows(t, rows)
	if v := judgeSoak(rows); v.Errors != 0 {
		t.Fatalf("%d errors", v.Errors)
	}
	if n := strings.Count(out.String(), "\n"); n != 2+len(rows) {
		t.Fatalf("printed %d lines, want a title, a header and %d rows:\n%s", n, len(rows), out.String())
	}
	checkSoakCSV(t, rows)
}

// checkSoakRows: every row has each measurement, and each operation kind
// ran.
func checkSoakRows(t *testing.T, rows []soakRow) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range rows {
		if r.Ops == 0 || r.RSS < 1<<20 || r.Goroutines == 0 || r.FDs == 0 || r.WAL < 0 || r.DB <= 0 {
			t.Fatalf("row %d lacks a measurement: %+v", i, r)
		}
		for k, d := range r.P99 {
			if d > 0 {
				seen[k] = true
			}
		}
	}
	for _, k := range opKinds {
		if !seen[k] {
			t.Errorf("no %s operation in the soak", k)
		}
	}
}

// checkSoakCSV: rows written as CSV read back the same.
func checkSoakCSV(t *testing.T, rows []soakRow) {
	t.Helper()
	var buf bytes.Buffer
	if err := writeSoakCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	back, err := readSoakCSV(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		a, b := rows[i], back[i]
		if a.At.Truncate(time.Second) != b.At || a.Ops != b.Ops || a.RSS != b.RSS || a.Goroutines != b.Goroutines || a.FDs != b.FDs || a.DB != b.DB ||
			(a.P99[opSubmit]-b.P99[opSubmit]).Abs() > 10*time.Microsecond {
			t.Fatalf("row %d read back from CSV as %+v, written %+v", i, b, a)
		}
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(rows) || recs[0][0] != "elapsed_s" || len(recs[1]) != 8+len(opKinds) {
		t.Fatalf("csv: %q", recs)
	}
}
