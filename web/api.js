// The API client: every call carries the token as `Authorization: Bearer` (never a cookie,
// so no other site can make the browser act for the user: CSRF has nothing to ride on).
// Only routes that docs/openapi.yaml documents are used (tests/integration/web.sh checks).

const KEY = 'xeno.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.error === 'string' ? body.error : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// api('GET', '/v1/domains') -> the parsed JSON; throws ApiError with the API's message.
export async function api(method, path, body) {
  // Signed out meanwhile (a timer's refresh after "Sign out"): nothing to ask, nobody to tell.
  if (!token()) throw new ApiError(0, { error: 'signed out' });
  const headers = { Authorization: `Bearer ${token()}` };
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const type = r.headers.get('Content-Type') || '';
  const data = type.startsWith('application/json') ? await r.json().catch(() => null) : await r.text();
  if (!r.ok) {
    const err = new ApiError(r.status, data);
    if (r.status === 401) window.dispatchEvent(new CustomEvent('xeno-unauthorized', { detail: err.message }));
    throw err;
  }
  return data;
}

// A URL from a route's pattern exactly as docs/openapi.yaml writes it ('/v1/domains/{ref}/usage'),
// the domain reference put in encoded, and query parameters: every path the page calls is
// written out whole, so a check can find each in the OpenAPI file.
export function at(pattern, ref, query) {
  const path = pattern.replace('{ref}', encodeURIComponent(ref ?? ''));
  return query ? `${path}?${new URLSearchParams(query)}` : path;
}

// The live event stream (GET /v1/events?follow=1, Server-Sent Events) read with fetch():
// an EventSource cannot send the Authorization header. Calls onEvent(obj) for each event and
// onState('live'|'reconnecting') as the connection comes and goes; reconnects after 2 s,
// from the last event seen (since=ID), until stop() is called.
export function followEvents(onEvent, onState) {
  const ctl = { stopped: false, abort: null, lastId: null };
  async function once() {
    const ac = new AbortController();
    ctl.abort = ac;
    const q = ctl.lastId ? { follow: 1, since: ctl.lastId } : { follow: 1 };
    const r = await fetch(at('/v1/events', null, q), {
      headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' },
      cache: 'no-store',
      credentials: 'omit',
      signal: ac.signal,
    });
    if (!r.ok || !r.body) throw new ApiError(r.status, null);
    onState('live');
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        dispatch(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
      }
      if (buf.length > 1 << 20) throw new Error('event stream: a message over 1 MiB');
    }
  }
  function dispatch(block) {
    let id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('id:')) id = line.slice(3).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (id) ctl.lastId = id;
    if (!data.length) return; // a comment (": keepalive") or the retry line
    try {
      onEvent(JSON.parse(data.join('\n')));
    } catch (e) {
      console.warn('event stream: not JSON', e);
    }
  }
  (async () => {
    while (!ctl.stopped) {
      try {
        await once();
      } catch (e) {
        if (ctl.stopped) return;
        if (e instanceof ApiError && e.status === 401) {
          window.dispatchEvent(new CustomEvent('xeno-unauthorized', { detail: 'token refused' }));
          return;
        }
      }
      if (ctl.stopped) return;
      onState('reconnecting');
      await new Promise((res) => setTimeout(res, 2000));
    }
  })();
  return {
    stop() {
      ctl.stopped = true;
      if (ctl.abort) ctl.abort.abort();
    },
  };
}
