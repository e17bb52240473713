// Views shared by several pages: error boxes, payloads, decisions, findings.
import {h, text, val, code, badge, fmtTime, dl, shortHash, kb} from './dom.js';
import {plain} from './api.js';
import {pretty} from './json.js';

// errorBox shows an API error in plain words (words overrides the headline
// per error code).
export function errorBox(err, extra, words) {
  const pe = plain(err);
  if (words && words[pe.code]) pe.headline = words[pe.code];
  return h('div', {class: 'error', role: 'alert', 'data-code': pe.code || ''},
    h('strong', null, pe.headline),
    pe.detail && pe.detail !== pe.headline ? h('p', null, 'Server: ', val(pe.detail)) : null,
    extra || null,
    pe.requestId ? h('p', {class: 'muted'}, 'Request id: ', h('code', null, pe.requestId)) : null);
}

export function section(title, ...kids) {
  const id = 's-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', {class: 'card', 'aria-labelledby': id}, h('h2', {id}, title), ...kids);
}

// payloadView shows JSON bytes pretty-printed (tokens kept exactly), with a
// toggle to the bytes as stored.
export function payloadView(bytes, label, opts = {}) {
  const textStr = new TextDecoder('utf-8', {fatal: false}).decode(bytes);
  const p = opts.complete === false ? null : pretty(textStr);
  const pre = h('pre', {class: 'payload', tabindex: '0', role: 'region', 'aria-label': label}, p ?? textStr);
  const box = h('div', {class: 'payload-box'}, pre);
  if (p != null && p !== textStr) {
    const btn = h('button', {type: 'button', class: 'link', 'aria-pressed': 'false'}, 'Show bytes as stored');
    btn.addEventListener('click', () => {
      const rawMode = btn.getAttribute('aria-pressed') !== 'true';
      btn.setAttribute('aria-pressed', String(rawMode));
      pre.replaceChildren(text(rawMode ? textStr : p));
      btn.textContent = rawMode ? 'Show pretty-printed' : 'Show bytes as stored';
    });
    box.prepend(h('p', {class: 'muted small'}, `${kb(bytes.length)}, pretty-printed (numbers and strings exactly as sent). `, btn));
  } else if (p == null && opts.complete !== false && textStr.trim() !== '') {
    box.prepend(h('p', {class: 'muted small'}, `${kb(bytes.length)}, shown as stored (not a JSON value).`));
  }
  return box;
}

export function findingsTable(findings) {
  if (!findings || !findings.length) return h('p', {class: 'muted'}, 'No findings.');
  return h('div', {class: 'scroll'}, h('table', {class: 'list findings'},
    h('caption', {class: 'sr-only'}, 'Output-safety findings (the matched text is never stored)'),
    h('thead', null, h('tr', null, ['Scanner', 'Type', 'Rule', 'Offset', 'Length', 'Salted hash'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', null, findings.map((f) => h('tr', null,
      h('td', null, val(f.scanner)), h('td', null, val(f.type)), h('td', null, code(f.rule_id)),
      h('td', {class: 'num'}, val(f.offset)), h('td', {class: 'num'}, val(f.length)), h('td', null, code(f.hash)))))));
}

export function ledgerRef(l) {
  if (!l) return h('span', {class: 'none'}, 'not in the ledger');
  return h('span', {class: 'ledger'}, 'index ', h('code', null, String(l.index)), ' · leaf ', shortHash(l.leaf_hash, 16));
}

export function rulesTried(list) {
  if (!list || !list.length) return null;
  return h('div', {class: 'scroll'}, h('table', {class: 'list tried'},
    h('caption', {class: 'sr-only'}, 'Rules tried, in order'),
    h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Rule'), h('th', {scope: 'col'}, 'Matched'), h('th', {scope: 'col'}, 'Why'))),
    h('tbody', null, list.map((r) => h('tr', {class: r.matched ? 'matched' : null},
      h('td', null, code(r.rule_id)), h('td', null, r.matched ? h('strong', null, 'yes — decides') : 'no'), h('td', null, val(r.why)))))));
}

// decisionCard shows one policy evaluation with its explanation.
export function decisionCard(d, opts = {}) {
  return h('article', {class: 'decision', 'data-phase': d.phase},
    h('h3', null, badge(d.phase, 'phase'), ' ', badge(d.decision, 'dec'), ' ', code(d.policy_rule_id), d.default_rule ? h('span', {class: 'muted'}, ' (bundle default)') : null),
    dl([
      ['Reason', val(d.policy_reason)],
      ['Explanation', val(d.explanation)],
      ['Snapshot', code(d.policy_snapshot, 'wrap')],
      ['job_hash', code(d.job_hash, 'wrap')],
      d.approval ? ['Approvers', [val((d.approval.approver_roles || []).join(', ')), d.approval.expires_in ? [' · expires in ', val(d.approval.expires_in)] : null]] : null,
      d.constraints ? ['Constraints', h('pre', {class: 'payload small'}, JSON.stringify(d.constraints, null, 2))] : null,
      d.evaluated_at ? ['Evaluated', fmtTime(d.evaluated_at)] : null,
      opts.noLedger ? null : ['Ledger', ledgerRef(d.ledger)],
    ]),
    rulesTried(d.rules_tried));
}

export function labelsView(labels) {
  const ks = Object.keys(labels || {}).sort();
  if (!ks.length) return h('span', {class: 'none'}, 'none');
  return h('ul', {class: 'chips'}, ks.map((k) => h('li', null, h('bdi', null, k), '=', h('bdi', null, labels[k]))));
}

export function tagsView(tags) {
  if (!tags || !tags.length) return h('span', {class: 'none'}, 'none');
  return h('ul', {class: 'chips'}, tags.map((t) => h('li', null, h('bdi', null, t))));
}
