// JSON helpers: a pretty-printer that keeps every token exactly as sent
// (numbers are not rounded through floating point, strings keep their
// escapes), RFC 8785 (JCS) canonical JSON, SHA-256, and job_hash.

// pretty re-indents JSON text without parsing values. It returns null when
// the text is not a single JSON value. With decode, strings are re-encoded
// with only the escapes JSON needs (\u003c shows as <); numbers stay as sent.
export function pretty(src, indent = '  ', decode = false) {
  let out = '';
  let depth = 0;
  let i = 0;
  const n = src.length;
  const ws = (c) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  const nl = () => '\n' + indent.repeat(depth);
  while (i < n) {
    const c = src[i];
    if (ws(c)) { i++; continue; }
    if (c === '"') {
      let j = i + 1;
      while (j < n && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= n) return null;
      const tok = src.slice(i, j + 1);
      if (!decode) out += tok;
      else try { out += JSON.stringify(JSON.parse(tok)); } catch { out += tok; }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      // look ahead for an empty container
      let j = i + 1;
      while (j < n && ws(src[j])) j++;
      if (src[j] === (c === '{' ? '}' : ']')) {
        out += c + src[j];
        i = j + 1;
        continue;
      }
      depth++;
      out += c + nl();
      i++;
      continue;
    }
    if (c === '}' || c === ']') {
      depth--;
      if (depth < 0) return null;
      out += nl() + c;
      i++;
      continue;
    }
    if (c === ',') { out += ',' + nl(); i++; continue; }
    if (c === ':') { out += ': '; i++; continue; }
    let j = i;
    while (j < n && !ws(src[j]) && !',:{}[]"'.includes(src[j])) j++;
    if (j === i) return null;
    out += src.slice(i, j);
    i = j;
  }
  if (depth !== 0) return null;
  try { JSON.parse(src); } catch { return null; }
  return out;
}

// canonical returns the RFC 8785 (JCS) form of a parsed JSON value: object
// members sorted by UTF-16 code units, no whitespace, ECMAScript number and
// string serialization (which is what JSON.stringify does for scalars).
export function canonical(v) {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error('number out of range');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  const keys = Object.keys(v).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
}

// --- SHA-256 (FIPS 180-4); crypto.subtle only exists in secure contexts ---

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

function sha256js(bytes) {
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const len = bytes.length;
  const total = Math.ceil((len + 9) / 64) * 64;
  const m = new Uint8Array(total);
  m.set(bytes);
  m[len] = 0x80;
  const dv = new DataView(m.buffer);
  dv.setUint32(total - 8, Math.floor(len / 0x20000000));
  dv.setUint32(total - 4, (len << 3) >>> 0);
  const w = new Uint32Array(64);
  for (let off = 0; off < total; off += 64) {
    for (let t = 0; t < 16; t++) w[t] = dv.getUint32(off + t * 4);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15], b = w[t - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = H;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t] + w[t]) >>> 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += hh;
  }
  return Array.from(H, (x) => x.toString(16).padStart(8, '0')).join('');
}

// sha256 returns the lowercase hex SHA-256 of bytes (Uint8Array) or a string
// (UTF-8 encoded).
export async function sha256(data) {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  if (globalThis.crypto && crypto.subtle) {
    try {
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
    } catch { /* fall through */ }
  }
  return sha256js(bytes);
}

export const _sha256js = sha256js;

// jobHash recomputes a job's job_hash from the job record and its input
// text (docs/api.md, "job_hash"): SHA-256 of the JCS form of
// {tenant, job_id, run_id, workflow_step_id, action, resource, labels,
//  risk_tags (sorted), input, submitted_by}, absent strings as null.
export async function jobHash(job, inputText) {
  const s = (v) => (v == null || v === '' ? null : v);
  const input = inputText == null || inputText.trim() === '' ? null : JSON.parse(inputText);
  const tags = [...(job.risk_tags || [])];
  tags.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const proj = {
    tenant: s(job.tenant), job_id: s(job.job_id), run_id: s(job.run_id),
    workflow_step_id: s(job.workflow_step_id), action: s(job.action), resource: s(job.resource),
    labels: job.labels || {}, risk_tags: tags, input, submitted_by: s(job.submitted_by),
  };
  return sha256(canonical(proj));
}

// rawAt returns the exact text of the value at path (object keys and array
// indices) inside the JSON text src, or null: a member can then be shown
// with pretty() without a round trip through JSON.parse, which would round
// large numbers.
export function rawAt(src, path) {
  let i = 0;
  const n = src.length;
  const ws = () => { while (i < n && ' \t\n\r'.includes(src[i])) i++; };
  const str = () => {
    let j = i + 1;
    while (j < n && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
    const s = src.slice(i, j + 1);
    i = j + 1;
    return s;
  };
  // each walks the members of the container at i, calling fn(key or index)
  // positioned at the member's value; fn returns true to stop there.
  const each = (fn) => {
    const obj = src[i] === '{';
    i++;
    ws();
    if (src[i] === (obj ? '}' : ']')) { i++; return false; }
    for (let k = 0; i < n; k++) {
      ws();
      let key = k;
      if (obj) { key = JSON.parse(str()); ws(); i++; ws(); }
      if (fn(key)) return true;
      skip();
      ws();
      if (src[i++] !== ',') return false;
    }
    return false;
  };
  const skip = () => {
    ws();
    if (src[i] === '"') { str(); return; }
    if (src[i] === '{' || src[i] === '[') { each(() => false); return; }
    while (i < n && !' \t\n\r,:{}[]"'.includes(src[i])) i++;
  };
  const find = (d) => {
    ws();
    if (d === path.length) { const s = i; skip(); return src.slice(s, i); }
    const want = path[d];
    if ((src[i] === '{') !== (typeof want === 'string') || !'{['.includes(src[i])) return null;
    let out = null;
    each((k) => { if (k !== want) return false; out = find(d + 1); return true; });
    return out;
  };
  try { return find(0); } catch { return null; }
}
