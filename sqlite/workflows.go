package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
)

// --- runs (listing) and workflows ---

func runsWithSeq(rows *sql.Rows, err error) ([]*cairn.Run, error) {
	rs, seqs, err := scanBodies[cairn.Run](rows, err, true)
	for i := range rs {
		rs[i].Seq = seqs[i]
	}
	return rs, err
}

func (t *rtx) ListRuns(tenant string, f cairn.RunFilter) ([]*cairn.Run, error) {
	q, args := listRunsQuery(tenant, f)
	return runsWithSeq(t.query(q, args...))
}

// listRunsQuery is ListRuns' statement. Every filter is an indexed column
// and the order is seq, so a page walks one index newest first: runs_tenant,
// runs_status, runs_workflow, runs_started_by (the starter, with or without
// a workflow) or runs_started_by_status (the starter and a status), see
// migrations 0003 and 0004. TestListRunsPlan checks the planner's choice.
func listRunsQuery(tenant string, f cairn.RunFilter) (string, []any) {
	where := []string{"tenant = ?"}
	args := []any{tenant}
	if f.WorkflowID != "" {
		where = append(where, "workflow_id = ?")
		args = append(args, f.WorkflowID)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if f.StartedBy != "" {
		where = append(where, "started_by = ?")
		args = append(args, f.StartedBy)
	}
	if f.After > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.After)
	}
	args = append(args, f.Limit)
	return `SELECT seq, body FROM runs WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq DESC LIMIT ?`, args
}

func (t *rtx) DueRuns(now time.Time, limit int) ([]*cairn.Run, error) {
	return runsWithSeq(t.query(`SELECT seq, body FROM runs WHERE wake_at IS NOT NULL AND wake_at <= ? ORDER BY wake_at, seq LIMIT ?`, nanos(now), limit))
}

func workflowsWithSeq(rows *sql.Rows, err error) ([]*cairn.Workflow, error) {
	ws, seqs, err := scanBodies[cairn.Workflow](rows, err, true)
	for i := range ws {
		ws[i].Seq = seqs[i]
	}
	return ws, err
}

func (t *rtx) GetWorkflow(tenant, workflowID string) (*cairn.Workflow, error) {
	ws, err := workflowsWithSeq(t.query(`SELECT seq, body FROM workflows WHERE tenant = ? AND workflow_id = ?`, tenant, workflowID))
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, cairn.NotFound("workflow %q not found", workflowID)
	}
	return ws[0], nil
}

func (t *rtx) LatestWorkflow(tenant, name string) (*cairn.Workflow, error) {
	ws, err := workflowsWithSeq(t.query(`SELECT seq, body FROM workflows WHERE tenant = ? AND name = ? ORDER BY version DESC LIMIT 1`, tenant, name))
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, cairn.NotFound("workflow %q not found", name)
	}
	return ws[0], nil
}

func (t *rtx) ListWorkflows(tenant string, f cairn.WorkflowFilter) ([]*cairn.Workflow, error) {
	where := []string{"tenant = ?"}
	args := []any{tenant}
	if f.Name != "" {
		where = append(where, "name = ?")
		args = append(args, f.Name)
	}
	if f.After > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.After)
	}
	args = append(args, f.Limit)
	return workflowsWithSeq(t.query(`SELECT seq, body FROM workflows WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT ?`, args...))
}

// InsertWorkflow inserts with ON CONFLICT DO NOTHING, so a duplicate fails
// only this call and leaves the transaction as it was.
func (t *wtx) InsertWorkflow(w *cairn.Workflow) error {
	body, err := json.Marshal(w)
	if err != nil {
		return err
	}
	res, err := t.exec(`INSERT INTO workflows(tenant, workflow_id, name, version, created_at, body) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		w.Tenant, w.WorkflowID, w.Name, w.Version, nanos(w.CreatedAt), string(body))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		w.Seq, err = res.LastInsertId()
		return err
	}
	var seq int64
	err = t.row(`SELECT seq FROM workflows WHERE tenant = ? AND workflow_id = ?`, w.Tenant, w.WorkflowID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return cairn.Conflict(cairn.EConflict, "workflow %q already has a version %d", w.Name, w.Version)
	}
	if err != nil {
		return err
	}
	return cairn.Conflict(cairn.CodeWorkflowExists, "workflow %q is already registered", w.WorkflowID)
}
