// Usage graphs on plain <canvas>: the last hour of a domain's stored samples
// (GET /v1/domains/{ref}/usage), one to three series per graph, drawn as lines.

const COLOURS = ['#2a7ab8', '#c4572a', '#3c9a4a'];

// series: [[{t, v}...], ...] with t in seconds; the x axis is [now - 3600, now].
export function drawGraph(canvas, series, now) {
  const g = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  const pad = { l: 44, r: 6, t: 6, b: 16 };
  g.clearRect(0, 0, w, h);
  g.fillStyle = '#fafafa';
  g.fillRect(0, 0, w, h);
  let max = 0;
  for (const s of series) for (const p of s) max = Math.max(max, p.v);
  max = max > 0 ? max * 1.1 : 1;
  const x = (t) => pad.l + ((t - (now - 3600)) / 3600) * (w - pad.l - pad.r);
  const y = (v) => h - pad.b - (v / max) * (h - pad.t - pad.b);
  g.strokeStyle = '#ccc';
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(pad.l, pad.t);
  g.lineTo(pad.l, h - pad.b);
  g.lineTo(w - pad.r, h - pad.b);
  g.stroke();
  g.fillStyle = '#555';
  g.font = '10px sans-serif';
  g.fillText(max.toFixed(max < 10 ? 1 : 0), 2, pad.t + 8);
  g.fillText('0', 2, h - pad.b);
  g.fillText('-60 min', pad.l, h - 3);
  g.fillText('now', w - pad.r - 20, h - 3);
  series.forEach((s, i) => {
    g.strokeStyle = COLOURS[i % COLOURS.length];
    g.lineWidth = 1.5;
    g.beginPath();
    s.forEach((p, j) => (j ? g.lineTo(x(p.t), y(p.v)) : g.moveTo(x(p.t), y(p.v))));
    g.stroke();
  });
}

// Per-second rates of a cumulative counter: [{t, v}] from samples [{time, [key]}], scaled.
// A counter that went back (a restarted backend or monitor) starts again: no negative rate.
export function rates(samples, key, scale) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = b.time - a.time;
    if (dt <= 0 || typeof a[key] !== 'number' || typeof b[key] !== 'number' || b[key] < a[key]) continue;
    out.push({ t: b.time, v: ((b[key] - a[key]) / dt) * scale });
  }
  return out;
}

export function levels(samples, key, scale) {
  return samples.filter((s) => typeof s[key] === 'number').map((s) => ({ t: s.time, v: s[key] * scale }));
}
