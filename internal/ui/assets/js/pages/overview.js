// Overview: counts by decision and by state over time, pending approvals by
// age, and quarantined outputs. The API has no aggregate counts, so the
// charts are computed from the newest jobs (one bounded page) and from
// bounded per-age-bucket pages of the approval queue, which keeps the page
// well under its transfer budget; each chart says what it is based on.
import {h, code, link, route, badge, fmtTime} from '../dom.js';
import {get, qs} from '../api.js';
import {stacked, bars} from '../chart.js';
import {section} from '../views.js';

export const JOBS_SAMPLE = 100;
export const AGE_CAP = 20;

const DECISIONS = [
  {key: 'ALLOW', label: 'ALLOW', cls: 's-allow'},
  {key: 'ALLOW_WITH_CONSTRAINTS', label: 'ALLOW_WITH_CONSTRAINTS', cls: 's-awc'},
  {key: 'REQUIRE_APPROVAL', label: 'REQUIRE_APPROVAL', cls: 's-ra'},
  {key: 'DENY', label: 'DENY', cls: 's-deny'},
];
const STATES = [
  {key: 'PENDING_APPROVAL', label: 'PENDING_APPROVAL', cls: 's-ra'},
  {key: 'QUEUED', label: 'QUEUED', cls: 's-queued'},
  {key: 'RUNNING', label: 'RUNNING', cls: 's-running'},
  {key: 'SUCCEEDED', label: 'SUCCEEDED', cls: 's-allow'},
  {key: 'FAILED', label: 'FAILED', cls: 's-failed'},
  {key: 'DENIED', label: 'DENIED', cls: 's-deny'},
  {key: 'EXPIRED', label: 'EXPIRED', cls: 's-expired'},
  {key: 'CANCELLED', label: 'CANCELLED', cls: 's-expired'},
];
const AGES = [
  {label: '< 1 h', from: 0, to: 3600e3},
  {label: '1–4 h', from: 3600e3, to: 4 * 3600e3},
  {label: '4–24 h', from: 4 * 3600e3, to: 24 * 3600e3},
  {label: '1–7 d', from: 24 * 3600e3, to: 7 * 24 * 3600e3},
  {label: '≥ 7 d', from: 7 * 24 * 3600e3, to: null},
];
const STEPS = [60e3, 5 * 60e3, 15 * 60e3, 3600e3, 6 * 3600e3, 24 * 3600e3, 7 * 24 * 3600e3];

export default async function overview(ctx) {
  const {main, setTitle, signal, caps} = ctx;
  setTitle('Overview');
  main.append(h('h1', {tabindex: '-1'}, 'Overview'));
  const now = Date.now();
  const jobsP = get('/jobs' + qs({limit: JOBS_SAMPLE}), {signal});
  const agesP = caps.approvals ? Promise.all(AGES.map((b) => get('/approvals' + qs({
    limit: AGE_CAP,
    until: new Date(now - b.from).toISOString(),
    since: b.to ? new Date(now - b.to).toISOString() : '',
  }), {signal}))) : null;
  const jobs = (await jobsP).items;
  const more = jobs.length === JOBS_SAMPLE;
  const basis = jobs.length === 0 ? 'No jobs yet.' : `Based on the ${more ? 'newest ' : ''}${jobs.length} job${jobs.length === 1 ? '' : 's'}${caps.approvals ? '' : ' you submitted'}${more ? ' (the API has no totals; search for more)' : ''}.`;

  // --- counts over time ---
  const buckets = timeBuckets(jobs);
  const byDecision = tally(jobs, 'decision', DECISIONS);
  const byState = tally(jobs, 'state', STATES);
  main.append(h('div', {class: 'grid2'},
    section('Decisions', h('p', {class: 'muted small'}, basis), totals(byDecision, DECISIONS, 'decision'),
      jobs.length ? stacked('Jobs by decision over time', buckets.map((b) => ({...b, values: tally(b.jobs, 'decision', DECISIONS)})), DECISIONS) : null),
    section('States', h('p', {class: 'muted small'}, basis), totals(byState, STATES, 'state'),
      jobs.length ? stacked('Jobs by state over time', buckets.map((b) => ({...b, values: tally(b.jobs, 'state', STATES)})), STATES) : null)));

  // --- pending approvals by age ---
  if (agesP) {
    const ages = await agesP;
    const items = AGES.map((b, i) => {
      const n = ages[i].items.length;
      return {label: b.label + (ages[i].next_cursor ? '+' : ''), title: `${n}${ages[i].next_cursor ? ' or more' : ''} pending, requested ${b.label} ago`, n};
    });
    const capped = ages.some((a) => a.next_cursor);
    const total = ages.reduce((s, a) => s + a.items.length, 0);
    main.append(section('Pending approvals by age',
      h('p', null, total === 0 ? 'No approvals are waiting.' : [`${total}${capped ? '+' : ''} pending. `, link('/approvals', 'Open the queue'), '.']),
      capped ? h('p', {class: 'muted small'}, `Each age bucket is counted up to ${AGE_CAP}; a “+” marks a bucket with more.`) : null,
      bars('Pending approvals by age', items, {bucketLabel: 'Age', seriesLabel: 'pending', cls: 's-ra'}),
      oldest(ages)));
  }

  // --- quarantined outputs ---
  const q = jobs.filter((j) => j.output_safety && j.output_safety.decision === 'QUARANTINE');
  main.append(section('Quarantined outputs',
    h('p', {class: 'muted small'}, `Among the ${more ? 'newest ' : ''}${jobs.length} jobs.`),
    q.length === 0 ? h('p', null, 'None.') : h('ul', {class: 'plain'}, q.map((j) => h('li', null,
      link(route`/jobs/${j.job_id}`, code(j.job_id)), ' ', code(j.action), ' · rule ', code(j.output_safety.rule_id), ' · ',
      String((j.output_safety.findings || []).length), ' finding(s) · ', fmtTime(j.completed_at || j.updated_at))))));
  main.append(h('p', {class: 'muted'}, link('/search?go=1', 'Search all jobs'), caps.policy ? [' · ', link('/policy', 'Policy history')] : null));
}

function oldest(ages) {
  for (let i = ages.length - 1; i >= 0; i--) {
    const items = ages[i].items;
    if (items.length) {
      const a = items[items.length - 1];
      return h('p', {class: 'muted small'}, 'Oldest seen: ', link(route`/approvals/${a.job_id}`, code(a.job_id)), ' (', code(a.action), ') requested ', fmtTime(a.requested_at), '.');
    }
  }
  return null;
}

function tally(jobs, field, series) {
  const out = {};
  for (const s of series) out[s.key] = 0;
  for (const j of jobs) out[j[field]] = (out[j[field]] || 0) + 1;
  return out;
}

function totals(counts, series, kind) {
  return h('ul', {class: 'totals'}, series.filter((s) => counts[s.key]).map((s) => h('li', null, badge(s.key, kind === 'state' ? 'state' : 'dec'), ' ', h('strong', null, String(counts[s.key])))));
}

function timeBuckets(jobs) {
  if (!jobs.length) return [];
  const ts = jobs.map((j) => Date.parse(j.created_at)).filter((t) => !Number.isNaN(t));
  const min = Math.min(...ts), max = Math.max(...ts);
  const step = STEPS.find((s) => (max - min) / s <= 24) || STEPS[STEPS.length - 1];
  const start = Math.floor(min / step) * step;
  const n = Math.floor((max - start) / step) + 1;
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = new Date(start + i * step);
    const label = step >= 24 * 3600e3 ? `${t.getMonth() + 1}/${t.getDate()}` : `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}`;
    out.push({label, title: t.toLocaleString(), jobs: []});
  }
  for (const j of jobs) {
    const t = Date.parse(j.created_at);
    if (!Number.isNaN(t)) out[Math.floor((t - start) / step)].jobs.push(j);
  }
  return out;
}
