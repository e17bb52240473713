package sqlite

import "github.com/cairnhq/cairn"

// ListRunsQuery is the statement ListRuns runs, for the plan assertions.
func ListRunsQuery(tenant string, f cairn.RunFilter) (string, []any) { return listRunsQuery(tenant, f) }

// OpenRunJobsQuery is the statement OpenRunJobs runs.
const OpenRunJobsQuery = openRunJobsQuery
