// The approval queue: pending approvals, newest first, paged by the server.
import {h, val, code, link, route, badge, shortHash, age, countdown, fmtTime} from '../dom.js';
import {get, qs} from '../api.js';

export const PAGE = 50;

export default async function queue(ctx) {
  const {main, query, setTitle, signal} = ctx;
  const resolved = query.get('include_resolved') === 'true';
  setTitle(resolved ? 'Approvals' : 'Approval queue');
  const f = {
    policy_rule_id: query.get('policy_rule_id') || '',
    run_id: query.get('run_id') || '',
    resolved_by: query.get('resolved_by') || '',
  };
  main.append(h('h1', {tabindex: '-1'}, resolved ? 'Approvals' : 'Approval queue'));
  const status = h('p', {class: 'muted', role: 'status'}, 'Loading…');
  const table = h('table', {class: 'list queue'},
    h('caption', {class: 'sr-only'}, resolved ? 'Approvals, newest first' : 'Pending approvals, newest first'),
    h('thead', null, h('tr', null,
      ['Action', 'Resource', 'Requested by', 'Deciding rule and reason', 'Snapshot', 'Age', resolved ? 'Outcome' : 'Expires'].map((t) => h('th', {scope: 'col'}, t)))));
  const tbody = h('tbody', null);
  table.append(tbody);
  main.append(filters(f, resolved, ctx.navigate), status, h('div', {class: 'scroll'}, table));
  const pager = h('nav', {class: 'pager', 'aria-label': 'Pages'});
  main.append(pager);

  const page = await get('/approvals' + qs({...f, include_resolved: resolved ? 'true' : '', limit: PAGE, cursor: query.get('cursor')}), {signal});
  for (const a of page.items) tbody.append(row(a, resolved));
  performance.mark('cairn:queue-rendered');
  const n = page.items.length;
  status.textContent = n === 0
    ? (resolved ? 'No approvals match.' : 'No approvals are waiting. ')
    : `${n}${page.next_cursor ? '+' : ''} ${resolved ? 'approvals' : 'pending approvals'} on this page, newest first.`;
  if (query.get('cursor')) pager.append(link('/approvals' + qs({...f, include_resolved: resolved ? 'true' : ''}), '« Newest'));
  if (page.next_cursor) pager.append(link('/approvals' + qs({...f, include_resolved: resolved ? 'true' : '', cursor: page.next_cursor}), `Older ${PAGE} »`));
}

function row(a, resolved) {
  const open = route`/approvals/${a.job_id}`;
  return h('tr', {'data-job': a.job_id},
    h('td', null, link(open, code(a.action)), h('div', {class: 'sub'}, code(a.job_id, 'id'))),
    h('td', null, val(a.resource)),
    h('td', null, val(a.requested_by)),
    h('td', null, badge(a.decision, 'dec'), ' ', code(a.policy_rule_id), h('div', {class: 'sub'}, val(a.policy_reason))),
    h('td', null, shortHash(a.policy_snapshot, 8)),
    h('td', null, age(a.requested_at), h('div', {class: 'sub'}, fmtTime(a.requested_at))),
    resolved && a.status !== 'pending'
      ? h('td', null, badge(a.resolution, 'res'), ' ', a.resolved_by ? ['by ', val(a.resolved_by)] : null)
      : h('td', null, countdown(a.expires_at)));
}

function filters(f, resolved, navigate) {
  const field = (name, label, value) => h('div', {class: 'field'},
    h('label', {for: 'q-' + name}, label), h('input', {id: 'q-' + name, name, value, autocomplete: 'off'}));
  return h('form', {class: 'filters', method: 'get', action: '/approvals', role: 'search', 'aria-label': 'Filter approvals', onsubmit: (e) => {
    e.preventDefault();
    navigate('/approvals' + qs(Object.fromEntries(new FormData(e.target))));
  }},
    field('policy_rule_id', 'Rule', f.policy_rule_id),
    field('run_id', 'Run', f.run_id),
    field('resolved_by', 'Resolved by', f.resolved_by),
    h('div', {class: 'field check'}, h('input', {type: 'checkbox', id: 'q-resolved', name: 'include_resolved', value: 'true', checked: resolved}), h('label', {for: 'q-resolved'}, 'Include resolved')),
    h('button', {type: 'submit'}, 'Filter'));
}
