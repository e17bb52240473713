package postgres

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
)

// --- runs (listing) and workflows ---

func runsWithSeq(rows pgx.Rows, err error) ([]*cairn.Run, error) {
	rs, seqs, err := scanBodies[cairn.Run](rows, err, true)
	for i := range rs {
		rs[i].Seq = seqs[i]
	}
	return rs, err
}

// ListRuns reads the database (after the transaction's pending writes):
// lists are not served from the writer's cache.
func (t *rtx) ListRuns(tenant string, f cairn.RunFilter) ([]*cairn.Run, error) {
	q, args := listRunsQuery(tenant, f)
	return runsWithSeq(t.query(q, args...))
}

// listRunsQuery is ListRuns' statement. Every filter is an indexed column
// and the order is seq, so a page walks one index newest first: runs_tenant,
// runs_status, runs_workflow, runs_started_by (the starter, with or without
// a workflow) or runs_started_by_status (the starter and a status), see
// migrations 0002 and 0003. TestListRunsPlan checks that the starter's
// indexes serve it.
func listRunsQuery(tenant string, f cairn.RunFilter) (string, []any) {
	w := &where{}
	w.add("tenant = ?", tenant)
	w.eq("workflow_id", f.WorkflowID)
	w.eq("status", f.Status)
	w.eq("started_by", f.StartedBy)
	if f.After > 0 {
		w.add("seq < ?", f.After)
	}
	q := `SELECT seq, body FROM runs WHERE ` + w.sql() + ` ORDER BY seq DESC` + w.limit(f.Limit)
	return q, w.args
}

func (t *rtx) DueRuns(now time.Time, limit int) ([]*cairn.Run, error) {
	return runsWithSeq(t.query(`SELECT seq, body FROM runs WHERE wake_at IS NOT NULL AND wake_at <= $1 ORDER BY wake_at, seq LIMIT $2`, nanos(now), limit))
}

func workflowsWithSeq(rows pgx.Rows, err error) ([]*cairn.Workflow, error) {
	ws, seqs, err := scanBodies[cairn.Workflow](rows, err, true)
	for i := range ws {
		ws[i].Seq = seqs[i]
	}
	return ws, err
}

func (t *rtx) GetWorkflow(tenant, workflowID string) (*cairn.Workflow, error) {
	ws, err := workflowsWithSeq(t.query(`SELECT seq, body FROM workflows WHERE tenant = $1 AND workflow_id = $2`, tenant, workflowID))
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, cairn.NotFound("workflow %q not found", workflowID)
	}
	return ws[0], nil
}

func (t *rtx) LatestWorkflow(tenant, name string) (*cairn.Workflow, error) {
	ws, err := workflowsWithSeq(t.query(`SELECT seq, body FROM workflows WHERE tenant = $1 AND name = $2 ORDER BY version DESC LIMIT 1`, tenant, name))
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, cairn.NotFound("workflow %q not found", name)
	}
	return ws[0], nil
}

func (t *rtx) ListWorkflows(tenant string, f cairn.WorkflowFilter) ([]*cairn.Workflow, error) {
	w := &where{}
	w.add("tenant = ?", tenant)
	w.eq("name", f.Name)
	if f.After > 0 {
		w.add("seq < ?", f.After)
	}
	q := `SELECT seq, body FROM workflows WHERE ` + w.sql() + ` ORDER BY seq DESC` + w.limit(f.Limit)
	return workflowsWithSeq(t.query(q, w.args...))
}

// InsertWorkflow is not deferred: it inserts with ON CONFLICT DO NOTHING
// and answers at once, so a duplicate fails only this call with
// workflow_exists and, unlike a failed INSERT in PostgreSQL, leaves the
// transaction usable. Registrations are rare: the round trip is cheap.
func (t *wtx) InsertWorkflow(w *cairn.Workflow) error {
	body, err := json.Marshal(w)
	if err != nil {
		return err
	}
	var seq int64
	err = t.row(`INSERT INTO workflows(tenant, workflow_id, name, version, created_at, body) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING RETURNING seq`,
		w.Tenant, w.WorkflowID, w.Name, w.Version, nanos(w.CreatedAt), string(body)).Scan(&seq)
	if err == nil {
		w.Seq = seq
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	var exists bool
	if err := t.row(`SELECT EXISTS (SELECT 1 FROM workflows WHERE tenant = $1 AND workflow_id = $2)`, w.Tenant, w.WorkflowID).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return cairn.Conflict(cairn.EConflict, "workflow %q already has a version %d", w.Name, w.Version)
	}
	return cairn.Conflict(cairn.CodeWorkflowExists, "workflow %q is already registered", w.WorkflowID)
}
