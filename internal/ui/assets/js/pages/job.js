// A job's evidence: the joined decision record as a card, every decision
// with its explanation, the approval, the output verdict and findings (never
// the matched text), the context and result where the role allows, and the
// ledger position of every event.
import {h, val, code, link, route, badge, dl, fmtTime, shortHash, kb} from '../dom.js';
import {get, getText, p} from '../api.js';
import {errorBox, section, payloadView, decisionCard, findingsTable, ledgerRef, labelsView, tagsView} from '../views.js';

const AUTO_PAYLOAD = 64 * 1024;

// The seed's decision-record.json fields, in order.
const RECORD = [
  ['run_id', 'Run'], ['workflow_step_id', 'Step'], ['job_id', 'Job'], ['trace_id', 'Trace'],
  ['decision', 'Decision'], ['policy_rule_id', 'Rule'], ['policy_reason', 'Reason'],
  ['policy_snapshot', 'Policy snapshot'], ['job_hash', 'job_hash'], ['approval_required', 'Approval required'],
  ['resolution', 'Resolution'], ['resolved_by', 'Resolved by'], ['resolved_comment', 'Comment'],
  ['context_ptr', 'Context'], ['result_ptr', 'Result'], ['output_safety', 'Output safety'], ['timestamp', 'Timestamp'],
];

export default async function job(ctx) {
  const {main, params, setTitle, signal, caps} = ctx;
  const id = params[0];
  setTitle('Job ' + id);
  main.append(h('h1', {tabindex: '-1'}, 'Evidence for job ', h('bdi', null, id)));
  const [rec, j] = await Promise.all([get(p`/jobs/${id}/evidence`, {signal}), get(p`/jobs/${id}`, {signal})]);

  main.append(h('p', {class: 'state-line'}, 'State ', badge(rec.state, 'state'), ' · ', code(rec.action), ' on ', val(rec.resource), ' · submitted by ', val(rec.submitted_by),
    rec.approval && rec.approval.status === 'pending' && caps.approvals ? [' · ', link(route`/approvals/${id}`, 'Review the pending approval')] : null));

  // --- the decision record ---
  const fmt = (k, v) => {
    switch (k) {
      case 'run_id': return v ? link(route`/runs/${v}`, code(v)) : val(v);
      case 'decision': return badge(v, 'dec');
      case 'resolution': return v ? badge(v, 'res') : h('span', {class: 'none'}, rec.approval_required ? 'pending' : '—');
      case 'approval_required': return v ? 'yes' : 'no';
      case 'timestamp': return fmtTime(v);
      case 'output_safety': return v ? [badge(v.decision, 'os'), v.rule_id ? [' by rule ', code(v.rule_id)] : null] : h('span', {class: 'none'}, 'no result yet');
      case 'policy_snapshot': case 'job_hash': case 'trace_id': case 'context_ptr': case 'result_ptr': case 'job_id': case 'workflow_step_id': case 'policy_rule_id':
        return code(v, 'wrap');
      default: return val(v);
    }
  };
  const recordCard = h('section', {class: 'card record', 'aria-labelledby': 's-record'},
    h('h2', {id: 's-record'}, 'Decision record'),
    h('p', {class: 'muted'}, 'The joined record (', code('GET /api/v1/jobs/{id}/evidence'), '), field by field.'),
    dl(RECORD.map(([k, label]) => [label, fmt(k, rec[k])]), 'record-dl'),
    h('details', null, h('summary', null, 'Job details'), dl([
      ['Tenant', val(j.tenant)], ['Labels', labelsView(j.labels)], ['Risk tags', tagsView(j.risk_tags)],
      ['Submitter', [val(j.submitted_by), ' (', val(j.submitter_kind), '; ', val((j.submitter_roles || []).join(', ')), ')']],
      ['Created', fmtTime(j.created_at)], ['Completed', j.completed_at ? fmtTime(j.completed_at) : val(null)],
      ['Attempts', val(String(j.attempts))], ['Lease owner', val(j.lease_owner)], ['Error', val(j.error)],
      ['context_sha256', code(j.context_sha256, 'wrap')], ['result_sha256', code(j.result_sha256, 'wrap')],
    ])));
  main.append(recordCard);

  // --- approval ---
  const a = rec.approval;
  if (a) {
    main.append(section('Approval', dl([
      ['Status', a.status === 'pending' ? badge('pending', 'res') : badge(a.resolution, 'res')],
      ['Resolved by', val(a.resolved_by)],
      ['Comment', a.resolved_comment ? h('blockquote', {class: 'comment'}, val(a.resolved_comment)) : val(null)],
      ['Resolved', a.resolved_at ? fmtTime(a.resolved_at) : val(null)],
      ['Requested by', val(a.requested_by)], ['Requested', fmtTime(a.requested_at)],
      ['Expires', a.expires_at ? fmtTime(a.expires_at) : h('span', {class: 'none'}, 'never')],
      ['Approvers', val((a.approver_roles || []).join(', '))],
      ['Bound to job_hash', code(a.job_hash, 'wrap')],
      ['Request in ledger', ledgerRef(a.ledger)],
      ['Resolution in ledger', ledgerRef(a.resolution_ledger)],
    ], 'approval-dl')));
  }

  // --- decisions ---
  main.append(section(`Decisions (${(rec.decisions || []).length})`,
    h('p', {class: 'muted'}, 'Every policy evaluation of this job, oldest first.'),
    (rec.decisions || []).map((d) => decisionCard(d))));

  // --- output safety ---
  const os = j.output_safety;
  main.append(section('Output safety', os
    ? [h('p', null, 'Verdict ', badge(os.decision, 'os'), os.rule_id ? [' by output rule ', code(os.rule_id)] : ' (no rule found anything)'),
      findingsTable(os.findings),
      h('p', {class: 'muted small'}, 'Findings give the scanner, type, position and a salted hash; the matched text is never stored or shown.')]
    : h('p', {class: 'muted'}, 'No result has been checked yet.')));

  // --- context and result ---
  const ctxBox = h('div', null), resBox = h('div', null);
  main.append(section('Context (input)', h('p', {class: 'muted'}, code(j.context_ptr), ' · sha256 ', shortHash(j.context_sha256, 16)), ctxBox));
  main.append(section('Result', resBox));
  const loads = [loadPayload(ctxBox, p`/jobs/${id}/context`, 'context', signal)];
  if (!j.result_ptr) {
    resBox.append(h('p', {class: 'muted'}, 'No result yet.'));
  } else {
    resBox.append(h('p', {class: 'muted'}, code(j.result_ptr), ' · sha256 ', shortHash(j.result_sha256, 16)));
    const verdict = os ? os.decision : 'ALLOW';
    if (verdict === 'QUARANTINE') {
      resBox.append(h('p', {class: 'warn-box'}, 'The result is quarantined by output rule ', code(os.rule_id), ' and withheld from ordinary readers.'));
      if (caps.auditor) {
        const btn = h('button', {type: 'button'}, 'Show the quarantined result (auditor)');
        btn.addEventListener('click', () => { btn.remove(); loadPayload(resBox, p`/jobs/${id}/result`, 'quarantined result', signal); });
        resBox.append(btn);
      }
    } else {
      if (verdict === 'REDACT') resBox.append(h('p', {class: 'warn-box'}, 'Shown redacted: each finding is replaced by [REDACTED:<type>].'));
      loads.push(loadPayload(resBox, p`/jobs/${id}/result`, 'result', signal));
      if (verdict === 'REDACT' && caps.auditor) {
        const btn = h('button', {type: 'button'}, 'Show the original (auditor)');
        btn.addEventListener('click', () => { btn.remove(); loadPayload(resBox, p`/jobs/${id}/result` + '?original=true', 'original result', signal); });
        resBox.append(btn);
      }
    }
  }

  // --- ledger ---
  const events = rec.events || [];
  const proof = rec.proof;
  main.append(section('Ledger',
    h('p', null, 'Inclusion proof: ', proof
      ? h('strong', {class: 'ok-text', id: 'proof-status'}, 'present in the record')
      : h('span', {id: 'proof-status'}, 'not available from this server'),
    '. Every event below is a ledger leaf at the given index; verify the chain offline with ', code('cairn verify'), '.'),
    h('div', {class: 'scroll'}, h('table', {class: 'list events'},
      h('caption', {class: 'sr-only'}, 'Ledger events of this job'),
      h('thead', null, h('tr', null, ['Run seq', 'Event', 'Time', 'Actor', 'Ledger index', 'Leaf hash'].map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', null, events.map((e) => h('tr', null,
        h('td', {class: 'num'}, e.seq != null ? String(e.seq) : '—'), h('td', null, code(e.type)), h('td', null, fmtTime(e.timestamp)),
        h('td', null, val(e.actor)), h('td', {class: 'num'}, e.ledger ? String(e.ledger.index) : '—'), h('td', null, e.ledger ? shortHash(e.ledger.leaf_hash, 16) : '—'))))))));
  await Promise.all(loads);
}

async function loadPayload(box, path, label, signal) {
  const holder = h('div', {'aria-live': 'polite'}, h('p', {class: 'muted'}, 'Loading ' + label + '…'));
  box.append(holder);
  try {
    const res = await getText(path, AUTO_PAYLOAD, {signal});
    holder.replaceChildren();
    if (!res.complete) {
      const btn = h('button', {type: 'button'}, `Load all of the ${label}`);
      btn.addEventListener('click', async () => {
        btn.disabled = true;
        try {
          const full = await getText(path, 0, {signal});
          holder.replaceChildren(payloadView(full.bytes, label));
        } catch (err) { holder.append(errorBox(err)); }
      });
      holder.append(h('p', {class: 'muted'}, `Larger than ${kb(AUTO_PAYLOAD)}; the start is shown. `, btn), payloadView(res.bytes, label + ' (start)', {complete: false}));
      return;
    }
    holder.append(payloadView(res.bytes, label));
  } catch (err) {
    if (err.name === 'AbortError') return;
    holder.replaceChildren(err.code === 'forbidden' ? h('p', {class: 'muted'}, 'Your role may not read the ' + label + '.') : errorBox(err));
  }
}
