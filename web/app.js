// The web console's entry: sign-in, the routes of the page (#/ the list, #/d/NAME a domain),
// the domain list and the live event stream that keeps it current. docs/web.md.
import { api, setToken, token, followEvents, ApiError } from './api.js';
import { $, el, clear, setText, mib, rate, percent } from './dom.js';
import { showDomain, hideDomain, domainEvent } from './domain.js';

const state = {
  stream: null,
  domains: [],
  prev: new Map(), // name -> {t, cpu, rx, tx}: the last list's counters, for the rates
  rates: new Map(), // name -> {cpu, rx, tx}
  refreshTimer: null,
  pollTimer: null,
};

function show(section) {
  for (const id of ['signin', 'list', 'domain']) $(id).hidden = id !== section;
}

// ---- sign in / out ----

async function signIn(t) {
  setToken(t);
  try {
    await api('GET', '/v1/domains');
  } catch (e) {
    setToken(null);
    throw e;
  }
  let who = 'sponsor token';
  try {
    await api('GET', '/v1/host'); // operator only: 403 for a sponsor's token
    who = 'operator';
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 403) throw e;
  }
  setText('who', who);
  // A sponsor's token gets 403 from sched and net-qos: those forms are not shown to it.
  document.body.dataset.role = who === 'operator' ? 'operator' : 'sponsor';
  $('signout').hidden = false;
  startStream();
  route();
}

function signOut(message) {
  setToken(null);
  if (state.stream) state.stream.stop();
  state.stream = null;
  clearInterval(state.pollTimer);
  clearTimeout(state.refreshTimer);
  hideDomain();
  setText('who', '');
  delete document.body.dataset.role;
  $('signout').hidden = true;
  setLive('off', 'not connected');
  setText('signin-error', message || '');
  $('token').value = '';
  show('signin');
}

function setLive(cls, text) {
  $('live').className = `live ${cls}`;
  $('live').textContent = text;
}

// ---- the list ----

function noteRates(domains) {
  const now = performance.now() / 1000;
  for (const d of domains) {
    const cur = { t: now, cpu: d.cpu_time_s, rx: d.net?.rx?.bytes, tx: d.net?.tx?.bytes };
    const p = state.prev.get(d.name);
    if (p && cur.t - p.t >= 1 && d.state !== 'shutdown') {
      const dt = cur.t - p.t;
      const r = (a, b) => (typeof a === 'number' && typeof b === 'number' && a >= b ? (a - b) / dt : undefined);
      const cpu = r(cur.cpu, p.cpu);
      state.rates.set(d.name, { cpu: cpu === undefined ? undefined : cpu * 100, rx: r(cur.rx, p.rx), tx: r(cur.tx, p.tx) });
    }
    if (!p || cur.t - p.t >= 1) state.prev.set(d.name, cur);
  }
}

function renderList() {
  const body = $('domain-rows');
  clear(body);
  for (const d of state.domains) {
    const r = d.state === 'shutdown' ? {} : state.rates.get(d.name) || {};
    const link = el('a', { href: `#/d/${encodeURIComponent(d.name)}` }, d.name);
    body.append(
      el('tr', { 'data-name': d.name },
        el('td', {}, link),
        el('td', {}, d.id ?? '—'),
        el('td', { class: `state ${d.state}` }, d.state),
        el('td', {}, d.sponsor ?? '—'),
        el('td', {}, mib(d.current_memory_bytes ?? d.memory_bytes)),
        el('td', {}, d.vcpus),
        el('td', {}, percent(r.cpu)),
        el('td', {}, rate(r.rx)),
        el('td', {}, rate(r.tx))));
  }
  $('list-empty').hidden = state.domains.length > 0;
}

async function refreshList() {
  try {
    const o = await api('GET', '/v1/domains');
    state.domains = (o.domains || []).slice().sort((a, b) => a.name.localeCompare(b.name));
    noteRates(state.domains);
    renderList();
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 0)) setLive('off', `list: ${e.message}`);
  }
}

// Events come in bursts (a create is several): one refresh for a burst.
function refreshSoon() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refreshList, 150);
}

function startStream() {
  if (state.stream) state.stream.stop();
  state.stream = followEvents(
    (ev) => {
      refreshSoon();
      domainEvent(ev);
    },
    (s) => {
      if (s === 'live') {
        setLive('on', 'live');
        refreshSoon(); // what happened while it reconnected
      } else {
        setLive('off', 'reconnecting…');
      }
    });
  clearInterval(state.pollTimer);
  // CPU % and network rates move without events: the counters are read again every 5 s.
  state.pollTimer = setInterval(refreshList, 5000);
  refreshList();
}

// ---- create from an XML file ----

async function createFromFile(ev) {
  ev.preventDefault();
  const file = $('create-file').files[0];
  const out = $('create-problems');
  clear(out);
  if (!file) return;
  if (file.size > 1048576) {
    out.append(el('li', { class: 'error' }, `${file.name}: over 1 MiB, the limit of a domain XML`));
    return;
  }
  const xml = await file.text();
  const body = { xml, start: $('create-start').checked, persistent: $('create-persistent').checked };
  let o;
  try {
    o = await api('POST', '/v1/domains', body);
    out.append(el('li', { class: 'ok' }, `${file.name}: domain ${o.name} created`));
  } catch (e) {
    o = e.body && typeof e.body === 'object' ? e.body : null;
    out.append(el('li', { class: 'error' }, `${file.name}: ${e.message}`));
  }
  // The parser's problems, every one, in line order, as file:line.
  for (const [kind, list] of [['error', o?.errors], ['warning', o?.warnings]]) {
    for (const p of list || []) {
      out.append(el('li', { class: kind }, `${file.name}:${p.line}: ${kind}: <${p.element}> ${p.message}`));
    }
  }
  refreshSoon();
}

// ---- routes ----

function route() {
  if (!token()) {
    hideDomain();
    show('signin');
    return;
  }
  const m = /^#\/d\/(.+)$/.exec(location.hash);
  if (m) {
    show('domain');
    showDomain(decodeURIComponent(m[1]));
  } else {
    hideDomain();
    show('list');
    refreshList();
  }
}

function init() {
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setText('signin-error', '');
    try {
      await signIn($('token').value.trim());
    } catch (e) {
      setText('signin-error', `sign-in failed: ${e.message}`);
    }
  });
  $('signout').addEventListener('click', () => signOut(''));
  $('create-form').addEventListener('submit', createFromFile);
  window.addEventListener('hashchange', route);
  window.addEventListener('xeno-unauthorized', (e) => signOut(`signed out: ${e.detail}`));
  if (token()) signIn(token()).catch((e) => signOut(`sign-in failed: ${e.message}`));
  else route();
}

init();
