// Sign in with an API key. The key goes to sessionStorage (this tab only)
// and is sent only as a bearer token. The input has no name, so even a form
// submitted without JavaScript could not put it in a URL.
import {h} from '../dom.js';
import {probe, saveSession, getKey, plain} from '../api.js';

export default async function signin(ctx) {
  const {main, query, setTitle, navigate} = ctx;
  setTitle('Sign in');
  let next = query.get('next') || '/';
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/signin')) next = '/';
  const input = h('input', {id: 'key', type: 'password', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', required: true, 'data-autofocus': '', 'aria-describedby': 'key-help'});
  const status = h('div', {id: 'signin-status', role: 'alert', class: 'status'});
  const button = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {class: 'card narrow', method: 'post', action: '/signin', novalidate: true},
    h('label', {for: 'key'}, 'API key'),
    input,
    h('p', {id: 'key-help', class: 'muted'}, 'Paste a Cairn API key (cairn_…). It is kept only in this browser tab and sent as a bearer token; closing the tab forgets it. What you see follows the key\u2019s roles.'),
    button, status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const key = input.value.trim();
    if (!key) { status.textContent = 'Enter an API key.'; input.focus(); return; }
    if (/[^\x21-\x7e]/.test(key)) { status.textContent = 'That does not look like an API key: it contains spaces or characters a key never has.'; input.focus(); return; }
    button.disabled = true;
    button.textContent = 'Checking…';
    try {
      const caps = await probe(key);
      if (!caps) {
        status.textContent = 'This key was not accepted: it is unknown or has been revoked.';
        input.select();
        return;
      }
      saveSession(key, caps);
      input.value = '';
      ctx.setCaps(caps);
      navigate(next, {replace: true});
    } catch (err) {
      status.textContent = plain(err).headline;
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
  main.append(h('h1', {tabindex: '-1'}, 'Sign in to the Cairn console'));
  if (getKey()) main.append(h('p', {class: 'muted'}, 'You are signed in in this tab; signing in again replaces the key.'));
  main.append(form);
}
