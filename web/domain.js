// One domain's page: its facts, lifecycle buttons, memory target, CPU scheduling, network
// QoS, usage graphs over the last hour, its events and its console.
import { api, at } from './api.js';
import { $, el, clear, setText, mib, when } from './dom.js';
import { drawGraph, rates, levels } from './graphs.js';
import { openConsole, closeConsole, reconnectConsole } from './console.js';

let ref = null; // the domain shown, or null
let uuid = null;
let timer = null;
let wired = false;

function msg(text, isError) {
  const p = $('d-msg');
  p.textContent = text;
  p.className = isError ? 'msg error' : 'msg';
}

// What each button and form does: the route, as docs/openapi.yaml writes it.
const ACTIONS = {
  start: '/v1/domains/{ref}/start',
  pause: '/v1/domains/{ref}/pause',
  unpause: '/v1/domains/{ref}/unpause',
  shutdown: '/v1/domains/{ref}/shutdown',
  destroy: '/v1/domains/{ref}/destroy',
  memory: '/v1/domains/{ref}/memory',
  sched: '/v1/domains/{ref}/sched',
  'net-qos': '/v1/domains/{ref}/net-qos',
};

async function act(what, body) {
  try {
    const d = await api('POST', at(ACTIONS[what], ref), body);
    msg(`${what}: done`, false);
    if (d && d.uuid) renderFacts(d); // sched answers its own object, not the domain
  } catch (e) {
    msg(`${what}: ${e.message}`, true);
  }
  refresh();
}

function renderFacts(d) {
  uuid = d.uuid;
  setText('d-name', d.name);
  const facts = [
    ['state', d.state],
    ['id', d.id ?? '—'],
    ['sponsor', d.sponsor ?? '—'],
    ['memory', `${mib(d.current_memory_bytes)} of ${mib(d.memory_bytes)}`],
    ['vCPUs', d.vcpus],
    ['CPU time', typeof d.cpu_time_s === 'number' ? `${d.cpu_time_s.toFixed(2)} s` : '—'],
    ['started', when(d.started_at)],
    ['sched', d.sched ? `reservation ${d.sched.reservation_percent}%, limit ${d.sched.limit_percent ?? 'none'}, weight ${d.sched.weight}` : '—'],
    ['kernel', d.kernel ?? '—'],
  ];
  if (d.title) facts.push(['title', d.title]);
  const dl = $('d-facts');
  clear(dl);
  for (const [k, v] of facts) dl.append(el('dt', {}, k), el('dd', { 'data-fact': k }, v));
  for (const b of document.querySelectorAll('#domain .actions button')) {
    const a = b.dataset.action;
    const running = d.state === 'running' || d.state === 'blocked';
    b.disabled = (a === 'start' && d.state !== 'shutdown' && d.state !== 'crashed') ||
      (a === 'pause' && !running) || (a === 'unpause' && d.state !== 'paused') ||
      ((a === 'shutdown' || a === 'destroy') && !(running || d.state === 'paused'));
  }
}

async function renderGraphs() {
  const u = await api('GET', at('/v1/domains/{ref}/usage', ref, { limit: 400 }));
  const now = Date.now() / 1000;
  const s = (u.samples || []).filter((x) => x.time >= now - 3600);
  const net = (u.net || []).filter((x) => x.time >= now - 3600);
  drawGraph($('g-cpu'), [rates(s, 'cpu_ns', 100 / 1e9)], now);
  drawGraph($('g-mem'), [levels(s, 'memory_bytes', 1 / 1048576), levels(s, 'guest_resident_bytes', 1 / 1048576)], now);
  drawGraph($('g-net'), [rates(net, 'rx_bytes', 1 / 1000), rates(net, 'tx_bytes', 1 / 1000)], now);
  setText('g-note', s.length ? `${s.length} samples, the newest ${when(s[s.length - 1].time)}` :
    'no samples in the last hour (xenod stores one every --sample-interval while the domain runs)');
}

async function renderEvents() {
  const o = await api('GET', at('/v1/events', null, { domain: ref, limit: 50 }));
  const ol = $('d-events');
  clear(ol);
  for (const e of (o.events || []).slice().reverse()) {
    ol.append(el('li', {}, el('time', {}, when(e.time)), ' ', el('b', {}, e.kind), ' ', e.detail ?? ''));
  }
}

async function refresh() {
  if (!ref) return;
  const mine = ref;
  try {
    const d = await api('GET', at('/v1/domains/{ref}', ref));
    if (mine !== ref) return;
    renderFacts(d);
    await Promise.all([renderGraphs(), renderEvents()]);
  } catch (e) {
    if (mine === ref) msg(e.message, true);
  }
}

function numberOrNull(id) {
  const v = $(id).value.trim();
  return v === '' ? null : Number(v);
}

function wire() {
  if (wired) return;
  wired = true;
  const confirmDestroy = { armed: false, timer: null };
  for (const b of document.querySelectorAll('#domain .actions button')) {
    b.addEventListener('click', () => {
      const a = b.dataset.action;
      if (a === 'destroy' && !confirmDestroy.armed) { // a second click within 4 s: no dialog box
        confirmDestroy.armed = true;
        b.textContent = 'Really destroy?';
        confirmDestroy.timer = setTimeout(() => { confirmDestroy.armed = false; b.textContent = 'Destroy'; }, 4000);
        return;
      }
      if (a === 'destroy') {
        clearTimeout(confirmDestroy.timer);
        confirmDestroy.armed = false;
        b.textContent = 'Destroy';
      }
      act(a, a === 'start' || a === 'shutdown' ? {} : undefined);
    });
  }
  $('console-reconnect').addEventListener('click', reconnectConsole);
  $('mem-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act('memory', { target_bytes: Number($('mem-mib').value) * 1048576 });
  });
  $('sched-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = {};
    const res = numberOrNull('sched-res');
    const lim = numberOrNull('sched-lim');
    const w = numberOrNull('sched-weight');
    if (res !== null) body.reservation_percent = res;
    if (lim !== null) body.limit_percent = lim === 0 ? null : lim;
    if (w !== null) body.weight = w;
    act('sched', body);
  });
  $('qos-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = {};
    const i = numberOrNull('qos-in');
    const o = numberOrNull('qos-out');
    if (i !== null) body.inbound = { average: i };
    if (o !== null) body.outbound = { average: o };
    act('net-qos', body);
  });
}

export function showDomain(name) {
  wire();
  if (ref !== name) {
    ref = name;
    uuid = null;
    msg('', false);
    clear($('d-facts'));
    clear($('d-events'));
    setText('d-name', name);
    closeConsole();
  }
  clearInterval(timer);
  timer = setInterval(refresh, 10000); // the graphs' samples come every --sample-interval
  refresh();
  openConsole(name);
}

export function hideDomain() {
  ref = null;
  clearInterval(timer);
  closeConsole();
}

// An event from the live stream: this domain's refreshes the page at once.
export function domainEvent(ev) {
  if (ref && (ev.domain === ref || (uuid && ev.uuid === uuid))) refresh();
}
