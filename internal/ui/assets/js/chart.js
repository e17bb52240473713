// Small charts drawn as inline SVG (createElementNS, no external service),
// each with a data table for screen readers and keyboard users.
import {h} from './dom.js';

const svg = (tag, attrs, ...kids) => h('svg:' + tag, attrs, ...kids);

// stacked draws a stacked bar chart.
// buckets: [{label, title, values: {series: n}}]; series: [{key, label, cls}]
export function stacked(title, buckets, series, opts = {}) {
  const W = opts.width || 560, H = opts.height || 160, padL = 34, padB = 22, padT = 8;
  const max = Math.max(1, ...buckets.map((b) => series.reduce((s, se) => s + (b.values[se.key] || 0), 0)));
  const bw = (W - padL - 4) / Math.max(1, buckets.length);
  const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title});
  root.append(svg('title', null, title));
  // axis and grid
  for (const f of max >= 2 ? [0, 0.5, 1] : [0, 1]) {
    const y = padT + (H - padT - padB) * (1 - f);
    root.append(svg('line', {x1: padL, x2: W, y1: y, y2: y, class: 'grid'}));
    root.append(svg('text', {x: padL - 4, y: y + 4, class: 'axis', 'text-anchor': 'end'}, String(Math.round(max * f))));
  }
  buckets.forEach((b, i) => {
    let y = H - padB;
    const x = padL + i * bw + 1;
    const g = svg('g', null);
    const parts = [];
    for (const se of series) {
      const n = b.values[se.key] || 0;
      if (!n) continue;
      const bh = ((H - padT - padB) * n) / max;
      y -= bh;
      g.append(svg('rect', {x, y, width: Math.max(1, bw - 2), height: bh, class: 'bar ' + se.cls}));
      parts.push(`${se.label}: ${n}`);
    }
    g.append(svg('title', null, `${b.title || b.label} — ${parts.join(', ') || 'none'}`));
    root.append(g);
    const every = Math.ceil(buckets.length / 6);
    if (i % every === 0) root.append(svg('text', {x: x + bw / 2, y: H - 6, class: 'axis', 'text-anchor': 'middle'}, b.label));
  });
  const legend = h('ul', {class: 'legend'}, series.map((se) => h('li', null, h('span', {class: 'swatch ' + se.cls}), se.label)));
  const table = h('table', {class: 'data'},
    h('caption', null, title),
    h('thead', null, h('tr', null, h('th', {scope: 'col'}, opts.bucketLabel || 'Time'), series.map((se) => h('th', {scope: 'col'}, se.label)))),
    h('tbody', null, buckets.map((b) => h('tr', null, h('th', {scope: 'row'}, b.title || b.label), series.map((se) => h('td', null, String(b.values[se.key] || 0)))))));
  return h('figure', {class: 'chart-box'},
    h('figcaption', null, title), root, legend,
    h('details', null, h('summary', null, 'Data table'), table));
}

// bars draws a simple bar chart of [{label, n, cls}].
export function bars(title, items, opts = {}) {
  const series = [{key: 'n', label: opts.seriesLabel || 'count', cls: opts.cls || 's0'}];
  return stacked(title, items.map((it) => ({label: it.label, title: it.title, values: {n: it.n}})), series, {bucketLabel: opts.bucketLabel || 'Bucket', height: opts.height});
}
