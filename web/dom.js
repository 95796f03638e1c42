// Small helpers every part of the page uses. Every value from the API reaches the page as
// text (textContent, text nodes): nothing is ever parsed as HTML.

// el('td', {class: 'x'}, 'text', otherNode): an element with attributes and children;
// strings become text nodes.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function $(id) {
  return document.getElementById(id);
}

export function setText(id, text) {
  $(id).textContent = text;
}

export function clear(node) {
  node.replaceChildren();
}

export function mib(bytes) {
  return typeof bytes === 'number' ? `${Math.round(bytes / 1048576)} MiB` : '—';
}

// A rate in bytes/s as kB/s (1000 bytes, libvirt's unit for bandwidth).
export function rate(bytesPerS) {
  if (typeof bytesPerS !== 'number' || !isFinite(bytesPerS)) return '—';
  return `${(bytesPerS / 1000).toFixed(1)} kB/s`;
}

export function percent(p) {
  return typeof p === 'number' && isFinite(p) ? p.toFixed(1) : '—';
}

export function when(t) {
  return typeof t === 'number' ? new Date(t * 1000).toLocaleString() : '—';
}
