// One registered workflow definition: its id, version, steps and the exact
// registered text (shown as text with line numbers; it is not parsed here).
import {h, val, code, link, route, dl, fmtTime} from '../dom.js';
import {get, p, qs} from '../api.js';
import {policyView} from '../policytext.js';
import {section, ledgerRef} from '../views.js';

export default async function workflow(ctx) {
  const {main, params, setTitle, signal} = ctx;
  const id = params[0];
  setTitle('Workflow ' + id);
  const h1 = h('h1', {tabindex: '-1'}, 'Workflow ', h('bdi', null, id));
  main.append(h1);
  const w = await get(p`/workflows/${id}`, {signal});
  h1.replaceChildren('Workflow ', h('bdi', null, w.name), ' ', h('span', {class: 'muted'}, 'version ' + w.version));
  main.append(h('div', {class: 'card'}, dl([
    ['Workflow id', code(w.workflow_id, 'wrap')],
    ['Description', val(w.description)],
    ['Steps', h('ol', {class: 'chips'}, (w.steps || []).map((s) => h('li', null, h('bdi', null, s))))],
    ['Registered', [fmtTime(w.created_at), ' by ', val(w.created_by)]],
    ['Ledger', ledgerRef(w.ledger)],
    ['Runs', link('/runs' + qs({status: 'all', workflow_id: w.workflow_id}), 'Runs of this version')],
  ])), section('Definition', h('p', {class: 'muted'}, 'The exact registered text (SHA-256 ', code(w.sha256), ').'),
    policyView(w.definition, {label: 'workflow definition text'})));
  if (w.workflow_id !== id) main.append(h('p', {class: 'muted'}, 'Opened by name: this is its latest version. ', link(route`/workflows/${w.workflow_id}`, 'Permanent link.')));
}
