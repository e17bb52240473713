// The API client. The key lives in sessionStorage (this tab only, gone when
// the tab closes) and is sent only in the Authorization header: never in a
// URL, never logged.

const KEY = 'cairn.key';
const CAPS = 'cairn.caps';

export function getKey() { return sessionStorage.getItem(KEY); }

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(CAPS);
}

export function storedCaps() {
  try { return JSON.parse(sessionStorage.getItem(CAPS) || 'null'); } catch { return null; }
}

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? 'network' : 'http_' + status);
    this.field = e.field || null;
    this.line = e.line || null;
    this.requestId = e.request_id || null;
  }
}

// Called when the server answers 401 (unknown or revoked key).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// p builds an API path from constant parts and encoded values.
export function p(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => { out += encodeURIComponent(String(v)) + strings[i + 1]; });
  return out;
}

// qs builds a query string, skipping empty values.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v == null || v === '' || v === false) continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

async function raw(method, path, body, key, signal) {
  const headers = {Accept: 'application/json'};
  key = key || getKey();
  if (key) headers.Authorization = 'Bearer ' + key;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  try {
    return await fetch('/api/v1' + path, {
      method, headers, body: payload, cache: 'no-store', credentials: 'omit',
      referrerPolicy: 'no-referrer', redirect: 'error', signal,
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, {error: {message: 'The server could not be reached.'}});
  }
}

async function fail(res, key) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const err = new ApiError(res.status, body);
  if (res.status === 401 && !key) onUnauthorized(err);
  return err;
}

// api sends a request and returns the decoded JSON answer or throws ApiError.
export async function api(method, path, body, opts = {}) {
  const res = await raw(method, path, body, opts.key, opts.signal);
  if (!res.ok) throw await fail(res, opts.key);
  return res.json();
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body, opts);

// getText reads a payload (context or result) as text, at most max bytes
// unless max is 0; it stops the transfer once max is reached.
export async function getText(path, max = 0, opts = {}) {
  const res = await raw('GET', path, undefined, opts.key, opts.signal);
  if (!res.ok) throw await fail(res, opts.key);
  const sha = res.headers.get('X-Content-SHA256');
  if (!max || !res.body) {
    const buf = new Uint8Array(await res.arrayBuffer());
    return {bytes: buf, sha256: sha, complete: true};
  }
  const reader = res.body.getReader();
  const chunks = [];
  let n = 0;
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    if (n > max) {
      reader.cancel();
      return {bytes: concat(chunks, n), sha256: sha, complete: false};
    }
  }
  return {bytes: concat(chunks, n), sha256: sha, complete: true};
}

function concat(chunks, n) {
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

// probe finds what the key may do. The API has no "who am I" call, so each
// capability is tested with a read, or with a write the server refuses as
// invalid before doing anything (publish with an empty bundle, simulate with
// no action): a 400 means the role is there, a 403 that it is not.
export async function probe(key) {
  const st = async (method, path, body) => {
    const res = await raw(method, path, body, key);
    if (res.body) res.body.cancel().catch(() => {});
    return res.status;
  };
  const [jobs, approvals, policy, ledger, keys, publish, simulate] = await Promise.all([
    st('GET', '/jobs?limit=1'),
    st('GET', '/approvals?limit=1'),
    st('GET', '/policy/audit?limit=1'),
    st('GET', '/ledger/entries?limit=1'),
    st('GET', '/keys?limit=1'),
    st('POST', '/policy/publish', {bundle: '', message: ''}),
    st('POST', '/policy/simulate', {job: {}}),
  ]);
  const all = [jobs, approvals, policy, ledger, keys, publish, simulate];
  if (all.includes(401)) return null;
  if (all.some((s) => s >= 500 || s === 0)) throw new ApiError(503, {error: {message: 'The server could not check this key; try again.'}});
  return {
    jobs: jobs === 200,         // agent (own jobs), approver, auditor, admin
    approvals: approvals === 200, // approver, auditor, admin
    policy: policy === 200,     // approver, policy_admin, auditor, admin
    auditor: ledger === 200,    // auditor, admin: quarantined results, ledger
    admin: keys === 200,
    publish: publish === 400,   // policy_admin (of tenant default), admin
    simulate: simulate === 400, // policy_admin, auditor, admin
  };
}

export function saveSession(key, caps) {
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(CAPS, JSON.stringify(caps));
}

export function saveCaps(caps) { sessionStorage.setItem(CAPS, JSON.stringify(caps)); }

// Plain words for the errors an approver or auditor meets.
const PLAIN = {
  self_approval_forbidden: 'You submitted this job, so you cannot approve or reject it. Another approver has to decide.',
  approval_expired: 'This approval has expired. It can no longer be approved or rejected; the job will not run.',
  job_hash_mismatch: 'The job is not the one you reviewed: the job_hash you saw does not match the job awaiting approval. Nothing was approved. Reload the page and review it again.',
  approval_already_resolved: 'Someone already decided this approval.',
  approver_role_not_allowed: 'Your key does not hold a role that the deciding rule allows to approve.',
  approval_not_found: 'This job has no approval.',
  gate_already_voted: 'You already voted on this gate; each approver votes once.',
  gate_not_pending: 'This gate is not waiting for votes any more (it was decided, expired or cancelled).',
  run_finished: 'This run is over; nothing can change it.',
  forbidden: 'Your key is not allowed to do this.',
  unauthorized: 'Your key is not valid (unknown or revoked). Sign in again.',
  key_revoked: 'Your key has been revoked. Sign in with another key.',
  not_found: 'Not found.',
  policy_invalid: 'The policy text is not valid; nothing was changed.',
  invalid_input: 'The request was not valid.',
  invalid_cursor: 'That page link is no longer valid; start from the first page.',
  output_quarantined: 'This result is quarantined by an output rule; only auditors can read it.',
  payload_access_denied: 'Your tenant lets only some roles read payloads, and your key holds none of them. The hashes shown stay verifiable.',
  erased: 'This payload was erased (crypto-shredded). The ledger keeps its hash and the erasure event.',
  network: 'The server could not be reached.',
  internal_error: 'The server failed to answer.',
  unavailable: 'The server is unavailable; try again.',
};

export function plain(err) {
  if (!(err instanceof ApiError)) return {headline: 'Something went wrong.', detail: String(err && err.message || err)};
  const headline = PLAIN[err.code] || `The request failed (${err.status}).`;
  let detail = err.message;
  if (err.field) detail += ` (field: ${err.field})`;
  if (err.line) detail += ` (line ${err.line})`;
  return {headline, detail, requestId: err.requestId, code: err.code};
}
