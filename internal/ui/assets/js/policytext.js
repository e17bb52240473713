// Policy text with line numbers, and the lines of one rule highlighted.
import {h, text} from './dom.js';

// ruleLines finds the block of rule id in YAML policy text: from its
// "- id: <id>" line (or "- {id: <id>, …}") to the line before the next item
// at the same indent or the next line indented less. For the bundle default
// ("default") it is the "default:" block. Returns [first, last] (1-based) or
// null.
export function ruleLines(src, id) {
  if (!src || !id) return null;
  const lines = src.split('\n');
  const indentOf = (l) => l.length - l.trimStart().length;
  const blank = (l) => l.trim() === '' || l.trim().startsWith('#');
  let start = -1, itemIndent = 0;
  if (id === 'default') {
    start = lines.findIndex((l) => /^default\s*:/.test(l));
    if (start < 0) return null;
    let end = start;
    for (let i = start + 1; i < lines.length; i++) {
      if (blank(lines[i])) continue;
      if (indentOf(lines[i]) === 0) break;
      end = i;
    }
    return [start + 1, end + 1];
  }
  const want = String(id);
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)-\s+(\{\s*)?id\s*:\s*(?:"([^"]*)"|'([^']*)'|([^\s,#}]+))/.exec(lines[i]);
    if (m && (m[3] ?? m[4] ?? m[5]) === want) {
      start = i;
      itemIndent = m[1].length;
      break;
    }
  }
  if (start < 0) {
    // "- description: …" first and "id:" later in the item
    for (let i = 0; i < lines.length; i++) {
      const m = /^(\s*)id\s*:\s*(?:"([^"]*)"|'([^']*)'|([^\s,#}]+))/.exec(lines[i]);
      if (m && (m[2] ?? m[3] ?? m[4]) === want) {
        for (let j = i; j >= 0; j--) {
          const d = /^(\s*)-\s/.exec(lines[j]);
          if (d && d[1].length < m[1].length) { start = j; itemIndent = d[1].length; break; }
        }
        break;
      }
    }
    if (start < 0) return null;
  }
  let end = start;
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i];
    if (blank(l)) continue;
    if (indentOf(l) <= itemIndent) break; // the next item, or a key after the list
    end = i;
  }
  return [start + 1, end + 1];
}

// policyView renders text as numbered lines; lines in [first, last] are
// marked (and announced) as the deciding rule; markLine marks one error line.
export function policyView(src, opts = {}) {
  const {rule, errorLine, label} = opts;
  const range = rule ? ruleLines(src, rule) : null;
  const lines = (src || '').split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const list = h('ol', {class: 'code-lines'});
  lines.forEach((l, i) => {
    const n = i + 1;
    const hit = range && n >= range[0] && n <= range[1];
    const li = h('li', {class: hit ? 'hl' : (n === errorLine ? 'err' : null), 'data-line': n});
    li.append(h('span', {class: 'ln', 'aria-hidden': 'true'}, String(n)), h('span', {class: 'lt'}, text(l || ' ')));
    list.append(li);
  });
  const wrap = h('div', {class: 'code', tabindex: '0', role: 'region', 'aria-label': label || 'policy text'}, list);
  const note = range
    ? h('p', {class: 'hl-note'}, h('span', {class: 'swatch hl'}), ` Rule `, h('code', null, String(rule)), ` decides: lines ${range[0]}–${range[1]} are highlighted.`)
    : rule ? h('p', {class: 'muted'}, 'Rule ', h('code', null, String(rule)), ' was not found in this text.') : null;
  const box = h('div', {class: 'policy-view'}, note, wrap);
  if (range || errorLine) {
    // scroll the text box (not the page) to the highlighted lines once shown
    requestAnimationFrame(() => {
      const target = list.children[(range ? range[0] : errorLine) - 1];
      if (target) wrap.scrollTop = Math.max(0, target.offsetTop - wrap.offsetTop - 24);
    });
  }
  return box;
}
