package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/ledger"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserSignIn: a bad key is refused plainly; a good key is kept in
// sessionStorage only (never in the URL or localStorage); navigation follows
// the key's roles; signing out forgets the key.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newTab(t, e.URL)

	b.open("/approvals")
	b.ready("/signin")
	if got := eval[string](b, `location.search`); got != "?next=%2Fapprovals" {
		t.Errorf("redirect to sign-in kept %q", got)
	}
	b.do(chromedp.SendKeys(chromedp.ID("key"), "cairn_not_a_real_key_0000000000000"), chromedp.Click(chromedp.CSS("form button[type=submit]")))
	b.wait(`document.getElementById('signin-status').innerText.includes('not accepted')`, 10*time.Second)
	if eval[bool](b, `sessionStorage.length > 0`) {
		t.Error("a refused key was stored")
	}

	key := e.Keys["manager-2"]
	eval[chromedp.Void](b, `document.getElementById('key').value = ''`)
	b.do(chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Click(chromedp.CSS("form button[type=submit]")))
	b.ready("/approvals") // back where we were going
	if got := eval[string](b, `sessionStorage.getItem('cairn.key')`); got != key {
		t.Errorf("sessionStorage key = %q", got)
	}
	if eval[int](b, `localStorage.length`) != 0 || strings.Contains(eval[string](b, `location.href`), key) || strings.Contains(eval[string](b, `document.cookie`), key) {
		t.Error("the key leaked into localStorage, the URL or a cookie")
	}
	if eval[string](b, `document.getElementById('key') ? document.getElementById('key').value : ''`) != "" {
		t.Error("key input still holds the key")
	}
	nav := b.text("#nav")
	for _, want := range []string{"Overview", "Approvals", "Search", "Policy"} {
		if !strings.Contains(nav, want) {
			t.Errorf("approver nav %q lacks %s", nav, want)
		}
	}
	// The key never reaches a URL: every request the page made.
	urls := eval[[]string](b, `performance.getEntriesByType('resource').map(e => e.name)`)
	for _, u := range urls {
		if strings.Contains(u, key) {
			t.Errorf("request URL carries the key: %s", u)
		}
	}

	// Roles drive the navigation.
	for _, tc := range []struct {
		who      string
		has, not []string
	}{
		{"agent-1", []string{"Overview", "Search"}, []string{"Approvals", "Policy"}},
		{"auditor-1", []string{"Overview", "Approvals", "Search", "Policy"}, nil},
		{"polly", []string{"Policy"}, []string{"Approvals", "Overview", "Search"}},
	} {
		b.click(".who button")
		b.ready("/signin")
		if got := eval[string](b, `document.activeElement.id`); got != "key" {
			t.Errorf("after sign-out focus is on %q, not the key field", got)
		}
		if eval[bool](b, `sessionStorage.getItem('cairn.key') !== null`) {
			t.Fatal("sign-out kept the key")
		}
		b.do(chromedp.SendKeys(chromedp.ID("key"), e.Keys[tc.who]), chromedp.Click(chromedp.CSS("form button[type=submit]")))
		b.wait(`location.pathname !== '/signin' && document.getElementById('main').getAttribute('aria-busy') === 'false'`, 10*time.Second)
		nav := b.text("#nav")
		for _, w := range tc.has {
			if !strings.Contains(nav, w) {
				t.Errorf("%s: nav %q lacks %s", tc.who, nav, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(nav, w) {
				t.Errorf("%s: nav %q shows %s", tc.who, nav, w)
			}
		}
	}
	// policy_admin (signed in last) sees publish controls.
	b.visit("/policy")
	if b.count("#publish-review") != 1 {
		t.Error("policy_admin has no publish button")
	}
	b.noProblems()
}

// TestBrowserApproveFromQueue: an approver opens a pending job from the
// queue, sees the exact payload, its job_hash and the deciding rule
// highlighted, approves with a comment, and the evidence page shows the
// approver and the comment. Errors are said plainly.
func TestBrowserApproveFromQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish("polly", seedPolicy)
	input := `{"sql": "UPDATE orders SET status = 'shipped' WHERE id = 42", "big": 1.2345678901234567E+19, "price": 1.50}`
	j := e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-123", RunID: "run-01", WorkflowStepID: "approve-change",
		Action: "db.write", Resource: "orders", Labels: map[string]string{"env": "prod"}, Input: json.RawMessage(input)})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-other", Action: "db.delete", Resource: "users", Labels: map[string]string{"env": "prod"}})

	b := newTab(t, e.URL)
	b.signIn(e.Keys["manager-2"])
	b.visit("/approvals")
	if n := b.count("table.queue tbody tr"); n != 2 {
		t.Fatalf("queue rows = %d", n)
	}
	row := b.text(`tr[data-job="job-123"]`)
	for _, want := range []string{"db.write", "orders", "agent-1", "prod-write-needs-approval", "Production writes need manager approval", "sha256:", "in 23h"} {
		if !strings.Contains(row, want) {
			t.Errorf("queue row lacks %q: %q", want, row)
		}
	}
	b.click(`tr[data-job="job-123"] a`)
	b.ready("/approvals/job-123")
	b.wait(`document.querySelector('.verify.ok')`, 10*time.Second)

	// exact payload, pretty-printed, numbers untouched
	payload := b.text("pre.payload")
	for _, want := range []string{"\"big\": 1.2345678901234567E+19", "\"price\": 1.50", "'shipped'"} {
		if !strings.Contains(payload, want) {
			t.Errorf("payload lacks %q:\n%s", want, payload)
		}
	}
	if got := b.text("#job-hash"); got != j.JobHash {
		t.Errorf("shown job_hash %q, want %q", got, j.JobHash)
	}
	hl := eval[string](b, `[...document.querySelectorAll('.code-lines li.hl .lt')].map(e => e.textContent).join('\n')`)
	if !strings.HasPrefix(hl, "  - id: prod-write-needs-approval") || !strings.Contains(hl, "approval: {approver_roles: [approver], expires_in: 24h}") || strings.Contains(hl, "quick-approval") {
		t.Errorf("highlighted rule block:\n%s", hl)
	}

	// A tampered hash is refused and said plainly (the page sends what it shows).
	eval[chromedp.Void](b, `document.getElementById('job-hash').textContent = '`+strings.Repeat("0", 64)+`'`)
	b.do(chromedp.SendKeys(chromedp.ID("comment"), "ticket INC-123 <b>bold</b>"))
	b.click("#approve")
	b.wait(`document.querySelector('#decide-result .error')`, 10*time.Second)
	if msg := b.text("#decide-result"); !strings.Contains(msg, "not the one you reviewed") {
		t.Errorf("hash mismatch message: %q", msg)
	}
	eval[chromedp.Void](b, `document.getElementById('job-hash').textContent = '`+j.JobHash+`'`)
	b.click("#approve")
	b.ready("/jobs/job-123")
	if f := b.text("#flash"); !strings.Contains(f, "Approved job job-123") {
		t.Errorf("flash %q", f)
	}
	appr := b.text("#s-approval + dl")
	if !strings.Contains(appr, "manager-2") || !strings.Contains(appr, "ticket INC-123 <b>bold</b>") || !strings.Contains(appr, "approved") {
		t.Errorf("evidence approval section:\n%s", appr)
	}
	rec := b.text(".record-dl")
	for _, want := range []string{"REQUIRE_APPROVAL", "approved", "manager-2", "ticket INC-123", j.JobHash, "ctx:job-123", "prod-write-needs-approval"} {
		if !strings.Contains(rec, want) {
			t.Errorf("decision record lacks %q", want)
		}
	}

	// Search: approvals by resolver, and jobs by action and state.
	b.visit("/search?kind=approvals&resolved_by=manager-2")
	if got := b.text("#results"); !strings.Contains(got, "job-123") || !strings.Contains(got, "ticket INC-123") || strings.Contains(got, "job-other") {
		t.Errorf("approvals resolved by manager-2:\n%s", got)
	}
	b.visit("/search")
	b.do(chromedp.SendKeys(chromedp.ID("s-action"), "db.delete"), chromedp.SetValue(chromedp.ID("s-state"), "PENDING_APPROVAL"))
	b.click("form.search button[type=submit]")
	b.wait(`location.search.includes('action=db.delete') && document.getElementById('main').getAttribute('aria-busy') === 'false'`, 10*time.Second)
	if got := b.text("#results"); !strings.Contains(got, "job-other") || strings.Contains(got, "job-123") {
		t.Errorf("jobs with action db.delete, pending:\n%s", got)
	}

	// Self-approval is refused plainly.
	e.Submit("approver-agent", cairn.SubmitRequest{JobID: "job-self", Action: "db.write", Labels: map[string]string{"env": "prod"}})
	b2 := newTab(t, e.URL)
	b2.signIn(e.Keys["approver-agent"])
	b2.visit("/approvals/job-self")
	b2.wait(`document.querySelector('.verify.ok')`, 10*time.Second)
	b2.click("#approve")
	b2.wait(`document.querySelector('#decide-result .error')`, 10*time.Second)
	if msg := b2.text("#decide-result"); !strings.Contains(msg, "You submitted this job") {
		t.Errorf("self-approval message: %q", msg)
	}

	// An expired approval is said plainly.
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-deploy", Action: "deploy.prod"})
	b2.visit("/approvals/job-deploy")
	b2.wait(`document.querySelector('.verify.ok')`, 10*time.Second)
	time.Sleep(2100 * time.Millisecond) // quick-approval expires 2s after submission
	if b2.count("#reject") == 0 {
		// on a slow machine the page can open after the expiry: it must say so
		if got := b2.text(".state-line"); !strings.Contains(got, "expired") {
			t.Errorf("expired approval shown as %q", got)
		}
	} else {
		b2.click("#reject")
		b2.wait(`document.querySelector('#decide-result .error')`, 10*time.Second)
		if msg := b2.text("#decide-result"); !strings.Contains(msg, "has expired") {
			t.Errorf("expired message: %q", msg)
		}
	}
	b.noProblems()
	b2.noProblems()
}

// TestBrowserRunTimeline follows a run while a worker completes its job:
// the timeline updates without a reload, and the filters hide event types.
func TestBrowserRunTimeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish("polly", seedPolicy)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-r1", RunID: "run-live", WorkflowStepID: "fetch", Action: "db.read", Resource: "orders"})

	b := newTab(t, e.URL)
	b.signIn(e.Keys["auditor-1"])
	b.visit("/runs/run-live")
	if got := b.text("#run-status"); got != "running" {
		t.Fatalf("status %q", got)
	}
	b.wait(`document.getElementById('live').classList.contains('on')`, 5*time.Second)
	before := b.count("#timeline li")

	// The worker leases and completes the job while the page is open.
	leased := e.Lease("db.*")
	if len(leased) != 1 {
		t.Fatalf("leased %d", len(leased))
	}
	e.complete(leased[0], `{"rows": 3}`)
	b.wait(`document.querySelector('#timeline li[data-type="run_completed"]')`, 10*time.Second)
	b.wait(`document.getElementById('run-status').innerText === 'completed'`, 5*time.Second)
	types := eval[[]string](b, `[...document.querySelectorAll('#timeline li')].map(li => li.dataset.type)`)
	want := "run_started,job_submitted,policy_decided,policy_decided,job_dispatched,job_completed,output_checked,run_completed"
	if got := strings.Join(types, ","); got != want {
		t.Errorf("timeline %s, want %s (had %d before)", got, want, before)
	}
	seqs := eval[[]int](b, `[...document.querySelectorAll('#timeline li')].map(li => +li.dataset.seq)`)
	for i, s := range seqs {
		if s != i+1 {
			t.Fatalf("seqs %v: gap or repeat", seqs)
		}
	}
	if !strings.Contains(b.text("#announce"), "new event") {
		t.Errorf("no live announcement: %q", b.text("#announce"))
	}
	// live polling stopped with the run
	b.wait(`!document.getElementById('live').classList.contains('on')`, 5*time.Second)

	// filters: hide policy_decided, then show one job only
	b.click("#f-policy_decided")
	if n := b.count(`#timeline li[data-type="policy_decided"]:not([hidden])`); n != 0 {
		t.Errorf("%d policy_decided events still shown", n)
	}
	if n := b.count(`#timeline li:not([hidden])`); n != 6 {
		t.Errorf("%d events shown after filtering, want 6", n)
	}
	b.do(chromedp.Focus(chromedp.CSS("#f-policy_decided")), chromedp.KeyEvent(" ")) // keyboard toggles it back
	if n := b.count(`#timeline li:not([hidden])`); n != 8 {
		t.Errorf("%d events shown after re-checking by keyboard, want 8", n)
	}
	b.noProblems()
}

// TestBrowserPolicySimulate: diff two snapshots, simulate a job against a
// candidate text, see the deciding rule highlighted, publish it with a
// confirmation step, and roll back.
func TestBrowserPolicySimulate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.publish("polly", seedPolicy)
	secondText := strings.Replace(seedPolicy, "expires_in: 24h", "expires_in: 12h", 1)
	second := e.publish("polly", secondText)

	b := newTab(t, e.URL)
	b.signIn(e.Keys["polly"])
	b.ready("/policy")
	if got := b.text("#s-history + p + div tbody"); !strings.Contains(got, "polly") || !strings.Contains(got, "test") {
		t.Errorf("history: %q", got)
	}
	// diff between the two snapshots
	b.do(chromedp.SetValue(chromedp.ID("diff-a"), first), chromedp.SetValue(chromedp.ID("diff-b"), second))
	b.click("#s-diff ~ form button[type=submit]")
	b.wait(`document.querySelector('#diff-out .diff-table')`, 5*time.Second)
	if got := b.text("#diff-out .diff-stats"); !strings.Contains(got, "+1") || !strings.Contains(got, "−1") {
		t.Errorf("diff stats %q", got)
	}
	if add, del := b.text("#diff-out tr.add .lt"), b.text("#diff-out tr.del .lt"); !strings.Contains(add, "12h") || !strings.Contains(del, "24h") {
		t.Errorf("diff lines: +%q -%q", add, del)
	}

	// simulate a payment against a candidate that lowers the limit
	candidate := strings.Replace(secondText, "input.amount > 10000", "input.amount > 100", 1)
	b.do(chromedp.SetValue(chromedp.ID("candidate"), candidate),
		chromedp.SendKeys(chromedp.ID("sim-action"), "payments.transfer"),
		chromedp.SendKeys(chromedp.ID("sim-input"), `{"amount": 500}`))
	b.click("#sim-against-candidate")
	b.click("#simulate button[type=submit]")
	b.wait(`document.querySelector('#sim-out .sim-result')`, 10*time.Second)
	res := b.text("#sim-out .sim-result h3")
	if !strings.Contains(res, "DENY") || !strings.Contains(res, "big-transfers") {
		t.Errorf("simulation against the candidate: %q", res)
	}
	hl := eval[string](b, `[...document.querySelectorAll('#sim-out .code-lines li.hl .lt')].map(e => e.textContent).join('\n')`)
	if !strings.HasPrefix(hl, "  - id: big-transfers") || !strings.Contains(hl, "input.amount > 100'") {
		t.Errorf("highlighted rule:\n%s", hl)
	}
	// the same job against the active snapshot is allowed (no other rule)
	b.click("#sim-against-active")
	b.click("#simulate button[type=submit]")
	b.wait(`document.querySelector('#sim-out .sim-result') && !document.querySelector('#sim-out h3').innerText.includes('big-transfers')`, 10*time.Second)
	if res := b.text("#sim-out h3"); !strings.Contains(res, "default") {
		t.Errorf("simulation against the active policy: %q", res)
	}

	// an invalid candidate: 422 with the line marked, nothing published
	b.do(chromedp.SetValue(chromedp.ID("candidate"), "rules:\n  - id: a\n    decison: ALLOW\n"))
	b.click("#publish-review")
	b.click("#publish-confirm")
	b.wait(`document.querySelector('#confirm .error')`, 5*time.Second)
	if msg := b.text("#confirm .error"); !strings.Contains(msg, "not valid") || !strings.Contains(msg, "line 3") {
		t.Errorf("invalid bundle message: %q", msg)
	}
	if b.count("#confirm .code-lines li.err") != 1 {
		t.Error("the error line is not marked")
	}

	// publish the candidate, with confirmation
	b.do(chromedp.SetValue(chromedp.ID("candidate"), candidate), chromedp.SendKeys(chromedp.ID("publish-message"), "lower the transfer limit"))
	b.click("#publish-review")
	if got := b.text("#confirm .diff-stats"); !strings.Contains(got, "+1 −1") {
		t.Errorf("confirmation diff: %q", got)
	}
	b.click("#publish-confirm")
	b.wait(`document.getElementById('flash').innerText.includes('Published')`, 10*time.Second)
	b.ready("/policy")
	var active struct {
		PolicySnapshot string `json:"policy_snapshot"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/policy", nil, 200, &active)
	if active.PolicySnapshot == second || active.PolicySnapshot == first {
		t.Fatalf("publish did not change the active snapshot")
	}
	if got := b.text("#s-history + p + div tbody tr"); !strings.Contains(got, "lower the transfer limit") {
		t.Errorf("history after publish: %q", got)
	}
	// roll back to the first snapshot, with confirmation
	b.click(`tr[data-snapshot="` + first + `"] .rollback`)
	b.do(chromedp.SendKeys(chromedp.ID("rollback-message"), "back to the start"))
	b.click("#rollback-confirm")
	b.wait(`document.getElementById('flash').innerText.includes('Rolled back')`, 10*time.Second)
	e.MustDo("auditor-1", "GET", "/api/v1/policy", nil, 200, &active)
	if active.PolicySnapshot != first {
		t.Errorf("active after rollback %s, want %s", active.PolicySnapshot, first)
	}
	b.noProblems()
}

// Hostile strings go into every free-text place the API allows (actions
// are restricted by the API to [A-Za-z0-9._:/-], so they cannot carry them).
var hostile = []string{
	`<script>window.__pwned=1</script>`,
	`"><img src=x onerror="window.__pwned=2">`,
	"\u202egnp.exe\u202c safe.txt",
	`javascript:window.__pwned=3`,
	`{{constructor.constructor('window.__pwned=4')()}}`,
	`</pre><svg onload=window.__pwned=5>`,
}

// TestBrowserHostileStringsAreInert puts hostile strings in labels,
// resources, payloads, comments, error messages, policy reasons and search
// queries, and checks that every page shows them as text: no element,
// script or handler comes from them, and no CSP violation happens.
func TestBrowserHostileStringsAreInert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reasonPolicy := strings.Replace(seedPolicy, "reason: Production writes need manager approval", "reason: '"+strings.ReplaceAll(hostile[1], "'", "''")+" "+hostile[0]+"'", 1)
	e.publish("polly", reasonPolicy)
	labels := map[string]string{"env": "prod"}
	for i, s := range hostile {
		labels[fmt.Sprintf("h%d", i)] = s
	}
	payload, _ := json.Marshal(map[string]any{"h": hostile, hostile[0]: hostile[1]})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-h", RunID: "run-h", WorkflowStepID: "step-1", Action: "db.write",
		Resource: strings.Join(hostile, " "), Labels: labels, Input: payload})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-h2", RunID: "run-h", Action: "tool.echo", Resource: hostile[1], Labels: map[string]string{"x": hostile[2]}})
	l := e.Lease("tool.*")
	e.complete(l[0], `{"echo": "`+strings.ReplaceAll(strings.ReplaceAll(hostile[1], `\`, `\\`), `"`, `\"`)+`", "key": "AKIAIOSFODNN7EXAMPLE"}`)

	b := newTab(t, e.URL)
	b.signIn(e.Keys["manager-2"])
	b.visit("/approvals/job-h")
	b.wait(`document.querySelector('.verify.ok')`, 10*time.Second)
	b.do(chromedp.SendKeys(chromedp.ID("comment"), hostile[0]+hostile[1]))
	b.click("#approve")
	b.ready("/jobs/job-h")

	pages := []string{"/approvals?include_resolved=true", "/approvals/job-h", "/jobs/job-h", "/jobs/job-h2", "/runs/run-h", "/overview", "/policy",
		"/search?go=1", "/search?kind=approvals&go=1", "/search?policy_rule_id=" + strings.ReplaceAll(hostile[1], " ", "+")}
	for _, p := range pages {
		b.visit(p)
		time.Sleep(100 * time.Millisecond) // let payload loads finish
		got := eval[map[string]any](b, `(() => {
			const main = document.getElementById('main');
			return {
				pwned: window.__pwned || 0,
				imgs: document.querySelectorAll('img').length,
				svgHandlers: document.querySelectorAll('svg[onload], [onerror], [onload], [onclick]').length,
				scripts: [...document.scripts].filter(s => !s.src || !s.src.includes('/assets/')).length,
				jsLinks: [...document.querySelectorAll('a[href]')].filter(a => !a.href.startsWith(location.origin)).length,
				text: main.innerText,
			};
		})()`)
		if got["pwned"].(float64) != 0 || got["imgs"].(float64) != 0 || got["svgHandlers"].(float64) != 0 || got["scripts"].(float64) != 0 || got["jsLinks"].(float64) != 0 {
			t.Errorf("%s: hostile markup became live: %v", p, got)
		}
		text := got["text"].(string)
		switch p {
		case "/approvals/job-h", "/jobs/job-h":
			for _, s := range []string{hostile[0], hostile[1], hostile[3]} {
				if !strings.Contains(text, s) {
					t.Errorf("%s does not show %q as text", p, s)
				}
			}
			// the RTL override is shown as a visible marker, not obeyed
			if !strings.Contains(text, "U+202E") || strings.Contains(text, "\u202e") {
				t.Errorf("%s: RTL override not neutralised", p)
			}
		case "/runs/run-h":
			if !strings.Contains(text, hostile[0]+hostile[1]) { // the comment, in approval_resolved
				t.Errorf("%s does not show the hostile comment", p)
			}
		}
	}
	// The quarantined secret is never on the page for an approver.
	b.visit("/jobs/job-h2")
	if text := b.mainText(); strings.Contains(text, "AKIAIOSFODNN7EXAMPLE") || !strings.Contains(text, "quarantined") {
		t.Errorf("quarantined result: %q", text)
	}
	b.noProblems()
}

// TestBrowserKeyboardAndSmallScreen: the queue, an approval and the policy
// page work by keyboard alone, and nothing overflows a phone-sized screen.
func TestBrowserKeyboardAndSmallScreen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish("polly", seedPolicy)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-k", Action: "db.write", Resource: strings.Repeat("very-long-resource-name/", 20), Labels: map[string]string{"env": "prod"}})
	b := newTab(t, e.URL)
	b.signIn(e.Keys["manager-2"])
	// A fresh load; Tab from the top: the skip link comes first.
	b.open("/approvals")
	b.ready("/approvals")
	b.do(chromedp.KeyEvent("\t"))
	if got := eval[string](b, `document.activeElement.className`); got != "skip" {
		t.Errorf("first tab stop %q, want the skip link", got)
	}
	// Tab until the job link in the queue, then Enter opens it.
	for i := 0; i < 30; i++ {
		if eval[bool](b, `!!document.activeElement.closest('tr[data-job="job-k"]')`) {
			break
		}
		b.do(chromedp.KeyEvent("\t"))
	}
	b.do(chromedp.KeyEvent("\r"))
	b.ready("/approvals/job-k")
	if eval[string](b, `document.activeElement.tagName`) != "H1" {
		t.Error("focus did not move to the new page's heading")
	}
	b.wait(`document.querySelector('.verify.ok')`, 10*time.Second)
	b.do(chromedp.Focus(chromedp.ID("comment")), chromedp.KeyEvent("by keyboard"), chromedp.KeyEvent("\t"))
	if eval[string](b, `document.activeElement.id`) != "approve" {
		t.Fatalf("tab from the comment reaches %q", eval[string](b, `document.activeElement.id`))
	}
	b.do(chromedp.KeyEvent("\r"))
	b.ready("/jobs/job-k")
	if !strings.Contains(b.text("#s-approval + dl"), "by keyboard") {
		t.Error("keyboard approval not recorded")
	}
	// Every focusable element has a visible focus style (outline) when focused.
	noOutline := eval[int](b, `(() => {
		let bad = 0;
		for (const el of document.querySelectorAll('a[href], button, input, select, textarea, [tabindex="0"]')) {
			if (el.offsetParent === null) continue;
			el.focus();
			if (document.activeElement !== el) continue;
			const s = getComputedStyle(el);
			if (s.outlineStyle === 'none' && el.matches(':focus-visible')) bad++;
		}
		return bad;
	})()`)
	if noOutline != 0 {
		t.Errorf("%d focusable elements without a focus outline", noOutline)
	}

	// Responsive: at 375 px nothing is wider than the screen.
	b.do(chromedp.EmulateViewport(375, 740))
	for _, p := range []string{"/approvals", "/jobs/job-k", "/policy", "/overview", "/search?go=1", "/runs?status=all"} {
		b.visit(p)
		if w := eval[int](b, `document.documentElement.scrollWidth`); w > 375 {
			over := eval[string](b, `[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 376 && !e.closest('.scroll, .code, .code-scroll, pre')).slice(0, 3).map(e => e.tagName + '.' + e.className).join(', ')`)
			t.Errorf("%s is %d px wide on a 375 px screen (%s)", p, w, over)
		}
	}
	b.noProblems()
}

// TestBrowserPerformance seeds 10,000 pending approvals, then measures the
// approval queue's first contentful paint in a fresh page load and the bytes
// every console page transfers.
func TestBrowserPerformance(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 approvals")
	}
	t.Parallel()
	e := newEnv(t)
	e.publish("polly", seedPolicy)
	b := newTab(t, e.URL) // skips before seeding when there is no browser
	agent := e.principal("agent-1")
	const n = 10000
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for w := 0; w < 256; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				_, _, err := e.Svc.Submit(context.Background(), agent, cairn.SubmitRequest{
					JobID: fmt.Sprintf("job-%05d", i), RunID: fmt.Sprintf("run-%03d", i%100), Action: "db.write",
					Resource: fmt.Sprintf("orders/%d", i), Labels: map[string]string{"env": "prod"},
					Input: json.RawMessage(fmt.Sprintf(`{"sql":"UPDATE orders SET status = 'shipped' WHERE id = %d"}`, i)),
				}, "")
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("seeded %d pending approvals in %v", n, time.Since(start).Round(time.Millisecond))

	b.signIn(e.Keys["manager-2"])
	// Every load below is cold: the browser cache is off.
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatal(err)
	}
	cancel()
	// A fresh load of the queue (the key is already in this tab's sessionStorage).
	b.open("/approvals")
	b.ready("/approvals")
	b.wait(`performance.getEntriesByName('first-contentful-paint').length > 0 && performance.getEntriesByName('cairn:queue-rendered').length > 0`, 10*time.Second)
	fcp := eval[float64](b, `performance.getEntriesByName('first-contentful-paint')[0].startTime`)
	rows := eval[float64](b, `performance.getEntriesByName('cairn:queue-rendered')[0].startTime`)
	t.Logf("approval queue with %d pending: first contentful paint %.0f ms, first %d rows rendered at %.0f ms", n, fcp, b.count("table.queue tbody tr"), rows)
	if fcp >= 1000 {
		// A figure to report, not a timed assertion (DESIGN.md): say it loudly.
		t.Logf("NOTE: first contentful paint %.0f ms is over the 1 s target on this run", fcp)
	}
	if got := b.count("table.queue tbody tr"); got != 50 {
		t.Errorf("queue rendered %d rows, want one server page of 50", got)
	}

	// Bytes per page: a fresh load of each page, document + every resource
	// (assets and API calls).
	for _, p := range []string{"/approvals", "/approvals/job-05000", "/jobs/job-05000", "/runs/run-007", "/runs?status=all", "/overview", "/policy", "/search?go=1", "/search?kind=approvals&go=1", "/signin"} {
		b.open(p)
		u := p
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		b.ready(u)
		time.Sleep(150 * time.Millisecond)
		size := eval[map[string]float64](b, `(() => {
			const nav = performance.getEntriesByType('navigation')[0];
			let total = nav.transferSize, api = 0, assets = 0, count = 0;
			for (const r of performance.getEntriesByType('resource')) {
				total += r.transferSize; count++;
				if (new URL(r.name).pathname.startsWith('/api/')) api += r.transferSize; else assets += r.transferSize;
			}
			return {total, api, assets, doc: nav.transferSize, count};
		})()`)
		t.Logf("page %-30s transferred %6.1f KB (document %.1f KB, assets %.1f KB, API %.1f KB, %d requests)",
			p, size["total"]/1024, size["doc"]/1024, size["assets"]/1024, size["api"]/1024, int(size["count"]))
		if size["total"] > 300*1024 {
			t.Errorf("%s transferred %.1f KB, over 300 KB", p, size["total"]/1024)
		}
		if size["total"] == 0 {
			t.Errorf("%s: nothing measured", p)
		}
	}
	b.noProblems()
}

// TestBrowserJobHashMatchesGo checks the console's own job_hash (RFC 8785 +
// SHA-256 in JavaScript, used to enable Approve) against ledger.JobHash on
// inputs where canonical JSON is easy to get wrong.
func TestBrowserJobHashMatchesGo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []ledger.JobHashInput{
		{Tenant: "default", JobID: "j1", Action: "db.write", SubmittedBy: "agent-1"},
		{Tenant: "default", JobID: "j2", RunID: "r", WorkflowStepID: "s", Action: "a/b:c", Resource: "<script>\u202e\"q\"\\",
			Labels: map[string]string{"z": "1", "a": "\u2028", "é": "x"}, RiskTags: []string{"pii", "Zed", "a.b"}, SubmittedBy: "agent-1",
			Input: json.RawMessage(`{"b": 1, "a": [1.0, 1e21, 1E-7, 0.1, -0, 123456789012345678, 5e-324, 1.7976931348623157e308], "c": "\u0001\u001f\"\\/\ud83d\ude00"}`)},
		{Tenant: "t", JobID: "j3", Action: "x", SubmittedBy: "p", Input: json.RawMessage(`{"\ud83d\ude00": 1, "\uffff": 2, "é": 3, "A": 4, "": 5, "aa": {"b": [], "a": {}}}`)},
		{Tenant: "t", JobID: "j4", Action: "x", SubmittedBy: "p", Input: json.RawMessage(`null`)},
		{Tenant: "t", JobID: "j5", Action: "x", SubmittedBy: "p", Input: json.RawMessage(`"just a string with </script> and \u00e9"`)},
		{Tenant: "t", JobID: "j6", Action: "x", SubmittedBy: "p", Input: json.RawMessage(`[[[[[1]]]], true, false, null, 0, -1.5, 100, 1e2]`)},
	}
	type jsCase struct {
		Job   map[string]any `json:"job"`
		Input *string        `json:"input"`
		Want  string         `json:"want"`
	}
	var js []jsCase
	for _, c := range cases {
		want, err := ledger.JobHash(c)
		if err != nil {
			t.Fatal(err)
		}
		job := map[string]any{"tenant": c.Tenant, "job_id": c.JobID, "run_id": c.RunID, "workflow_step_id": c.WorkflowStepID,
			"action": c.Action, "resource": c.Resource, "labels": c.Labels, "risk_tags": c.RiskTags, "submitted_by": c.SubmittedBy}
		var in *string
		if c.Input != nil {
			s := string(c.Input)
			in = &s
		}
		js = append(js, jsCase{job, in, want})
	}
	raw, _ := json.Marshal(js)
	b := newTab(t, e.URL)
	b.open("/signin")
	b.ready("/signin")
	got := eval[[]string](b, `import('/assets/js/json.js').then(m => Promise.all(`+string(raw)+`.map(c => m.jobHash(c.job, c.input))))`)
	for i, c := range js {
		if i >= len(got) || got[i] != c.Want {
			t.Errorf("case %d: browser job_hash %v, Go %s", i+1, got, c.Want)
		}
	}
	// and the pure-JavaScript SHA-256 (used outside secure contexts)
	sums := eval[[]string](b, `import('/assets/js/json.js').then(m => ['', 'abc', 'x'.repeat(55), 'x'.repeat(56), 'x'.repeat(64), 'é'.repeat(1000)].map(s => m._sha256js(new TextEncoder().encode(s))))`)
	for i, s := range []string{"", "abc", strings.Repeat("x", 55), strings.Repeat("x", 56), strings.Repeat("x", 64), strings.Repeat("é", 1000)} {
		if want := ledger.SHA256Hex([]byte(s)); sums[i] != want {
			t.Errorf("sha256js(%d bytes) = %s, want %s", len(s), sums[i], want)
		}
	}
	b.noProblems()
}

// TestBrowserPrunedTimeline: a run whose evidence a retention compaction
// pruned shows each event as a marker in its place, saying it was pruned
// and by which compaction, with no script error.
func TestBrowserPrunedTimeline(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, apitest.Options{LedgerKey: true})
	e.publish("polly", seedPolicy)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-old", RunID: "run-old", Action: "db.read", Resource: "orders"})
	e.complete(e.Lease("db.*")[0], `{"rows": 1}`)
	ctx := context.Background()
	if err := e.Svc.SetRetention(time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.IssueCheckpoint(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // past a 1 ms retention
	cs, err := e.Svc.Compact(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("compaction: %+v, %v", cs, err)
	}

	b := newTab(t, e.URL)
	b.signIn(e.Keys["auditor-1"])
	b.visit("/runs/run-old")
	b.wait(`document.querySelector('#timeline li[data-type="run_completed"]')`, 10*time.Second)
	total, pruned := b.count("#timeline li"), b.count(`#timeline li[data-pruned="true"]`)
	if total < 3 || pruned != total {
		t.Fatalf("%d of %d timeline items are pruned markers, want all", pruned, total)
	}
	want := fmt.Sprintf("pruned by retention (compaction at ledger #%d)", cs[0].Event)
	if got := b.text(`#timeline li[data-type="job_submitted"]`); !strings.Contains(got, want) || !strings.Contains(got, "job-old") {
		t.Errorf("marker text %q, want %q and the job", got, want)
	}
	b.noProblems()
}
