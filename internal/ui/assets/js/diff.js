// Line diff: the shortest edit script between two texts (Myers' O(ND)
// algorithm, which finds a longest common subsequence of lines), after
// trimming the common head and tail.

// diffLines returns [{op: ' '|'-'|'+', text, a, b}] where a and b are
// 1-based line numbers in the old and new text (null where absent).
export function diffLines(oldText, newText, maxD = 4000) {
  const A = split(oldText);
  const B = split(newText);
  let pre = 0;
  while (pre < A.length && pre < B.length && A[pre] === B[pre]) pre++;
  let suf = 0;
  while (suf < A.length - pre && suf < B.length - pre && A[A.length - 1 - suf] === B[B.length - 1 - suf]) suf++;
  const a = A.slice(pre, A.length - suf);
  const b = B.slice(pre, B.length - suf);
  const mid = myers(a, b, maxD);
  const out = [];
  for (let i = 0; i < pre; i++) out.push({op: ' ', text: A[i], a: i + 1, b: i + 1});
  let ai = pre, bi = pre;
  for (const [op, t] of mid) {
    if (op === ' ') { out.push({op, text: t, a: ++ai, b: ++bi}); }
    else if (op === '-') { out.push({op, text: t, a: ++ai, b: null}); }
    else { out.push({op, text: t, a: null, b: ++bi}); }
  }
  for (let i = 0; i < suf; i++) out.push({op: ' ', text: A[A.length - suf + i], a: ++ai, b: ++bi});
  return out;
}

function split(t) {
  if (t == null || t === '') return [];
  const lines = String(t).split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function myers(a, b, maxD) {
  const n = a.length, m = b.length;
  if (n === 0) return b.map((t) => ['+', t]);
  if (m === 0) return a.map((t) => ['-', t]);
  const max = n + m;
  const off = max;
  let v = new Int32Array(2 * max + 2);
  const trace = [];
  let found = false;
  for (let d = 0; d <= max && d <= maxD; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x;
      if (k === -d || (k !== d && v[off + k - 1] < v[off + k + 1])) x = v[off + k + 1];
      else x = v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[off + k] = x;
      if (x >= n && y >= m) { found = true; break; }
    }
    if (found) break;
  }
  if (!found) return [...a.map((t) => ['-', t]), ...b.map((t) => ['+', t])];
  // walk back
  const ops = [];
  let x = n, y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d];
    const k = x - y;
    let pk;
    if (k === -d || (k !== d && vd[off + k - 1] < vd[off + k + 1])) pk = k + 1;
    else pk = k - 1;
    const px = vd[off + pk];
    const py = px - pk;
    while (x > px && y > py) { ops.push([' ', a[x - 1]]); x--; y--; }
    if (d > 0) {
      if (x === px) { ops.push(['+', b[y - 1]]); y--; }
      else { ops.push(['-', a[x - 1]]); x--; }
    }
  }
  return ops.reverse();
}

// stats counts added and removed lines.
export function diffStats(d) {
  let add = 0, del = 0;
  for (const l of d) { if (l.op === '+') add++; else if (l.op === '-') del++; }
  return {add, del};
}
