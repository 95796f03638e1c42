// A domain's console in an xterm.js terminal over the console WebSocket
// (GET /v1/domains/{ref}/console with Upgrade: websocket; docs/api.md): the token goes in the
// subprotocol list ("xeno-console", "bearer.TOKEN"), as a browser cannot set headers on a
// WebSocket. Binary frames from xenod are console output (the scrollback first); what is typed
// goes back as text frames. A read-only token gets the output only.
import { token, at } from './api.js';
import { $ } from './dom.js';

let cur = null; // {term, ws, ref}

function status(text) {
  $('console-status').textContent = text;
}

export function openConsole(ref) {
  if (cur && cur.ref === ref) return;
  closeConsole();
  if (typeof window.Terminal !== 'function') {
    status('the terminal (xterm.js) did not load');
    return;
  }
  const term = new window.Terminal({ cols: 100, rows: 24, scrollback: 2000, convertEol: false, fontSize: 14 });
  term.open($('terminal'));
  const url = `wss://${location.host}${at('/v1/domains/{ref}/console', ref)}`;
  const c = { term, ws: null, ref, closed: false };
  cur = c;
  const connect = () => {
    let ws;
    try {
      ws = new WebSocket(url, ['xeno-console', `bearer.${token()}`]);
    } catch (e) {
      status(`console: ${e.message}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    c.ws = ws;
    status('connecting…');
    let opened = false;
    ws.onopen = () => {
      opened = true;
      c.tries = 0;
      status('connected: type into the terminal');
    };
    ws.onmessage = (m) => term.write(typeof m.data === 'string' ? m.data : new Uint8Array(m.data));
    ws.onclose = (e) => {
      if (c.closed) return;
      const why = `${e.code}${e.reason ? `: ${e.reason}` : ''}`;
      // Only a console that was open is tried again, a few times: a refused one (no such
      // route, a stopped domain, a token refused) would only count as failed sign-ins, and
      // xenod throttles those per address.
      if (opened && c.tries < 5) {
        c.tries++;
        status(`disconnected (${why}); reconnecting in 3 s`);
        c.retry = setTimeout(connect, 3000);
      } else {
        status(`not connected (${why}): is the domain running? Use Reconnect to try again`);
        $('console-reconnect').hidden = false;
      }
    };
  };
  c.tries = 0;
  c.reconnect = () => {
    $('console-reconnect').hidden = true;
    c.tries = 0;
    connect();
  };
  term.onData((d) => {
    if (c.ws && c.ws.readyState === WebSocket.OPEN) c.ws.send(d);
  });
  connect();
}

export function reconnectConsole() {
  if (cur && cur.reconnect) cur.reconnect();
}

export function closeConsole() {
  if (!cur) return;
  cur.closed = true;
  clearTimeout(cur.retry);
  if (cur.ws) cur.ws.close(1000, 'page left the console');
  cur.term.dispose();
  $('terminal').replaceChildren();
  if (window.xenoDropDetachedStyles) window.xenoDropDetachedStyles();
  cur = null;
  $('console-reconnect').hidden = true;
  status('not connected');
}
