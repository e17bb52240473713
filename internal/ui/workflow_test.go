package ui_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/chromedp/chromedp"
)

const gatedWorkflow = `name: gated-deploy
description: plan, then apply after two approvals
steps:
  - id: plan
    action: tool.plan
  - id: apply
    action: tool.apply
    depends_on: [plan]
    gate: {approver_roles: [approver], quorum: 2, expires_in: 1h}
    input: {plan: "${{ steps.plan.result }}", note: "${{ input.note }}"}
`

// gatedRuns registers the gated workflow, starts the runs (run id ->
// starter, each with the note as input) and completes their first steps, so
// every run waits at its gate.
func (e *env) gatedRuns(runs map[string]string, note string) *cairn.Workflow {
	e.T.Helper()
	var w cairn.Workflow
	e.MustDo("polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: gatedWorkflow}, 201, &w)
	in, _ := json.Marshal(map[string]string{"note": note})
	for id, as := range runs {
		e.MustDo(as, "POST", "/api/v1/workflow-runs", cairn.StartRunRequest{WorkflowID: w.WorkflowID, RunID: id, Input: in}, 201, nil)
	}
	leased := e.Lease("tool.plan")
	if len(leased) != len(runs) {
		e.T.Fatalf("leased %d plan jobs, want %d", len(leased), len(runs))
	}
	for _, l := range leased {
		e.complete(l, `"the plan"`)
	}
	for id := range runs {
		e.WaitRun(id, cairn.RunWaitingApproval)
	}
	return &w
}

// TestBrowserWorkflowGate: an approver finds a gated run in the workflow
// runs list, reviews the gate (quorum, votes, expiry, job_hash, the rendered
// input as text) and approves it; a second approver completes the quorum and
// the step runs, and the first approver's open page follows live. A
// rejection fails the run; a vote twice, and by the run's starter, are
// refused with the server's code. Hostile strings in the input and in a
// comment stay text.
func TestBrowserWorkflowGate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish("polly", seedPolicy)
	e.Key("manager-3", "human", "approver")
	note := `<img src=x onerror=alert(1)> ` + hostile[0] + " " + hostile[2]
	w := e.gatedRuns(map[string]string{"run-gate": "agent-1", "run-reject": "agent-1", "run-self": "approver-agent"}, note)
	gate := e.Run("run-gate").Step("apply").Gate

	b := newTab(t, e.URL)
	b.signIn(e.Keys["manager-2"])
	if !strings.Contains(b.text("#nav"), "Workflow runs") {
		t.Errorf("nav %q has no Workflow runs", b.text("#nav"))
	}
	b.visit("/runs")
	if got := eval[string](b, `document.getElementById('r-status').value`); got != "waiting_approval" {
		t.Errorf("an approver's runs list starts on %q, want waiting_approval", got)
	}
	if n := b.count("#runs tbody tr"); n != 3 {
		t.Errorf("runs waiting for approval: %d rows, want 3", n)
	}
	row := b.text(`tr[data-run="run-gate"]`)
	for _, want := range []string{"run-gate", "gated-deploy", "waiting_approval", "1/2 done", "gate apply: 0/2 approvals", "in 59m", "agent-1"} {
		if !strings.Contains(row, want) {
			t.Errorf("runs row lacks %q: %q", want, row)
		}
	}
	b.click(`tr[data-run="run-gate"] td:first-child a`)
	b.ready("/runs/run-gate")
	b.wait(`document.querySelector('#steps li[data-step="apply"] .gate')`, 10*time.Second)
	if got := b.text("#run-status"); got != "waiting_approval" {
		t.Errorf("run status %q", got)
	}
	steps := eval[[]string](b, `[...document.querySelectorAll('#steps > li')].map(li => li.dataset.step + '=' + li.dataset.status)`)
	if strings.Join(steps, " ") != "plan=succeeded apply=waiting_approval" {
		t.Errorf("steps %v", steps)
	}
	if got := b.text(`#steps li[data-step="plan"]`); !strings.Contains(got, "run-gate.plan.1") || !strings.Contains(got, "1 attempt") {
		t.Errorf("plan step: %q", got)
	}
	// The DAG: apply comes after plan, one level deeper (and indented).
	depth := eval[[]string](b, `[...document.querySelectorAll('#steps > li')].map(li => li.dataset.step + '@' + li.dataset.depth + '+' + (parseFloat(getComputedStyle(li).marginLeft) > 0))`)
	if strings.Join(depth, " ") != "plan@0+false apply@1+true" {
		t.Errorf("step depths %v", depth)
	}
	if got := b.text(`#steps li[data-step="apply"] .step-deps`); got != "plan" {
		t.Errorf("apply comes after %q", got)
	}
	if got := b.text("#wf-summary"); !strings.Contains(got, "gated-deploy") || !strings.Contains(got, w.WorkflowID) || !strings.Contains(got, "agent-1") {
		t.Errorf("summary: %q", got)
	}
	g := `#steps li[data-step="apply"] `
	if got := b.text(g + ".gate-hash"); got != gate.JobHash {
		t.Errorf("gate job_hash %q, want %q", got, gate.JobHash)
	}
	gt := b.text(g + ".gate")
	for _, want := range []string{"0/2 approvals", "approver", "2 distinct approvers", "in 59m", "No votes yet", gate.JobID} {
		if !strings.Contains(gt, want) {
			t.Errorf("gate lacks %q:\n%s", want, gt)
		}
	}
	input := b.text(g + ".gate-input")
	if !strings.Contains(input, `"plan": "the plan"`) || !strings.Contains(input, `<img src=x onerror=alert(1)> `+hostile[0]) || !strings.Contains(input, "U+202E") {
		t.Errorf("gate input:\n%s", input)
	}

	// One approval: 1/2.
	b.do(chromedp.SendKeys(chromedp.CSS(g+".gate-comment"), "looks right "+hostile[1]))
	b.click(g + ".gate-approve")
	b.wait(`document.querySelector('#steps li[data-step="apply"] .gate-votes').innerText === '1/2 approvals'`, 10*time.Second)
	if got := b.text("#gate-note"); !strings.Contains(got, "approval of step apply is recorded") {
		t.Errorf("note after voting: %q", got)
	}
	if got := b.text(g + ".votes"); !strings.Contains(got, "approved by manager-2") || !strings.Contains(got, hostile[1]) {
		t.Errorf("votes: %q", got)
	}
	// A second, different vote by the same approver is refused with its code.
	b.click(g + ".gate-reject")
	b.wait(`document.querySelector('#steps li[data-step="apply"] .gate-result .error')`, 10*time.Second)
	if got := b.text(g + ".gate-result"); !strings.Contains(got, "already voted") || !strings.Contains(got, "gate_already_voted") {
		t.Errorf("second vote: %q", got)
	}

	// The second approver completes the quorum; the step runs.
	b2 := newTab(t, e.URL)
	b2.signIn(e.Keys["manager-3"])
	b2.visit("/runs/run-gate")
	b2.wait(`document.querySelector('#steps li[data-step="apply"] .gate-approve')`, 10*time.Second)
	b2.click(g + ".gate-approve")
	b2.wait(`document.querySelector('#steps li[data-step="apply"]').dataset.status === 'running'`, 10*time.Second)
	if got := b2.text(g + ".gate"); !strings.Contains(got, "approved") || !strings.Contains(got, "2/2 approvals") || b2.count(g+".gate-approve") != 0 {
		t.Errorf("gate after quorum:\n%s", got)
	}
	if got := b2.text("#run-status"); got != "running" {
		t.Errorf("run status after quorum %q", got)
	}
	// The first approver's page follows without a reload.
	b.wait(`document.querySelector('#steps li[data-step="apply"]').dataset.status === 'running' && document.getElementById('run-status').innerText === 'running'`, 10*time.Second)
	if b.count(`#timeline li[data-type="gate_resolved"]`) != 1 || b.count(`#timeline li[data-type="gate_voted"]`) != 2 {
		t.Errorf("timeline: %s", eval[string](b, `[...document.querySelectorAll('#timeline li')].map(li => li.dataset.type).join(',')`))
	}
	if got := b.text(g + ".gate"); !strings.Contains(got, "run-gate.apply.1") || b.count(g+`.gate a[href="/jobs/run-gate.apply.1"]`) != 1 {
		t.Errorf("released job not linked:\n%s", got)
	}

	// A rejection fails the step and the run.
	b.visit("/runs/run-reject")
	b.wait(`document.querySelector('#steps li[data-step="apply"] .gate-reject')`, 10*time.Second)
	b.do(chromedp.SendKeys(chromedp.CSS(g+".gate-comment"), "no "+hostile[0]))
	b.click(g + ".gate-reject")
	b.wait(`document.getElementById('run-status').innerText === 'failed'`, 10*time.Second)
	if got := b.text(`#steps li[data-step="apply"]`); !strings.Contains(got, "failed") || !strings.Contains(got, "rejected by manager-2") || !strings.Contains(got, "no "+hostile[0]) {
		t.Errorf("rejected step:\n%s", got)
	}
	if r := e.Run("run-reject"); r.Status != cairn.RunFailed || b.count("#run-reason") != 1 {
		t.Errorf("run-reject is %s; reason shown: %d", r.Status, b.count("#run-reason"))
	}
	b.visit("/runs?status=failed")
	if n := b.count("#runs tbody tr"); n != 1 || b.count(`tr[data-run="run-reject"]`) != 1 {
		t.Errorf("failed runs: %d rows", n)
	}

	// The workflow's definition page.
	b.visit("/runs/run-reject")
	b.click("#wf-summary a")
	b.wait(`location.pathname.startsWith('/workflows/') && document.getElementById('main').getAttribute('aria-busy') === 'false'`, 10*time.Second)
	if got := b.text(".code-lines"); !strings.Contains(got, "quorum: 2") || !strings.Contains(b.mainText(), "version 1") {
		t.Errorf("workflow page:\n%s", b.mainText())
	}

	// The run's starter may not vote on its gates.
	b3 := newTab(t, e.URL)
	b3.signIn(e.Keys["approver-agent"])
	b3.visit("/runs/run-self")
	b3.wait(`document.querySelector('#steps li[data-step="apply"] .gate-approve')`, 10*time.Second)
	b3.click(g + ".gate-approve")
	b3.wait(`document.querySelector('#steps li[data-step="apply"] .gate-result .error')`, 10*time.Second)
	if got := b3.text(g + ".gate-result"); !strings.Contains(got, "You started this run") || !strings.Contains(got, "self_approval_forbidden") {
		t.Errorf("self-approval: %q", got)
	}

	// Nothing hostile became live on any of these pages.
	for _, p := range []string{"/runs/run-gate", "/runs/run-reject", "/runs?status=all"} {
		b.visit(p)
		b.wait(`!location.pathname.startsWith('/runs/') || document.querySelector('#steps li')`, 10*time.Second)
		got := eval[map[string]float64](b, `({
			pwned: window.__pwned || 0,
			imgs: document.querySelectorAll('img').length,
			handlers: document.querySelectorAll('[onerror], [onload], [onclick]').length,
			scripts: [...document.scripts].filter(s => !s.src || !s.src.includes('/assets/')).length,
		})`)
		if got["pwned"] != 0 || got["imgs"] != 0 || got["handlers"] != 0 || got["scripts"] != 0 {
			t.Errorf("%s: hostile markup became live: %v", p, got)
		}
	}
	for _, tb := range []*tab{b, b2, b3} {
		tb.noProblems()
	}
}

// TestBrowserRawAt checks the console's exact member extraction (used
// for a gate's input) against nested and awkward JSON.
func TestBrowserRawAt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newTab(t, e.URL)
	b.open("/signin")
	b.ready("/signin")
	got := eval[[]any](b, `import('/assets/js/json.js').then(m => {
		const src = '{"a": "x\\"}", "steps": [{"gate": null}, {"id": "s", "gate": {"input": {"big": 12345678901234567890, "p": 1.50, "s": "]}"}}}], "z": 1}';
		return [m.rawAt(src, ['steps', 1, 'gate', 'input']), m.rawAt(src, ['steps', 0, 'gate']), m.rawAt(src, ['z']), m.rawAt(src, ['nope']), m.rawAt(src, ['steps', 5]), m.rawAt('not json', ['a'])];
	})`)
	want := []any{`{"big": 12345678901234567890, "p": 1.50, "s": "]}"}`, "null", "1", nil, nil, nil}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("rawAt case %d = %#v, want %#v", i, got, want[i])
		}
	}
}
