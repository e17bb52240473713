package storetest_test

import (
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/internal/storetest"
)

func openSQLite(t *testing.T) cairn.Store {
	s, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSQLite runs the conformance suite against the embedded store. Its
// races run on one store: SQLite has one writer per process.
func TestSQLite(t *testing.T) {
	storetest.Run(t, openSQLite)
	t.Run("Shared", func(t *testing.T) {
		storetest.RunShared(t, func(t *testing.T) func() cairn.Store {
			s := openSQLite(t)
			return func() cairn.Store { return s }
		})
	})
}
