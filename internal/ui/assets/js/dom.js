// DOM helpers. Every value from the API reaches the page through text nodes
// (textContent) or attributes set with setAttribute: never through innerHTML.
// Invisible and bidirectional control characters are shown as visible
// markers, so a U+202E in a label cannot reorder what the approver reads.

const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
const INVISIBLE_G = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

// text returns a node showing s literally; invisible control characters
// become <span class="ctl">U+XXXX</span>.
export function text(s) {
  s = String(s);
  if (!INVISIBLE.test(s)) return document.createTextNode(s);
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of s.matchAll(INVISIBLE_G)) {
    if (m.index > last) frag.append(document.createTextNode(s.slice(last, m.index)));
    const code = 'U+' + m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
    const span = document.createElement('span');
    span.className = 'ctl';
    span.title = 'invisible control character ' + code;
    span.textContent = code;
    frag.append(span);
    last = m.index + m[0].length;
  }
  if (last < s.length) frag.append(document.createTextNode(s.slice(last)));
  return frag;
}

// h builds an element: h('a', {href: '/x', class: 'c'}, 'text', child…).
// Attribute names come from code; values are set with setAttribute.
// Functions under on* keys become event listeners.
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.setAttribute('class', v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'selected') el[k] = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  add(el, children);
  return el;
}

export function add(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : text(c));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// val shows one value from the API, isolated from the surrounding text
// direction. null/undefined/"" show as an em dash.
export function val(v, cls) {
  if (v == null || v === '') return h('span', {class: 'none', title: 'none'}, '—');
  return h('bdi', {class: cls || null}, String(v));
}

export function code(v, cls) {
  if (v == null || v === '') return h('span', {class: 'none'}, '—');
  return h('code', {class: cls || null}, h('bdi', null, String(v)));
}

// link to a console route; path segments must be encoded by the caller.
export function link(href, ...children) {
  return h('a', {href, 'data-link': ''}, ...children);
}

export const enc = encodeURIComponent;

// route builds a console path from constant parts and encoded values.
export function route(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => { out += enc(String(v)) + strings[i + 1]; });
  return out;
}

// dl builds a definition list from [label, node] pairs, skipping nulls.
export function dl(pairs, cls) {
  const el = h('dl', {class: 'kv ' + (cls || '')});
  for (const p of pairs) {
    if (!p) continue;
    el.append(h('dt', null, p[0]), h('dd', null, p[1]));
  }
  return el;
}

export function badge(v, kind) {
  if (v == null || v === '') return val(v);
  const safe = String(v).toLowerCase().replace(/[^a-z0-9_]/g, '');
  return h('span', {class: 'badge ' + (kind || '') + ' b-' + safe}, String(v));
}

export function shortHash(v, n = 12) {
  if (!v) return val(v);
  const s = String(v);
  const i = s.indexOf('sha256:');
  const short = i >= 0 ? s.slice(i + 7, i + 7 + n) : s.slice(0, n);
  return h('code', {class: 'hash', title: s}, h('bdi', null, (i >= 0 ? 'sha256:' : '') + short + '…'));
}

// --- time ---

export function parseTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

const pad = (n) => String(n).padStart(2, '0');

export function fmtTime(iso) {
  const t = parseTime(iso);
  if (t == null) return val(iso);
  const d = new Date(t);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return h('time', {datetime: iso, title: iso}, s);
}

export function duration(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  let out;
  if (d) out = `${d}d ${hh}h`;
  else if (hh) out = `${hh}h ${m}m`;
  else if (m) out = `${m}m ${s}s`;
  else out = `${s}s`;
  return neg ? '-' + out : out;
}

// ticking elements: <span data-age=iso> and <span data-expires=iso>,
// refreshed once a second by tick().
export function age(iso) {
  const el = h('span', {class: 'age', 'data-age': iso, title: iso});
  updateAge(el, Date.now());
  return el;
}

export function countdown(iso) {
  if (!iso) return h('span', {class: 'none'}, 'never');
  const el = h('span', {class: 'countdown', 'data-expires': iso, title: 'expires at ' + iso});
  updateExpiry(el, Date.now());
  return el;
}

function updateAge(el, now) {
  const t = parseTime(el.dataset.age);
  el.textContent = t == null ? '—' : duration(now - t);
}

function updateExpiry(el, now) {
  const t = parseTime(el.dataset.expires);
  if (t == null) { el.textContent = '—'; return; }
  const left = t - now;
  if (left <= 0) {
    el.textContent = 'expired';
    el.classList.add('expired');
    el.classList.remove('soon');
  } else {
    el.textContent = 'in ' + duration(left);
    el.classList.toggle('soon', left < 3600 * 1000);
  }
}

export function tick(root) {
  const now = Date.now();
  root.querySelectorAll('[data-age]').forEach((el) => updateAge(el, now));
  root.querySelectorAll('[data-expires]').forEach((el) => updateExpiry(el, now));
}

// toUTC converts a datetime-local value to RFC 3339 UTC.
export function toUTC(local) {
  if (!local) return '';
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString();
}

export function toLocalInput(iso) {
  const t = parseTime(iso);
  if (t == null) return '';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function kb(n) {
  return n < 1024 ? n + ' B' : (n / 1024).toFixed(1) + ' KB';
}
