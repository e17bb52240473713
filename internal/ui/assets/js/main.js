// The console's entry point: sign-in guard, navigation that follows the
// key's roles, and a small history-API router that loads each page module
// on demand.
import {h, clear, tick} from './dom.js';
import {getKey, storedCaps, probe, saveCaps, signOut, setUnauthorizedHandler, plain} from './api.js';

const routes = [
  {re: /^\/signin$/, page: 'signin', public: true},
  {re: /^\/$/, page: 'home'},
  {re: /^\/overview$/, page: 'overview', cap: 'jobs'},
  {re: /^\/approvals$/, page: 'queue', cap: 'approvals'},
  {re: /^\/approvals\/([^/]+)$/, page: 'approval', cap: 'approvals'},
  {re: /^\/jobs\/([^/]+)$/, page: 'job', cap: 'jobs'},
  {re: /^\/runs$/, page: 'runs', cap: 'jobs'},
  {re: /^\/runs\/([^/]+)$/, page: 'run', cap: 'jobs'},
  {re: /^\/workflows\/([^/]+)$/, page: 'workflow', cap: 'jobs'},
  {re: /^\/policy$/, page: 'policy', cap: 'policy'},
  {re: /^\/search$/, page: 'search', cap: 'jobs'},
];

const NAV = [
  {href: '/overview', label: 'Overview', cap: 'jobs'},
  {href: '/approvals', label: 'Approvals', cap: 'approvals'},
  {href: '/runs', label: 'Workflow runs', cap: 'jobs'},
  {href: '/search', label: 'Search', cap: 'jobs'},
  {href: '/policy', label: 'Policy', cap: 'policy'},
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const flashEl = document.getElementById('flash');

let caps = null;
let current = null; // {controller, cleanups}
let pendingFlash = null;
let first = true;

export function flash(msg, kind = 'ok') { pendingFlash = {msg, kind}; }

function showFlash() {
  clear(flashEl);
  flashEl.className = 'flash';
  if (!pendingFlash) return;
  flashEl.classList.add('show', pendingFlash.kind);
  flashEl.append(h('span', null, pendingFlash.msg));
  pendingFlash = null;
}

export function navigate(path, {replace = false} = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function renderNav() {
  clear(nav);
  clear(who);
  if (!caps) return;
  const here = location.pathname;
  const list = h('ul', null);
  for (const item of NAV) {
    if (!caps[item.cap]) continue;
    const active = here === item.href || here.startsWith(item.href + '/') ||
      (item.href === '/approvals' && here.startsWith('/approvals'));
    list.append(h('li', null, h('a', {href: item.href, 'data-link': '', 'aria-current': active ? 'page' : null}, item.label)));
  }
  nav.append(list);
  const can = [];
  if (caps.approvals) can.push('approvals');
  if (caps.auditor) can.push('audit');
  if (caps.publish) can.push('publish policy');
  else if (caps.simulate) can.push('simulate');
  if (!caps.approvals && caps.jobs) can.push('own jobs');
  if (caps.admin) can.splice(0, can.length, 'admin');
  who.append(
    h('span', {class: 'muted'}, 'Signed in', can.length ? ' · ' + can.join(', ') : ''),
    h('button', {type: 'button', class: 'link', onclick: () => { signOut(); caps = null; flash('Signed out. The key was removed from this tab.'); navigate('/signin'); }}, 'Sign out'));
}

async function render() {
  if (current) {
    current.controller.abort();
    current.cleanups.forEach((fn) => { try { fn(); } catch { /* ignore */ } });
  }
  const ctrl = new AbortController();
  const cleanups = [];
  current = {controller: ctrl, cleanups};
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  let route = null, params = [];
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) { route = r; params = m.slice(1).map((s) => { try { return decodeURIComponent(s); } catch { return s; } }); break; }
  }
  const key = getKey();
  if (!route || !route.public) {
    if (!key) {
      const next = path + location.search;
      history.replaceState(null, '', '/signin' + (next !== '/' ? '?next=' + encodeURIComponent(next) : ''));
      return render();
    }
    if (!caps) caps = storedCaps();
    if (!caps) {
      try {
        caps = await probe();
      } catch (err) {
        return fatal(plain(err).headline);
      }
      if (!caps) { signOut(); return render(); }
      saveCaps(caps);
    }
  }
  renderNav();
  main.setAttribute('aria-busy', 'true');
  clear(main);
  showFlash();
  if (!route) {
    setTitle('Not found');
    main.append(h('h1', {tabindex: '-1'}, 'Page not found'), h('p', null, 'There is no console page at this address. ', h('a', {href: '/', 'data-link': ''}, 'Go to the start page.')));
    return done(ctrl);
  }
  if (route.page === 'home') {
    const to = caps.jobs ? '/overview' : caps.approvals ? '/approvals' : caps.policy ? '/policy' : null;
    if (to) { history.replaceState(null, '', to); return render(); }
    setTitle('No console access');
    main.append(h('h1', {tabindex: '-1'}, 'No console access'),
      h('p', null, 'This key has no role the console serves (approver, auditor, policy_admin, agent or admin). Worker keys lease and complete jobs through the API.'));
    return done(ctrl);
  }
  if (route.cap && !caps[route.cap]) {
    setTitle('Not allowed');
    main.append(h('h1', {tabindex: '-1'}, 'Not allowed'), h('p', null, 'Your key does not hold a role that may open this page.'));
    return done(ctrl);
  }
  const ctx = {
    main, params, query, caps, signal: ctrl.signal, navigate, flash, setTitle,
    onCleanup: (fn) => cleanups.push(fn),
    setCaps: (c) => { caps = c; },
    aborted: () => ctrl.signal.aborted,
  };
  try {
    const mod = await import(`./pages/${route.page}.js`);
    if (ctrl.signal.aborted) return;
    await mod.default(ctx);
  } catch (err) {
    if (ctrl.signal.aborted || (err && err.name === 'AbortError')) return;
    const pe = plain(err);
    if (!main.querySelector('h1')) main.append(h('h1', {tabindex: '-1'}, 'Could not load this page'));
    main.append(h('div', {class: 'error', role: 'alert'}, h('strong', null, pe.headline), pe.detail ? h('p', null, pe.detail) : null,
      pe.requestId ? h('p', {class: 'muted'}, 'Request id: ', h('code', null, pe.requestId)) : null));
  }
  if (!ctrl.signal.aborted) done(ctrl);
}

function done(ctrl) {
  if (ctrl.signal.aborted) return;
  main.setAttribute('aria-busy', 'false');
  const af = main.querySelector('[data-autofocus]');
  if (af) af.focus();
  else if (!first) (main.querySelector('h1') || main).focus();
  first = false;
}

function fatal(msg) {
  clear(main);
  main.append(h('h1', {tabindex: '-1'}, 'The console could not start'), h('p', {role: 'alert'}, msg));
  main.setAttribute('aria-busy', 'false');
}

function setTitle(t) { document.title = t + ' · Cairn'; }

setUnauthorizedHandler(() => {
  signOut();
  caps = null;
  flash('Your key is not valid any more (unknown or revoked). Sign in again.', 'warn');
  const next = location.pathname + location.search;
  navigate('/signin?next=' + encodeURIComponent(next), {replace: true});
});

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', () => render());
setInterval(() => tick(main), 1000);

render();
