// Workflow runs, newest first, paged by the server, filtered by status (an
// approver starts on the runs waiting for approval) and by workflow.
import {h, val, code, link, route, badge, age, countdown, fmtTime} from '../dom.js';
import {get, qs} from '../api.js';

export const STATUSES = ['waiting_approval', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'completed'];
const PAGE = 50;

export default async function runs(ctx) {
  const {main, query, setTitle, signal, navigate, caps} = ctx;
  // "all" is explicit so that the approver's default does not come back.
  let status = query.get('status') ?? (caps.approvals ? 'waiting_approval' : 'all');
  if (status !== 'all' && !STATUSES.includes(status)) status = 'all';
  const wf = query.get('workflow_id') || '';
  setTitle('Workflow runs');
  main.append(h('h1', {tabindex: '-1'}, 'Workflow runs'));

  const sel = h('select', {id: 'r-status', name: 'status'}, h('option', {value: 'all'}, 'any'),
    STATUSES.map((s) => h('option', {value: s, selected: s === status}, s)));
  const wfIn = h('input', {id: 'r-workflow', name: 'workflow_id', value: wf, autocomplete: 'off'});
  main.append(h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter runs', onsubmit: (e) => {
    e.preventDefault();
    navigate('/runs' + qs({status: sel.value, workflow_id: wfIn.value.trim()}));
  }},
  h('div', {class: 'field'}, h('label', {for: 'r-status'}, 'Status'), sel),
  h('div', {class: 'field'}, h('label', {for: 'r-workflow'}, 'Workflow id'), wfIn),
  h('button', {type: 'submit'}, 'Filter')));

  const msg = h('p', {class: 'muted', role: 'status', id: 'runs-status'}, 'Loading…');
  const tbody = h('tbody', null);
  const table = h('table', {class: 'list runs', id: 'runs'},
    h('caption', {class: 'sr-only'}, 'Workflow runs, newest first'),
    h('thead', null, h('tr', null, ['Run', 'Workflow', 'Status', 'Steps', 'Started by', 'Started', 'Updated'].map((t) => h('th', {scope: 'col'}, t)))),
    tbody);
  const pager = h('nav', {class: 'pager', 'aria-label': 'Pages'});
  main.append(msg, h('div', {class: 'scroll'}, table), pager);

  const f = {status: status === 'all' ? '' : status, workflow_id: wf};
  const page = await get('/workflow-runs' + qs({...f, limit: PAGE, cursor: query.get('cursor')}), {signal});
  for (const r of page.items) tbody.append(row(r));
  const n = page.items.length;
  msg.textContent = n === 0
    ? (status === 'waiting_approval' ? 'No runs are waiting for approval.' : 'No runs match.')
    : `${n}${page.next_cursor ? '+' : ''} runs on this page, newest first.`;
  const keep = {status, workflow_id: wf};
  if (query.get('cursor')) pager.append(link('/runs' + qs(keep), '« Newest'));
  if (page.next_cursor) pager.append(link('/runs' + qs({...keep, cursor: page.next_cursor}), `Older ${PAGE} »`));
}

// workflowName shows wf:<tenant>:<name>#sha256:<hex> as its name, with the id
// in the title.
export function workflowName(id) {
  if (!id) return h('span', {class: 'none'}, 'ad hoc');
  const m = /^wf:[^:]*:(.*)#sha256:[0-9a-f]+$/.exec(id);
  return link(route`/workflows/${id}`, h('code', {title: id}, h('bdi', null, m ? m[1] : id)));
}

function row(r) {
  const steps = r.steps || [];
  const done = steps.filter((s) => s.status === 'succeeded' || s.status === 'skipped').length;
  const gates = steps.filter((s) => s.status === 'waiting_approval' && s.gate);
  return h('tr', {'data-run': r.run_id, 'data-status': r.status},
    h('td', null, link(route`/runs/${r.run_id}`, code(r.run_id)),
      r.rerun_of ? h('div', {class: 'sub'}, 'rerun of ', code(r.rerun_of)) : null),
    h('td', null, workflowName(r.workflow_id)),
    h('td', null, badge(r.status, 'run'), r.status_reason ? h('div', {class: 'sub'}, val(r.status_reason)) : null),
    h('td', null, steps.length ? `${done}/${steps.length} done` : val(null),
      gates.map((s) => h('div', {class: 'sub gate-sub'}, 'gate ', h('bdi', null, s.step_id), ': ',
        `${(s.gate.votes || []).filter((v) => v.resolution === 'approved').length}/${s.gate.quorum} approvals`,
        s.gate.expires_at ? [', expires ', countdown(s.gate.expires_at)] : null))),
    h('td', null, val(r.started_by)),
    h('td', null, age(r.created_at), h('div', {class: 'sub'}, fmtTime(r.created_at))),
    h('td', null, fmtTime(r.updated_at)));
}
