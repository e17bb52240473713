// A workflow run on the run page: the run's workflow, status and reason,
// its steps in definition order (status, attempts, jobs, error) and each
// step's gate. A pending gate shows what it releases (the job_hash and the
// rendered input, exactly as the server sent it) and lets an approver vote;
// the vote sends the job_hash shown on the page.
import {h, val, code, link, route, badge, dl, fmtTime, countdown} from './dom.js';
import {getText, post, p} from './api.js';
import {pretty, rawAt} from './json.js';
import {errorBox} from './views.js';
import {workflowName} from './pages/runs.js';

// Plain words for gate votes (they differ from a job approval's).
const GATE_WORDS = {
  self_approval_forbidden: 'You started this run, so you cannot approve or reject its gates. Another approver has to decide.',
  approver_role_not_allowed: 'Your key does not hold a role this gate allows to vote.',
  approval_expired: 'This gate has expired. It can no longer be approved or rejected; the step will not run.',
  job_hash_mismatch: 'The job is not the one you reviewed: the job_hash sent does not match the job the gate releases. Nothing was recorded. Reload the page and review it again.',
};

let formSeq = 0;

// workflowView returns {el, load}: load() fetches the run and updates the
// view in place, calling onRun(run).
export function workflowView(ctx, id, onRun) {
  const {signal, caps} = ctx;
  const summary = h('div', {class: 'card', id: 'wf-summary'});
  const list = h('ol', {class: 'steps', id: 'steps', 'aria-label': 'Steps, in definition order, indented by depth'});
  const note = h('div', {id: 'gate-note', role: 'status'});
  const el = h('div', {class: 'wf'}, summary, h('section', {class: 'card', 'aria-labelledby': 's-steps'}, h('h2', {id: 's-steps'}, 'Steps'), note, list));
  const shown = new Map(); // step id -> {key, li}
  const messages = new Map(); // step id -> node shown under its gate's buttons

  async function load() {
    const res = await getText(p`/workflow-runs/${id}`, 0, {signal});
    const src = new TextDecoder().decode(res.bytes);
    const run = JSON.parse(src);
    renderSummary(run);
    const steps = run.steps || [];
    const depth = depths(steps);
    steps.forEach((st, i) => {
      const input = st.gate ? rawAt(src, ['steps', i, 'gate', 'input']) : null;
      const key = JSON.stringify([st, input, run.status, depth.get(st.step_id)]);
      const old = shown.get(st.step_id);
      if (old && old.key === key) { list.append(old.li); return; }
      const li = stepItem(run, st, input, depth.get(st.step_id));
      if (old) old.li.replaceWith(li);
      shown.set(st.step_id, {key, li});
      list.append(li); // keeps definition order
    });
    onRun(run);
    return run;
  }

  function renderSummary(run) {
    summary.replaceChildren(dl([
      ['Workflow', [workflowName(run.workflow_id), ' ', code(run.workflow_id, 'wrap small')]],
      ['Status', [badge(run.status, 'run'), run.status_reason ? [' — ', h('span', {id: 'run-reason'}, val(run.status_reason))] : null]],
      ['Started', [fmtTime(run.created_at), ' by ', val(run.started_by)]],
      run.completed_at ? ['Completed', fmtTime(run.completed_at)] : null,
      run.rerun_of ? ['Rerun of', [link(route`/runs/${run.rerun_of}`, code(run.rerun_of)), run.rerun_from_step ? [' from step ', val(run.rerun_from_step)] : null]] : null,
      run.timeout_at && !run.completed_at ? ['Run deadline', [fmtTime(run.timeout_at), ' (', countdown(run.timeout_at), ')']] : null,
      ['Input', [code(run.input_ptr), ' · sha256 ', code(run.input_sha256, 'wrap')]],
    ]));
  }

  function stepItem(run, st, input, depth) {
    const jobs = st.jobs || [];
    const deps = st.depends_on || [];
    const li = h('li', {class: 'step st-' + st.status, 'data-step': st.step_id, 'data-status': st.status, 'data-depth': String(Math.min(depth || 0, 6))},
      h('h3', null, h('bdi', null, st.step_id), ' ', badge(st.status, 'step'),
        st.attempts ? h('span', {class: 'muted'}, ` · ${st.attempts} attempt${st.attempts === 1 ? '' : 's'}`) : null),
      dl([
        deps.length ? ['After', h('span', {class: 'step-deps'}, deps.map((d, i) => [i ? ', ' : '', h('bdi', null, d)]))] : null,
        jobs.length ? ['Jobs', h('span', {class: 'step-jobs'}, jobs.map((j, i) => [i ? ', ' : '', link(route`/jobs/${j}`, code(j))]))] : null,
        st.compensation_job_id ? ['Compensation', link(route`/jobs/${st.compensation_job_id}`, code(st.compensation_job_id))] : null,
        st.error ? ['Error', h('span', {class: 'step-error'}, val(st.error), st.continued ? ' (the run continued)' : '')] : null,
        st.from_run ? ['Reused from', link(route`/runs/${st.from_run}`, code(st.from_run))] : null,
        st.started_at ? ['Started', fmtTime(st.started_at)] : null,
        st.completed_at ? ['Completed', fmtTime(st.completed_at)] : null,
        st.next_at && !st.completed_at && st.status !== 'waiting_approval' ? ['Next deadline', [fmtTime(st.next_at), ' (', countdown(st.next_at), ')']] : null,
      ]));
    if (st.gate) li.append(gateView(run, st, input));
    return li;
  }

  function gateView(run, st, input) {
    const g = st.gate;
    const votes = g.votes || [];
    const yes = votes.filter((v) => v.resolution === 'approved').length;
    const pending = g.status === 'pending' && st.status === 'waiting_approval';
    const text = input == null ? null : (pretty(input, '  ', true) ?? input);
    const hashEl = h('code', {class: 'wrap gate-hash'}, g.job_hash);
    const box = h('div', {class: 'gate g-' + g.status, role: 'group', 'aria-label': 'Gate of step ' + st.step_id},
      h('h4', null, 'Gate ', badge(g.status, 'res'), ' ', h('span', {class: 'gate-votes'}, `${yes}/${g.quorum} approvals`)),
      dl([
        ['Who may vote', [val((g.approver_roles || []).join(', ')), ` · ${g.quorum} distinct approver${g.quorum === 1 ? '' : 's'}, not the run\u2019s starter`]],
        ['Requested', fmtTime(g.requested_at)],
        ['Expires', g.expires_at ? [fmtTime(g.expires_at), pending ? [' (', countdown(g.expires_at), ')'] : null] : h('span', {class: 'none'}, 'never')],
        g.resolved_at ? ['Resolved', fmtTime(g.resolved_at)] : null,
        ['Releases job', g.status === 'approved' ? link(route`/jobs/${g.job_id}`, code(g.job_id)) : code(g.job_id)],
        ['job_hash', hashEl],
      ]),
      h('h5', null, 'Input the job will run with'),
      h('p', {class: 'muted small'}, 'Pretty-printed: numbers exactly as sent, string escapes decoded. The exact stored bytes are on the job page once the gate releases it.'),
      text == null ? h('p', {class: 'none'}, 'not available')
        : h('pre', {class: 'payload gate-input', tabindex: '0', role: 'region', 'aria-label': 'gate input of step ' + st.step_id}, text),
      votes.length ? h('ul', {class: 'votes'}, votes.map((v) => h('li', null, badge(v.resolution, 'res'), ' by ', val(v.by), ' · ', fmtTime(v.at),
        v.comment ? [' · “', val(v.comment), '”'] : null))) : h('p', {class: 'muted'}, 'No votes yet.'));
    if (pending && caps.approvals) box.append(voteForm(st, hashEl));
    else if (messages.has(st.step_id)) box.append(messages.get(st.step_id));
    return box;
  }

  function voteForm(st, hashEl) {
    const cid = 'gc-' + (++formSeq);
    const comment = h('textarea', {id: cid, class: 'gate-comment', rows: '2', maxlength: '4096'});
    const approve = h('button', {type: 'button', class: 'primary gate-approve'}, 'Approve');
    const reject = h('button', {type: 'button', class: 'danger gate-reject'}, 'Reject');
    const result = h('div', {class: 'gate-result', role: 'alert'}, messages.get(st.step_id) || null);
    async function send(ok) {
      messages.delete(st.step_id);
      result.replaceChildren();
      approve.disabled = reject.disabled = true;
      try {
        // the hash the person saw, read back from the page
        await post(p`/workflow-runs/${id}/steps/${st.step_id}/${ok ? 'approve' : 'reject'}`, {job_hash: hashEl.textContent.trim(), comment: comment.value});
        note.replaceChildren(h('p', {class: 'verify ok'}, `Your ${ok ? 'approval' : 'rejection'} of step `, h('bdi', null, st.step_id), ' is recorded.'));
      } catch (err) {
        if (err.name === 'AbortError') return;
        const box = errorBox(err, h('p', {class: 'muted'}, 'Code: ', code(err.code)), GATE_WORDS);
        messages.set(st.step_id, box);
        result.replaceChildren(box);
        approve.disabled = reject.disabled = false;
      }
      try { await load(); } catch (err) { if (err.name !== 'AbortError') note.replaceChildren(errorBox(err)); }
    }
    approve.addEventListener('click', () => send(true));
    reject.addEventListener('click', () => send(false));
    return h('div', {class: 'gate-vote'},
      h('label', {for: cid}, 'Comment'), comment,
      h('div', {class: 'actions'}, approve, reject), result);
  }

  return {el, load};
}

// depths maps each step id to its depth in the DAG: 0 without
// dependencies, else one more than its deepest dependency. Runs stored
// before steps carried depends_on are all at depth 0.
export function depths(steps) {
  const deps = new Map(steps.map((st) => [st.step_id, st.depends_on || []]));
  const out = new Map();
  const visit = (id, seen) => {
    if (out.has(id)) return out.get(id);
    if (seen.has(id) || !deps.has(id)) return 0; // the server refuses cycles; never loop
    seen.add(id);
    const d = Math.max(-1, ...deps.get(id).map((x) => visit(x, seen))) + 1;
    out.set(id, d);
    return d;
  };
  steps.forEach((st) => visit(st.step_id, new Set()));
  return out;
}
