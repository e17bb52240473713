// Search: jobs by id, run, action, rule, decision, state, submitter and time
// range; approvals by resolver (and rule, run, time). The query lives in the
// URL so results can be bookmarked and shared (it never holds the key).
import {h, val, code, link, route, badge, fmtTime, toUTC, toLocalInput, age} from '../dom.js';
import {get, qs} from '../api.js';
import {errorBox} from '../views.js';

const STATES = ['PENDING_APPROVAL', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DENIED', 'EXPIRED', 'CANCELLED'];
const DECISIONS = ['ALLOW', 'DENY', 'REQUIRE_APPROVAL', 'ALLOW_WITH_CONSTRAINTS'];
const PAGE = 50;

export default async function search(ctx) {
  const {main, query, setTitle, signal, navigate, caps} = ctx;
  const kind = query.get('kind') === 'approvals' && caps.approvals ? 'approvals' : 'jobs';
  setTitle('Search');
  main.append(h('h1', {tabindex: '-1'}, 'Search'));
  const q = (k) => query.get(k) || '';

  const field = (name, label, attrs = {}) => h('div', {class: 'field'}, h('label', {for: 's-' + name}, label),
    h('input', {id: 's-' + name, name, value: attrs.type === 'datetime-local' ? toLocalInput(q(name)) : q(name), autocomplete: 'off', ...attrs}));
  const select = (name, label, options) => h('div', {class: 'field'}, h('label', {for: 's-' + name}, label),
    h('select', {id: 's-' + name, name}, h('option', {value: ''}, 'any'), options.map((o) => h('option', {value: o, selected: q(name) === o}, o))));

  const tabs = h('div', {class: 'tabs', role: 'group', 'aria-label': 'What to search'},
    link('/search', 'Jobs'), caps.approvals ? link('/search?kind=approvals', 'Approvals') : null);
  tabs.querySelectorAll('a').forEach((a, i) => { if ((i === 0) === (kind === 'jobs')) a.setAttribute('aria-current', 'page'); });
  main.append(tabs);

  const fields = kind === 'jobs'
    ? [field('job_id', 'Job id'), field('run_id', 'Run'), field('action', 'Action'), field('policy_rule_id', 'Rule'),
      select('decision', 'Decision', DECISIONS), select('state', 'State', STATES), field('submitted_by', 'Submitter'),
      field('since', 'From (your local time)', {type: 'datetime-local'}), field('until', 'Until', {type: 'datetime-local'})]
    : [field('resolved_by', 'Resolved by'), field('policy_rule_id', 'Rule'), field('run_id', 'Run'),
      h('div', {class: 'field check'}, h('input', {type: 'checkbox', id: 's-pending', name: 'pending', value: 'true', checked: q('pending') === 'true'}), h('label', {for: 's-pending'}, 'Pending only')),
      field('since', 'Requested from (local time)', {type: 'datetime-local'}), field('until', 'Until', {type: 'datetime-local'})];
  const form = h('form', {class: 'filters search', role: 'search', 'aria-label': 'Search ' + kind}, fields,
    h('div', {class: 'field'}, h('button', {type: 'submit', class: 'primary'}, 'Search')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    for (const k of ['since', 'until']) data[k] = toUTC(data[k]);
    if (kind === 'jobs' && data.job_id) { navigate(route`/jobs/${data.job_id.trim()}`); return; }
    delete data.job_id;
    navigate('/search' + qs({kind: kind === 'approvals' ? 'approvals' : '', ...data}));
  });
  main.append(form);

  const params = {};
  const keys = kind === 'jobs'
    ? ['run_id', 'action', 'policy_rule_id', 'decision', 'state', 'submitted_by', 'since', 'until']
    : ['resolved_by', 'policy_rule_id', 'run_id', 'since', 'until'];
  for (const k of keys) if (q(k)) params[k] = q(k).trim();
  const searched = Object.keys(params).length > 0 || query.has('cursor') || query.has('go') || (kind === 'approvals' && query.has('pending'));
  const results = h('div', {id: 'results', 'aria-live': 'polite'});
  main.append(results);
  if (!searched) {
    results.append(h('p', {class: 'muted'}, kind === 'jobs' ? 'Give any filters and search; with none, ' : '', kind === 'jobs' ? link('/search?go=1', 'list the newest jobs') : link('/search?kind=approvals&go=1', 'list the newest approvals'), '.'));
    if (q('run_id')) results.append(h('p', null, link(route`/runs/${q('run_id')}`, 'Open the run timeline')));
    return;
  }
  if (params.run_id) results.append(h('p', null, link(route`/runs/${params.run_id}`, 'Open the timeline of run ', code(params.run_id))));
  try {
    const path = kind === 'jobs' ? '/jobs' : '/approvals';
    const page = await get(path + qs({...params, include_resolved: kind === 'approvals' && q('pending') !== 'true' ? 'true' : '', limit: PAGE, cursor: q('cursor')}), {signal});
    results.append(h('p', {class: 'muted', role: 'status'}, `${page.items.length}${page.next_cursor ? '+' : ''} ${kind} on this page, newest first.`));
    results.append(kind === 'jobs' ? jobsTable(page.items) : approvalsTable(page.items));
    const base = {kind: kind === 'approvals' ? 'approvals' : '', ...params, pending: q('pending'), go: q('go')};
    const pager = h('nav', {class: 'pager', 'aria-label': 'Pages'});
    if (q('cursor')) pager.append(link('/search' + qs(base), '« Newest'));
    if (page.next_cursor) pager.append(link('/search' + qs({...base, cursor: page.next_cursor}), `Older ${PAGE} »`));
    results.append(pager);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    results.append(errorBox(err));
  }
}

export function jobsTable(items) {
  return h('div', {class: 'scroll'}, h('table', {class: 'list jobs'},
    h('caption', {class: 'sr-only'}, 'Jobs'),
    h('thead', null, h('tr', null, ['Job', 'Action', 'Resource', 'State', 'Decision and rule', 'Submitter', 'Run', 'Created'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', null, items.map((j) => h('tr', null,
      h('td', null, link(route`/jobs/${j.job_id}`, code(j.job_id))),
      h('td', null, code(j.action)), h('td', null, val(j.resource)),
      h('td', null, badge(j.state, 'state'), j.output_safety && j.output_safety.decision !== 'ALLOW' ? [' ', badge(j.output_safety.decision, 'os')] : null),
      h('td', null, badge(j.decision, 'dec'), ' ', code(j.policy_rule_id)),
      h('td', null, val(j.submitted_by)),
      h('td', null, j.run_id ? link(route`/runs/${j.run_id}`, code(j.run_id)) : val(null)),
      h('td', null, fmtTime(j.created_at)))))));
}

function approvalsTable(items) {
  return h('div', {class: 'scroll'}, h('table', {class: 'list approvals'},
    h('caption', {class: 'sr-only'}, 'Approvals'),
    h('thead', null, h('tr', null, ['Job', 'Action', 'Rule', 'Requested by', 'Requested', 'Outcome', 'Resolved by', 'Comment'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', null, items.map((a) => h('tr', null,
      h('td', null, link(a.status === 'pending' ? route`/approvals/${a.job_id}` : route`/jobs/${a.job_id}`, code(a.job_id))),
      h('td', null, code(a.action)), h('td', null, code(a.policy_rule_id)), h('td', null, val(a.requested_by)),
      h('td', null, fmtTime(a.requested_at), h('div', {class: 'sub'}, age(a.requested_at), ' ago')),
      h('td', null, a.status === 'pending' ? badge('pending', 'res') : badge(a.resolution, 'res')),
      h('td', null, val(a.resolved_by)), h('td', null, val(a.resolved_comment)))))));
}
