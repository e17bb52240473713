// A run's timeline: vertical, one icon per event type, with filters. While
// the run is running (or waiting for approval) it polls the timeline for
// events after the last seq. A workflow run (its run_started event names the
// workflow) also shows its steps and gates above the timeline (../steps.js,
// loaded only then), refreshed whenever new events arrive.
import {h, val, code, link, route, badge, fmtTime, shortHash} from '../dom.js';
import {get, p, qs} from '../api.js';
import {errorBox} from '../views.js';

export const TYPES = {
  run_started: 'Run started', run_reopened: 'Run reopened', job_submitted: 'Job submitted',
  policy_decided: 'Policy decided', approval_requested: 'Approval requested', approval_resolved: 'Approval resolved',
  job_dispatched: 'Job dispatched', job_state_changed: 'Job state changed', lease_expired: 'Lease expired',
  job_completed: 'Job completed', output_checked: 'Output checked', run_completed: 'Run completed',
};
// The workflow engine's events; their filters appear on workflow runs only.
export const WF_TYPES = {
  step_started: 'Step started', step_skipped: 'Step skipped', step_reused: 'Step reused', step_succeeded: 'Step succeeded',
  step_failed: 'Step failed', step_retry_scheduled: 'Retry scheduled', step_timed_out: 'Step timed out', step_cancelled: 'Step cancelled',
  gate_requested: 'Gate requested', gate_voted: 'Gate vote', gate_resolved: 'Gate resolved',
  compensation_started: 'Compensation started', run_status_changed: 'Run status changed',
};
const PAGE = 100;
const POLL_MS = 1500;
const LIVE = ['running', 'waiting_approval'];

export default async function run(ctx) {
  const {main, params, setTitle, signal, onCleanup} = ctx;
  const id = params[0];
  setTitle('Run ' + id);
  main.append(h('h1', {tabindex: '-1'}, 'Run ', h('bdi', null, id)));
  const statusEl = h('span', {id: 'run-status'}, badge('loading', 'run'));
  const liveEl = h('span', {id: 'live', class: 'live'});
  const countEl = h('span', {class: 'muted'});
  const pauseBtn = h('button', {type: 'button', class: 'link', hidden: true, 'aria-pressed': 'false'}, 'Pause live updates');
  main.append(h('p', {class: 'state-line'}, 'Status ', statusEl, ' ', liveEl, ' ', pauseBtn, ' ', countEl));
  const announce = h('div', {class: 'sr-only', 'aria-live': 'polite', id: 'announce'});
  main.append(announce);

  // filters
  const typeBoxes = {};
  const typeBox = ([t, label]) => {
    const cb = h('input', {type: 'checkbox', id: 'f-' + t, value: t, checked: true});
    typeBoxes[t] = cb;
    return h('span', {class: 'check'}, cb, h('label', {for: 'f-' + t}, h('span', {class: 'ev-icon ev-' + t, 'aria-hidden': 'true'}), ' ', label));
  };
  const typeField = h('fieldset', {class: 'types'}, h('legend', null, 'Event types'), Object.entries(TYPES).map(typeBox));
  const jobSel = h('select', {id: 'f-job'}, h('option', {value: ''}, 'All jobs'));
  const allBtn = h('button', {type: 'button', class: 'link'}, 'Show all types');
  const filterBox = h('details', {class: 'filters-box', open: true}, h('summary', null, 'Filters'),
    h('form', {class: 'filters', onsubmit: (e) => e.preventDefault()}, typeField,
      h('div', {class: 'field'}, h('label', {for: 'f-job'}, 'Job'), jobSel), allBtn));
  main.append(filterBox);
  const list = h('ol', {class: 'timeline', id: 'timeline', 'aria-label': 'Run events, oldest first'});
  const more = h('div', {class: 'pager'});
  const errEl = h('div', null);
  main.append(list, more, errEl);

  const jobs = new Set();
  let lastSeq = 0, status = 'unknown', total = 0, paused = false, timer = null, atEnd = false;
  let workflowId = '', wf = null;

  function applyFilters() {
    const job = jobSel.value;
    let shown = 0;
    for (const li of list.children) {
      const show = typeBoxes[li.dataset.type] ? typeBoxes[li.dataset.type].checked : true;
      const ok = show && (!job || li.dataset.job === job);
      li.hidden = !ok;
      if (ok) shown++;
    }
    countEl.textContent = `· ${total} events${shown !== total ? `, ${shown} shown` : ''}`;
  }
  typeField.addEventListener('change', applyFilters);
  jobSel.addEventListener('change', applyFilters);
  allBtn.addEventListener('click', () => { Object.values(typeBoxes).forEach((cb) => { cb.checked = true; }); jobSel.value = ''; applyFilters(); });

  function setStatus(s) {
    status = s;
    statusEl.replaceChildren(badge(s, 'run'));
  }

  function addEvents(items) {
    for (const e of items) {
      lastSeq = Math.max(lastSeq, e.seq);
      total++;
      if (e.type === 'run_started' || e.type === 'run_reopened') setStatus('running');
      if (e.type === 'run_started' && e.data && e.data.workflow_id) workflowId = String(e.data.workflow_id);
      if (e.type === 'run_status_changed' && e.state) setStatus(e.state);
      if (e.type === 'run_completed') setStatus(e.state || 'completed');
      if (e.job_id && !jobs.has(e.job_id)) {
        jobs.add(e.job_id);
        jobSel.append(h('option', {value: e.job_id}, e.job_id));
      }
      list.append(eventItem(e));
    }
    applyFilters();
  }

  async function fetchPage() {
    const page = await get(p`/workflow-runs/${id}/timeline` + qs({after: lastSeq || '', limit: PAGE}), {signal});
    addEvents(page.items);
    return page;
  }

  const first = await fetchPage();
  atEnd = !first.next_cursor;
  if (workflowId) {
    const {workflowView} = await import('../steps.js');
    typeField.append(...Object.entries(WF_TYPES).map(typeBox));
    wf = workflowView(ctx, id, (r) => setStatus(r.status));
    main.insertBefore(wf.el, filterBox);
    await wf.load();
    applyFilters();
  }
  if (!atEnd) {
    const btn = h('button', {type: 'button'}, `Load the next ${PAGE} events`);
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const page = await fetchPage();
        if (!page.next_cursor) { atEnd = true; btn.remove(); schedule(); }
      } catch (err) { errEl.replaceChildren(errorBox(err)); }
      btn.disabled = false;
    });
    more.append(btn);
  }

  function schedule() {
    clearTimeout(timer);
    if (signal.aborted) return;
    const live = atEnd && LIVE.includes(status);
    liveEl.textContent = live ? (paused ? 'live updates paused' : '● live') : '';
    liveEl.classList.toggle('on', live && !paused);
    pauseBtn.hidden = !live;
    if (!live || paused) return;
    timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    if (signal.aborted) return;
    if (document.hidden) { schedule(); return; }
    const before = total;
    try {
      let page;
      do { page = await fetchPage(); } while (page.next_cursor && !signal.aborted);
      errEl.replaceChildren();
      const n = total - before;
      if (n && wf) await wf.load();
      if (n) announce.textContent = `${n} new event${n === 1 ? '' : 's'}${LIVE.includes(status) ? '' : '; the run is ' + status.replace('_', ' ')}.`;
    } catch (err) {
      if (err.name === 'AbortError') return;
      errEl.replaceChildren(errorBox(err));
    }
    schedule();
  }

  pauseBtn.addEventListener('click', () => {
    paused = !paused;
    pauseBtn.setAttribute('aria-pressed', String(paused));
    pauseBtn.textContent = paused ? 'Resume live updates' : 'Pause live updates';
    schedule();
  });
  onCleanup(() => clearTimeout(timer));
  if (status === 'unknown' && total === 0) setStatus('empty');
  schedule();
}

// prunedItem is an event whose body a retention compaction removed: the
// timeline shows where it was, its type and leaf hash, and which
// compaction pruned it (docs/evidence.md §2.7).
function prunedItem(e) {
  const label = TYPES[e.type] || WF_TYPES[e.type] || e.type;
  return h('li', {class: 'ev ev-pruned ev-' + e.type, 'data-type': e.type, 'data-job': e.job_id || '', 'data-seq': e.seq, 'data-pruned': 'true'},
    h('span', {class: 'ev-icon ev-' + e.type, 'aria-hidden': 'true'}),
    h('div', {class: 'ev-body'},
      h('div', {class: 'ev-head'},
        h('strong', null, label), ' ', h('span', {class: 'muted'}, '#', String(e.seq)), ' · ',
        h('span', {class: 'pruned-note'}, 'pruned by retention (compaction at ledger #', String(e.pruned_by), ')'),
        e.job_id ? [' · job ', code(e.job_id)] : null),
      h('div', {class: 'ev-ledger muted small'}, 'ledger ', e.ledger ? ['#', String(e.ledger.index), ' ', shortHash(e.ledger.leaf_hash, 12)] : '—')));
}

function eventItem(e) {
  if (e.pruned) return prunedItem(e);
  const chips = [];
  if (e.decision) chips.push(badge(e.decision, 'dec'));
  if (e.policy_rule_id) chips.push(h('span', null, 'rule ', code(e.policy_rule_id)));
  if (e.resolution) chips.push(badge(e.resolution, 'res'));
  if (e.resolved_by) chips.push(h('span', null, 'by ', val(e.resolved_by)));
  if (e.state) chips.push(badge(e.state, 'state'));
  if (e.output_safety) chips.push(h('span', null, 'output ', badge(e.output_safety.decision, 'os'), e.output_safety.rule_id ? [' ', code(e.output_safety.rule_id)] : null));
  const d = e.data || {};
  if (d.comment) chips.push(h('span', null, 'comment “', val(d.comment), '”'));
  if (d.phase) chips.push(h('span', null, 'phase ', val(d.phase)));
  if (d.worker_id) chips.push(h('span', null, 'worker ', val(d.worker_id)));
  if (d.status) chips.push(h('span', null, 'status ', val(d.status)));
  if (d.error) chips.push(h('span', null, 'error ', val(d.error)));
  if (d.reason) chips.push(h('span', null, 'reason ', val(d.reason)));
  if (d.attempt) chips.push(h('span', null, 'attempt ', val(d.attempt)));
  if (d.quorum) chips.push(h('span', null, 'quorum ', val(d.quorum)));
  if (d.to) chips.push(h('span', null, val(d.from), ' → ', badge(d.to, 'run')));
  if (d.workflow_id) chips.push(h('span', null, 'workflow ', code(d.workflow_id, 'wrap')));
  if (d.rerun_of) chips.push(h('span', null, 'rerun of ', link(route`/runs/${d.rerun_of}`, code(d.rerun_of))));
  if (d.from_run) chips.push(h('span', null, 'from ', link(route`/runs/${d.from_run}`, code(d.from_run))));
  const label = TYPES[e.type] || WF_TYPES[e.type] || e.type;
  return h('li', {class: 'ev ev-' + e.type, 'data-type': e.type, 'data-job': e.job_id || '', 'data-seq': e.seq},
    h('span', {class: 'ev-icon ev-' + e.type, 'aria-hidden': 'true'}),
    h('div', {class: 'ev-body'},
      h('div', {class: 'ev-head'},
        h('strong', null, label), ' ', h('span', {class: 'muted'}, '#', String(e.seq)), ' · ', fmtTime(e.timestamp), ' · ', val(e.actor),
        e.job_id ? [' · job ', link(route`/jobs/${e.job_id}`, code(e.job_id))] : null,
        e.workflow_step_id ? [' · step ', val(e.workflow_step_id)] : null),
      chips.length ? h('div', {class: 'ev-chips'}, chips.map((c) => [c, ' '])) : null,
      h('div', {class: 'ev-ledger muted small'}, 'ledger ', e.ledger ? ['#', String(e.ledger.index), ' ', shortHash(e.ledger.leaf_hash, 12)] : '—',
        e.job_hash ? [' · job_hash ', shortHash(e.job_hash, 12)] : null)));
}
