// One approval: the exact payload and its job_hash, the deciding rule in the
// snapshot's policy text, and approve/reject with a comment. The decision
// sends the job_hash shown on this page, so it is bound to what was reviewed.
import {h, val, code, link, route, badge, dl, fmtTime, countdown, kb} from '../dom.js';
import {get, post, getText, p} from '../api.js';
import {jobHash, sha256} from '../json.js';
import {policyView} from '../policytext.js';
import {errorBox, section, payloadView, decisionCard, labelsView, tagsView, ledgerRef} from '../views.js';

const AUTO_PAYLOAD = 192 * 1024; // larger payloads load on request

export default async function approval(ctx) {
  const {main, params, setTitle, signal, caps} = ctx;
  const id = params[0];
  setTitle('Approval ' + id);
  const h1 = h('h1', {tabindex: '-1'}, 'Approval for job ', h('bdi', null, id));
  main.append(h1);

  const [job, rec, payload] = await Promise.all([
    get(p`/jobs/${id}`, {signal}),
    get(p`/jobs/${id}/evidence`, {signal}),
    getText(p`/jobs/${id}/context`, AUTO_PAYLOAD, {signal}).catch((err) => ({error: err})),
  ]);
  const a = rec.approval;
  if (!a) {
    main.append(h('p', null, 'This job has no approval: its policy decision was ', badge(rec.decision, 'dec'), '. ', link(route`/jobs/${id}`, 'Open its evidence.')));
    return;
  }
  h1.replaceChildren('Approve ', code(a.action), ' on ', val(a.resource));
  const pending = a.status === 'pending';

  // --- summary ---
  main.append(h('div', {class: 'card summary'},
    h('p', {class: 'state-line'},
      pending ? [badge('pending', 'res'), ' expires ', countdown(a.expires_at)]
        : [badge(a.resolution, 'res'), a.resolved_by ? [' by ', val(a.resolved_by)] : null, a.resolved_at ? [' at ', fmtTime(a.resolved_at)] : null]),
    dl([
      ['Action', code(a.action)],
      ['Resource', val(a.resource)],
      ['Requested by', [val(a.requested_by), job.submitter_kind ? h('span', {class: 'muted'}, ' (', job.submitter_kind, ')') : null]],
      ['Requested', fmtTime(a.requested_at)],
      ['Expires', a.expires_at ? fmtTime(a.expires_at) : h('span', {class: 'none'}, 'never')],
      ['Deciding rule', [code(a.policy_rule_id), ' — ', val(a.policy_reason)]],
      ['Who may approve', val((a.approver_roles || []).join(', '))],
      ['Snapshot', code(a.policy_snapshot, 'wrap')],
      ['Job', link(route`/jobs/${id}`, code(id))],
      ['Run', a.run_id ? link(route`/runs/${a.run_id}`, code(a.run_id)) : val(null)],
      ['Step', val(a.workflow_step_id)],
      ['Labels', labelsView(job.labels)],
      ['Risk tags', tagsView(job.risk_tags)],
      ['Trace', code(job.trace_id)],
      ['Approval ledger', ledgerRef(a.ledger)],
    ])));

  // --- payload and hash ---
  const hashEl = h('code', {id: 'job-hash', class: 'wrap'}, a.job_hash);
  const verifyEl = h('p', {class: 'verify', role: 'status'}, 'Checking the hash in your browser…');
  const payloadBox = h('div', null);
  const paySec = section('Payload', h('p', {class: 'muted'}, 'The job\u2019s input exactly as submitted (', code(job.context_ptr), ').'), payloadBox,
    h('div', {class: 'hashline'}, h('strong', null, 'job_hash '), hashEl), verifyEl);
  main.append(paySec);

  let verified = false;
  const decide = pending ? decisionForm(ctx, id, hashEl, () => verified) : null;

  async function showPayload(res) {
    payloadBox.replaceChildren();
    if (res.error) {
      payloadBox.append(errorBox(res.error));
      verifyEl.textContent = 'The payload could not be read, so the hash cannot be checked here.';
      verifyEl.className = 'verify bad';
      return;
    }
    if (!res.complete) {
      const btn = h('button', {type: 'button'}, 'Load the whole payload to review it');
      btn.addEventListener('click', async () => {
        btn.disabled = true;
        btn.textContent = 'Loading…';
        try { await showPayload(await getText(p`/jobs/${id}/context`, 0, {signal})); } catch (err) { payloadBox.append(errorBox(err)); }
      });
      payloadBox.append(h('p', {class: 'warn-box'}, `The payload is larger than ${kb(AUTO_PAYLOAD)}; only its start is shown. Load all of it before deciding.`), btn,
        payloadView(res.bytes, 'payload (start)', {complete: false}));
      verifyEl.textContent = 'Load the whole payload to check the hash.';
      verifyEl.className = 'verify';
      return;
    }
    payloadBox.append(payloadView(res.bytes, 'payload'));
    const textStr = new TextDecoder().decode(res.bytes);
    const bytesHash = await sha256(res.bytes);
    let recomputed = null, why = '';
    try { recomputed = await jobHash(job, textStr); } catch (err) { why = String(err.message || err); }
    const bytesOK = !job.context_sha256 || bytesHash === job.context_sha256;
    verified = bytesOK && recomputed === a.job_hash && a.job_hash === job.job_hash;
    verifyEl.replaceChildren();
    if (verified) {
      verifyEl.className = 'verify ok';
      verifyEl.append('✓ Recomputed in your browser from the job and the payload shown: the job_hash matches, and the payload bytes match ', code('context_sha256'), '.');
    } else {
      verifyEl.className = 'verify bad';
      verifyEl.append('✗ The job_hash recomputed from what is shown (', code(recomputed || why || 'not computable'), ') ',
        bytesOK ? '' : 'and the payload bytes hash ', 'do not match. Do not approve: reject it or ask for it to be resubmitted.');
    }
    if (decide) decide.refresh();
  }
  await showPayload(payload);

  // --- deciding rule in the policy text ---
  const decision = (rec.decisions || []).find((d) => d.decision_id === a.decision_id) || null;
  const polSec = section('Deciding rule');
  main.append(polSec);
  if (decision) polSec.append(decisionCard(decision));
  if (a.policy_snapshot && caps.policy) {
    try {
      const snap = await get(p`/policy/snapshots/${a.policy_snapshot}`, {signal});
      polSec.append(h('h3', null, 'In the policy snapshot'), policyView(snap.text, {rule: a.policy_rule_id, label: 'policy snapshot text'}));
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      polSec.append(errorBox(err));
    }
  }

  if (decide) main.append(decide.el);
  else main.append(h('p', null, link(route`/jobs/${id}`, 'Open the job\u2019s evidence'), ' to see the outcome.'));
}

function decisionForm(ctx, id, hashEl, isVerified) {
  const comment = h('textarea', {id: 'comment', rows: '3', maxlength: '4096', 'aria-describedby': 'comment-help'});
  const result = h('div', {id: 'decide-result', role: 'alert'});
  const approve = h('button', {type: 'button', class: 'primary', id: 'approve'}, 'Approve');
  const reject = h('button', {type: 'button', class: 'danger', id: 'reject'}, 'Reject');
  const note = h('p', {class: 'muted', id: 'approve-note'});
  const el = section('Decide',
    h('label', {for: 'comment'}, 'Comment'), comment,
    h('p', {id: 'comment-help', class: 'muted'}, 'Recorded with your decision in the evidence (for example a ticket number).'),
    h('div', {class: 'actions'}, approve, reject), note, result);
  el.id = 'decide';

  async function send(ok) {
    result.replaceChildren();
    approve.disabled = reject.disabled = true;
    // the hash the person saw, read back from the page
    const jobHashShown = hashEl.textContent.trim();
    try {
      const out = await post(p`/approvals/${id}/${ok ? 'approve' : 'reject'}`, {job_hash: jobHashShown, comment: comment.value});
      ctx.flash(`${ok ? 'Approved' : 'Rejected'} job ${id}. Your decision is bound to job_hash ${out.job_hash.slice(0, 16)}… and recorded at ledger index ${out.resolution_ledger ? out.resolution_ledger.index : '?'}.`);
      ctx.navigate(route`/jobs/${id}`);
    } catch (err) {
      result.append(errorBox(err));
      refresh();
      reject.disabled = false;
      if (['approval_expired', 'approval_already_resolved', 'self_approval_forbidden', 'approver_role_not_allowed'].includes(err.code)) {
        approve.disabled = reject.disabled = true;
      }
    }
  }
  approve.addEventListener('click', () => send(true));
  reject.addEventListener('click', () => send(false));
  function refresh() {
    approve.disabled = !isVerified();
    reject.disabled = false;
    note.textContent = isVerified() ? '' : 'Approve is available once the whole payload is shown and its job_hash checks out.';
  }
  refresh();
  return {el, refresh};
}
