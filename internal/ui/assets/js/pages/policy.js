// Policy: the active snapshot, the publish/rollback history, a diff between
// any two snapshots (or a candidate text), simulation of a job against a
// snapshot or candidate, and publish/rollback with a confirmation step.
import {h, val, code, badge, fmtTime, shortHash} from '../dom.js';
import {get, post, p, qs} from '../api.js';
import {diffLines, diffStats} from '../diff.js';
import {policyView} from '../policytext.js';
import {errorBox, section, rulesTried} from '../views.js';

const PAGE = 10;
const CANDIDATE = '__candidate__';

export default async function policy(ctx) {
  const {main, setTitle, signal, caps} = ctx;
  setTitle('Policy');
  main.append(h('h1', {tabindex: '-1'}, 'Policy'));
  const [active, audit, snaps] = await Promise.all([
    get('/policy', {signal}),
    get('/policy/audit' + qs({limit: PAGE}), {signal}),
    get('/policy/snapshots' + qs({limit: PAGE}), {signal}),
  ]);
  const snapshots = new Map(); // id -> snapshot
  for (const s of snaps.items) snapshots.set(s.policy_snapshot, s);
  const activeID = active.policy_snapshot;
  if (activeID && !snapshots.has(activeID)) snapshots.set(activeID, {policy_snapshot: activeID, text: active.text, created_at: active.activated_at});

  const candidate = h('textarea', {id: 'candidate', rows: '14', spellcheck: 'false', class: 'mono', 'aria-describedby': 'candidate-help'});
  candidate.value = active.text || 'default: deny\nrules: []\n';

  // --- active ---
  main.append(section('Active snapshot',
    activeID
      ? [h('p', null, code(activeID, 'wrap'), h('br'), 'active since ', fmtTime(active.activated_at)),
        h('details', null, h('summary', null, 'Policy text'), policyView(active.text, {label: 'active policy text'}))]
      : h('p', {class: 'warn-box'}, val(active.message || 'No policy is published; every action is denied.'))));

  // --- history ---
  const histBody = h('tbody', null);
  const histMore = h('div', {class: 'pager'});
  main.append(section('History',
    h('p', {class: 'muted'}, 'Every publish and rollback, newest first.'),
    h('div', {class: 'scroll'}, h('table', {class: 'list history'},
      h('caption', {class: 'sr-only'}, 'Policy publish and rollback history'),
      h('thead', null, h('tr', null, ['When', 'Action', 'Actor', 'Message', 'From', 'To', ''].map((t) => h('th', {scope: 'col'}, t)))),
      histBody)), histMore));
  const addAudit = (items) => {
    for (const a of items) {
      histBody.append(h('tr', null,
        h('td', null, fmtTime(a.timestamp)), h('td', null, badge(a.action, 'pa')),
        h('td', null, val(a.actor), a.tenant ? h('span', {class: 'muted'}, ' (', val(a.tenant), ')') : null),
        h('td', null, val(a.message)), h('td', null, shortHash(a.snapshot_before, 10)), h('td', null, shortHash(a.snapshot_after, 10)),
        h('td', null, a.snapshot_before ? h('button', {type: 'button', class: 'link', onclick: () => showDiff(a.snapshot_before, a.snapshot_after)}, 'Diff') : null)));
    }
  };
  addAudit(audit.items);
  pagerButton(histMore, audit.next_cursor, async (cursor) => {
    const page = await get('/policy/audit' + qs({limit: PAGE, cursor}), {signal});
    addAudit(page.items);
    return page.next_cursor;
  });

  // --- snapshots ---
  const snapBody = h('tbody', null);
  const snapMore = h('div', {class: 'pager'});
  main.append(section('Snapshots',
    h('div', {class: 'scroll'}, h('table', {class: 'list snapshots'},
      h('caption', {class: 'sr-only'}, 'Published snapshots, newest first'),
      h('thead', null, h('tr', null, ['Snapshot', 'First published', 'By', ''].map((t) => h('th', {scope: 'col'}, t)))),
      snapBody)), snapMore));
  const addSnaps = (items) => {
    for (const s of items) {
      remember(s);
      const isActive = s.policy_snapshot === activeID;
      snapBody.append(h('tr', {'data-snapshot': s.policy_snapshot},
        h('td', null, shortHash(s.policy_snapshot, 16), isActive ? [' ', badge('active', 'pa')] : null),
        h('td', null, fmtTime(s.created_at)), h('td', null, val(s.created_by)),
        h('td', {class: 'actions'},
          activeID && !isActive ? h('button', {type: 'button', class: 'link', onclick: () => showDiff(s.policy_snapshot, activeID)}, 'Diff with active') : null,
          caps.publish && !isActive ? h('button', {type: 'button', class: 'link rollback', onclick: () => confirmRollback(s.policy_snapshot)}, 'Roll back to this…') : null)));
    }
  };
  // remember keeps a snapshot's text for diffs and offers it in the selects.
  const listed = new Set();
  function remember(s) {
    snapshots.set(s.policy_snapshot, s);
    if (listed.has(s.policy_snapshot)) return;
    listed.add(s.policy_snapshot);
    for (const sel of [selA, selB, simSnap]) sel.append(h('option', {value: s.policy_snapshot}, snapLabel(s)));
  }
  async function ensure(id) {
    if (!id || id === CANDIDATE || (snapshots.has(id) && listed.has(id))) return;
    remember(snapshots.get(id) || await get(p`/policy/snapshots/${id}`, {signal}));
  }

  // --- diff ---
  const selA = h('select', {id: 'diff-a'}), selB = h('select', {id: 'diff-b'});
  for (const sel of [selA, selB]) sel.append(h('option', {value: CANDIDATE}, 'Candidate text (below)'));
  const diffOut = h('div', {id: 'diff-out', 'aria-live': 'polite'});
  const diffForm = h('form', {class: 'filters', onsubmit: (e) => { e.preventDefault(); showDiff(selA.value, selB.value, false); }},
    h('div', {class: 'field'}, h('label', {for: 'diff-a'}, 'From'), selA),
    h('div', {class: 'field'}, h('label', {for: 'diff-b'}, 'To'), selB),
    h('button', {type: 'submit'}, 'Show diff'));
  const diffSec = section('Diff', diffForm, diffOut);
  main.append(diffSec);

  // --- simulate ---
  const simSnap = h('select', {id: 'sim-snapshot'});
  addSnaps(snaps.items);
  if (activeID) remember(snapshots.get(activeID));
  pagerButton(snapMore, snaps.next_cursor, async (cursor) => {
    const page = await get('/policy/snapshots' + qs({limit: PAGE, cursor}), {signal});
    addSnaps(page.items);
    return page.next_cursor;
  });
  const ordered = [...snapshots.keys()];
  if (ordered.length >= 2) { selA.value = ordered[1]; selB.value = ordered[0]; } else if (activeID) { selA.value = activeID; selB.value = CANDIDATE; }
  if (activeID) simSnap.value = activeID;

  if (caps.simulate) main.append(simulateSection(simSnap, candidate, snapshots, activeID));

  // --- candidate and publish ---
  const confirmBox = h('div', {id: 'confirm', 'aria-live': 'polite'});
  const candSec = section(caps.publish ? 'Candidate and publish' : 'Candidate text',
    h('label', {for: 'candidate'}, 'Candidate policy text'), candidate,
    h('p', {id: 'candidate-help', class: 'muted'}, 'Starts as the active text. Diff it, simulate against it', caps.publish ? ', or publish it' : '', '. Publishing needs a confirmation.'));
  if (caps.publish) {
    const msg = h('input', {id: 'publish-message', maxlength: '4096', autocomplete: 'off'});
    candSec.append(h('div', {class: 'field'}, h('label', {for: 'publish-message'}, 'Message (why)'), msg),
      h('div', {class: 'actions'}, h('button', {type: 'button', id: 'publish-review', onclick: () => confirmPublish(msg)}, 'Review and publish…')));
  }
  candSec.append(confirmBox);
  if (caps.simulate || caps.publish) main.append(candSec);

  function textOf(id) {
    if (id === CANDIDATE) return candidate.value;
    const s = snapshots.get(id);
    return s ? s.text : '';
  }

  async function showDiff(a, b, scroll = true) {
    if (!a || !b) return;
    try {
      await Promise.all([ensure(a), ensure(b)]);
    } catch (err) {
      diffOut.replaceChildren(errorBox(err));
      return;
    }
    selA.value = a;
    selB.value = b;
    diffOut.replaceChildren(diffView(textOf(a), textOf(b), nameOf(a), nameOf(b)));
    if (scroll) diffSec.scrollIntoView({block: 'start'});
  }
  function nameOf(id) {
    if (id === CANDIDATE) return 'candidate text';
    if (!id) return 'nothing';
    return id.replace(/^cfg:system:policy#sha256:/, '').slice(0, 12) + (id === activeID ? ' (active)' : '');
  }

  function confirmPublish(msg) {
    confirmBox.replaceChildren();
    const d = diffLines(active.text || '', candidate.value);
    const st = diffStats(d);
    const ok = h('button', {type: 'button', class: 'primary', id: 'publish-confirm'}, 'Confirm publish');
    const cancel = h('button', {type: 'button', onclick: () => confirmBox.replaceChildren()}, 'Cancel');
    const result = h('div', {role: 'alert'});
    ok.addEventListener('click', async () => {
      ok.disabled = true;
      result.replaceChildren();
      try {
        const out = await post('/policy/publish', {bundle: candidate.value, message: msg.value});
        ctx.flash(out.changed ? `Published ${out.policy_snapshot}.` : 'That text is already the active policy; nothing changed.');
        ctx.navigate('/policy', {replace: true});
      } catch (err) {
        ok.disabled = false;
        result.append(errorBox(err, err.line ? policyView(candidate.value, {errorLine: err.line, label: 'candidate with the error line marked'}) : null));
      }
    });
    confirmBox.append(h('div', {class: 'confirm card', role: 'group', 'aria-label': 'Confirm publish'},
      h('h3', null, 'Publish this candidate?'),
      h('p', null, `It becomes the active policy for every tenant: +${st.add} / −${st.del} lines against the active snapshot. Message: `, val(msg.value || '(none)')),
      diffView(active.text || '', candidate.value, 'active', 'candidate'),
      h('div', {class: 'actions'}, ok, cancel), result));
    ok.focus();
  }

  function confirmRollback(target) {
    const box = caps.publish ? confirmBox : diffOut;
    box.replaceChildren();
    const msg = h('input', {id: 'rollback-message', maxlength: '4096', autocomplete: 'off'});
    const ok = h('button', {type: 'button', class: 'danger', id: 'rollback-confirm'}, 'Confirm rollback');
    const cancel = h('button', {type: 'button', onclick: () => box.replaceChildren()}, 'Cancel');
    const result = h('div', {role: 'alert'});
    ok.addEventListener('click', async () => {
      ok.disabled = true;
      try {
        const out = await post('/policy/rollback', {to: target, message: msg.value});
        ctx.flash(out.changed ? `Rolled back to ${out.policy_snapshot}.` : 'That snapshot is already active; nothing changed.');
        ctx.navigate('/policy', {replace: true});
      } catch (err) {
        ok.disabled = false;
        result.replaceChildren(errorBox(err));
      }
    });
    box.append(h('div', {class: 'confirm card', role: 'group', 'aria-label': 'Confirm rollback'},
      h('h3', null, 'Roll back to ', code(target, 'wrap'), '?'),
      h('p', null, 'The active policy for every tenant changes as shown:'),
      diffView(active.text || '', textOf(target), 'active', 'rollback target'),
      h('div', {class: 'field'}, h('label', {for: 'rollback-message'}, 'Message (why)'), msg),
      h('div', {class: 'actions'}, ok, cancel), result));
    box.scrollIntoView({block: 'start'});
    msg.focus();
  }
}

function snapLabel(s) {
  const id = s.policy_snapshot.replace(/^cfg:system:policy#sha256:/, '');
  return `${id.slice(0, 12)}… ${s.created_at ? s.created_at.slice(0, 19).replace('T', ' ') : ''}${s.created_by ? ' by ' + s.created_by : ''}`;
}

function pagerButton(box, cursor, load) {
  if (!cursor) return;
  const btn = h('button', {type: 'button'}, 'Older');
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const next = await load(cursor);
      btn.remove();
      pagerButton(box, next, load);
    } catch (err) {
      btn.disabled = false;
      box.append(errorBox(err));
    }
  });
  box.append(btn);
}

export function diffView(a, b, nameA, nameB) {
  const d = diffLines(a, b);
  const st = diffStats(d);
  if (!st.add && !st.del) return h('p', {class: 'muted diff-same'}, `No differences between ${nameA} and ${nameB}.`);
  const rows = h('tbody', null);
  // show changes with 3 lines of context
  const keep = new Array(d.length).fill(false);
  d.forEach((l, i) => { if (l.op !== ' ') for (let j = Math.max(0, i - 3); j <= Math.min(d.length - 1, i + 3); j++) keep[j] = true; });
  let gap = false;
  d.forEach((l, i) => {
    if (!keep[i]) { if (!gap) rows.append(h('tr', {class: 'gap'}, h('td', {colspan: '4'}, '⋯'))); gap = true; return; }
    gap = false;
    const cls = l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'ctx';
    rows.append(h('tr', {class: cls},
      h('td', {class: 'ln'}, l.a ?? ''), h('td', {class: 'ln'}, l.b ?? ''),
      h('td', {class: 'op'}, h('span', {class: 'sr-only'}, l.op === '+' ? 'added' : l.op === '-' ? 'removed' : ''), h('span', {'aria-hidden': 'true'}, l.op)),
      h('td', {class: 'lt'}, l.text || ' ')));
  });
  return h('div', {class: 'diff'},
    h('p', {class: 'diff-stats'}, `From ${nameA} to ${nameB}: `, h('span', {class: 'add-text'}, `+${st.add}`), ' ', h('span', {class: 'del-text'}, `−${st.del}`), ' lines'),
    h('div', {class: 'scroll code-scroll', tabindex: '0', role: 'region', 'aria-label': 'diff'},
      h('table', {class: 'diff-table'}, h('caption', {class: 'sr-only'}, `Line diff from ${nameA} to ${nameB}`),
        h('thead', {class: 'sr-only'}, h('tr', null, h('th', {scope: 'col'}, 'old line'), h('th', {scope: 'col'}, 'new line'), h('th', {scope: 'col'}, 'change'), h('th', {scope: 'col'}, 'text'))),
        rows)));
}

function simulateSection(simSnap, candidate, snapshots, activeID) {
  const f = (id, label, attrs = {}) => h('div', {class: 'field'}, h('label', {for: id}, label), h('input', {id, autocomplete: 'off', ...attrs}));
  const input = h('textarea', {id: 'sim-input', rows: '4', spellcheck: 'false', class: 'mono', placeholder: '{"amount": 20000}'});
  const against = (v, label, checked) => h('span', {class: 'check'},
    h('input', {type: 'radio', name: 'sim-against', id: 'sim-against-' + v, value: v, checked}), h('label', {for: 'sim-against-' + v}, label));
  const out = h('div', {id: 'sim-out', 'aria-live': 'polite'});
  const form = h('form', {class: 'sim', id: 'simulate'},
    h('div', {class: 'grid2'},
      f('sim-action', 'Action', {required: true, placeholder: 'db.write'}),
      f('sim-resource', 'Resource'),
      f('sim-labels', 'Labels (k=v, comma-separated)', {placeholder: 'env=prod'}),
      f('sim-tags', 'Risk tags (comma-separated)'),
      f('sim-as', 'Submitted as (principal id, optional)')),
    h('label', {for: 'sim-input'}, 'Input (JSON, optional)'), input,
    h('fieldset', {class: 'against'}, h('legend', null, 'Evaluate against'),
      against('active', 'the active policy', true), against('snapshot', 'snapshot ', false), simSnap, against('candidate', 'the candidate text below', false)),
    h('button', {type: 'submit', class: 'primary'}, 'Simulate'), out);
  simSnap.setAttribute('aria-label', 'snapshot to simulate against');
  simSnap.addEventListener('change', () => { form.querySelector('#sim-against-snapshot').checked = true; });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    out.replaceChildren(h('p', {class: 'muted'}, 'Evaluating…'));
    const v = (id) => form.querySelector('#' + id).value.trim();
    const job = {action: v('sim-action')};
    if (v('sim-resource')) job.resource = v('sim-resource');
    const labels = {};
    for (const kv of v('sim-labels').split(',').map((s) => s.trim()).filter(Boolean)) {
      const i = kv.indexOf('=');
      if (i <= 0) { out.replaceChildren(h('p', {class: 'error', role: 'alert'}, 'Write labels as key=value, separated by commas.')); return; }
      labels[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
    }
    if (Object.keys(labels).length) job.labels = labels;
    const tags = v('sim-tags').split(',').map((s) => s.trim()).filter(Boolean);
    if (tags.length) job.risk_tags = tags;
    if (input.value.trim()) {
      try { job.input = JSON.parse(input.value); } catch { out.replaceChildren(h('p', {class: 'error', role: 'alert'}, 'The input is not valid JSON.')); return; }
    }
    const mode = form.querySelector('input[name=sim-against]:checked').value;
    const body = {job};
    if (v('sim-as')) body.submitted_as = v('sim-as');
    let text = snapshots.get(activeID) ? snapshots.get(activeID).text : '';
    if (mode === 'snapshot') { body.snapshot = simSnap.value; text = snapshots.get(simSnap.value)?.text || ''; }
    if (mode === 'candidate') { body.bundle = candidate.value; text = candidate.value; }
    try {
      const d = await post('/policy/simulate', body);
      out.replaceChildren(h('div', {class: 'sim-result card'},
        h('h3', null, 'Decision ', badge(d.decision, 'dec'), ' by rule ', code(d.policy_rule_id || '—', 'rule'), d.default_rule ? ' (bundle default)' : ''),
        h('p', null, val(d.policy_reason)),
        h('p', {class: 'muted'}, val(d.explanation)),
        h('p', {class: 'muted small'}, 'against ', code(d.policy_snapshot || (mode === 'candidate' ? 'candidate text' : '—'), 'wrap'), ' · would-be job_hash ', code(d.job_hash, 'wrap')),
        rulesTried(d.rules_tried),
        d.policy_rule_id ? policyView(text, {rule: d.policy_rule_id, label: 'policy text with the deciding rule highlighted'}) : null));
    } catch (err) {
      out.replaceChildren(errorBox(err, err.line && mode === 'candidate' ? policyView(candidate.value, {errorLine: err.line, label: 'candidate with the error line marked'}) : null));
    }
  });
  return section('Simulate', h('p', {class: 'muted'}, 'Evaluate a job without side effects and see which rule decides, and why.'), form);
}
