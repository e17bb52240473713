package sqlite

import (
	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
)

// ListRunsQuery is the statement ListRuns runs, for the plan assertions.
func ListRunsQuery(tenant string, f cairn.RunFilter) (string, []any) {
	return sqlstore.ListRunsQuery(tenant, f)
}

// OpenRunJobsQuery is the statement OpenRunJobs runs.
var OpenRunJobsQuery = sqlstore.OpenRunJobsQuery(dialect)

// PayloadsByKeyQuery is the statement PayloadsByKey runs.
var PayloadsByKeyQuery = sqlstore.PayloadsByKeyQuery(dialect)

// ListJobsQuery is the statement ListJobs runs.
func ListJobsQuery(tenant string, f cairn.JobFilter) (string, []any) {
	return sqlstore.ListJobsQuery(dialect, tenant, f)
}
