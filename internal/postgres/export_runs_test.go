package postgres

import (
	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
)

// ListRunsQuery is the statement ListRuns runs, for the plan assertions.
func ListRunsQuery(tenant string, f cairn.RunFilter) (string, []any) {
	q, args := sqlstore.ListRunsQuery(tenant, f)
	return sqlstore.Rebind(q), args
}

// PayloadsByKeyQuery is the statement PayloadsByKey runs.
var PayloadsByKeyQuery = sqlstore.Rebind(sqlstore.PayloadsByKeyQuery(dialect))
