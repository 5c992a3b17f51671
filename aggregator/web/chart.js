// chart.js -- the session-count chart: SVG bars per API interval, stacked by sensor or
// segment, drag to narrow the time range, shading where a sensor was down or dropping.
// Owns:  the SVG it draws into its container, the drag selection, the shading's legend.
// Never: fetches (app.js hands it the API's buckets) or styles inline (CSP): only SVG
//        geometry attributes and classes.
// Trap:  bucket keys are milliseconds, the API's interval is seconds.

const NS = 'http://www.w3.org/2000/svg';
const PALETTE = 8;          // .s0 .. .s7 in app.css

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function fmtTime(ms, spanMs) {
  const d = new Date(ms).toISOString();
  if (spanMs <= 2 * 3600e3) return d.slice(11, 19);
  if (spanMs <= 3 * 86400e3) return d.slice(5, 16).replace('T', ' ');
  return d.slice(0, 10);
}

// series: [{name, buckets: [[ms, count], ...]}]; intervalS: the API's interval;
// onZoom(fromMs, toMs) when the user drags across the chart; shading: [{sensor, kind:
// 'down'|'dropping', from, to (ms), dropped}] drawn behind the bars (sensors/history.json).
export function drawChart(container, series, intervalS, range, onZoom, shading = []) {
  container.replaceChildren();
  const W = Math.max(container.clientWidth || 800, 320), H = 180;
  const M = { l: 52, r: 12, t: 10, b: 26 };
  const step = Math.max(intervalS, 1) * 1000;
  const keys = new Map();
  series.forEach((s, si) => s.buckets.forEach(([k, v]) => {
    if (!keys.has(k)) keys.set(k, new Array(series.length).fill(0));
    keys.get(k)[si] += v;
  }));
  const sorted = [...keys.keys()].sort((a, b) => a - b);
  let x0 = range && range.from ? range.from : (sorted.length ? sorted[0] : Date.now() - 3600e3);
  let x1 = range && range.to ? range.to : (sorted.length ? sorted[sorted.length - 1] + step : Date.now());
  if (sorted.length) { x0 = Math.min(x0, sorted[0]); x1 = Math.max(x1, sorted[sorted.length - 1] + step); }
  if (x1 <= x0) x1 = x0 + step;
  let ymax = 1;
  for (const v of keys.values()) ymax = Math.max(ymax, v.reduce((a, b) => a + b, 0));
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart-svg',
    'aria-hidden': 'true' }, container);
  // the plot's geometry, for tests and tools that drag by time (viewBox units = CSS px here)
  svg.dataset.fromMs = x0;
  svg.dataset.toMs = x1;
  svg.dataset.plotLeft = M.l;
  svg.dataset.plotRight = W - M.r;
  svg.dataset.width = W;
  const px = t => M.l + (t - x0) / (x1 - x0) * (W - M.l - M.r);
  const py = v => H - M.b - v / ymax * (H - M.t - M.b);
  // axes
  el('line', { x1: M.l, y1: H - M.b, x2: W - M.r, y2: H - M.b, class: 'axis' }, svg);
  for (let i = 0; i <= 4; i++) {
    const v = Math.round(ymax * i / 4), y = py(v);
    el('line', { x1: M.l, y1: y, x2: W - M.r, y2: y, class: 'gridline' }, svg);
    el('text', { x: M.l - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, svg).textContent = v;
  }
  for (let i = 0; i <= 5; i++) {
    const t = x0 + (x1 - x0) * i / 5;
    el('text', { x: px(t), y: H - 8, class: 'tick', 'text-anchor': i === 0 ? 'start' : i === 5 ? 'end' : 'middle' }, svg)
      .textContent = fmtTime(t, x1 - x0);
  }
  // shading behind the bars: one band per interval, clipped to the plot, named in its title
  for (const s of shading) {
    const a = Math.max(s.from, x0), b = Math.min(s.to, x1);
    if (b <= a) continue;
    const r = el('rect', { x: px(a), y: M.t, width: Math.max(px(b) - px(a), 2), height: H - M.t - M.b,
      class: `shade ${s.kind}`, 'data-sensor': s.sensor, 'data-from': s.from, 'data-to': s.to }, svg);
    el('title', {}, r).textContent = shadeText(s);
  }
  // bars
  const bw = Math.max(1, (W - M.l - M.r) * step / (x1 - x0) - 1);
  for (const k of sorted) {
    let acc = 0;
    keys.get(k).forEach((v, si) => {
      if (!v) return;
      const r = el('rect', { x: px(k), y: py(acc + v), width: bw, height: py(acc) - py(acc + v),
        class: `bar s${si % PALETTE}` }, svg);
      el('title', {}, r).textContent = `${new Date(k).toISOString()} ${series[si].name}: ${v}`;
      acc += v;
    });
  }
  // drag selection
  const sel = el('rect', { x: 0, y: M.t, width: 0, height: H - M.t - M.b, class: 'selection' }, svg);
  let start = null;
  const toT = ev => {
    const b = svg.getBoundingClientRect();
    const x = (ev.clientX - b.left) * W / b.width;
    return x0 + (Math.min(Math.max(x, M.l), W - M.r) - M.l) / (W - M.l - M.r) * (x1 - x0);
  };
  svg.addEventListener('pointerdown', ev => { start = toT(ev); svg.setPointerCapture(ev.pointerId); });
  svg.addEventListener('pointermove', ev => {
    if (start === null) return;
    const t = toT(ev);
    sel.setAttribute('x', px(Math.min(start, t)));
    sel.setAttribute('width', Math.abs(px(t) - px(start)));
  });
  svg.addEventListener('pointerup', ev => {
    if (start === null) return;
    const t = toT(ev), a = Math.min(start, t), b = Math.max(start, t);
    start = null;
    sel.setAttribute('width', 0);
    if (px(b) - px(a) >= 4) onZoom((a / 1000).toFixed(3), (b / 1000).toFixed(3));
  });
  // legend: the series (with their totals) and the sensors whose shading is in view
  const shown = shading.filter(s => Math.min(s.to, x1) > Math.max(s.from, x0));
  if (series.length > 1 || shown.length) {
    const lg = document.createElement('ul');
    lg.className = 'legend';
    if (series.length > 1) series.forEach((s, si) => {
      const li = document.createElement('li');
      li.dataset.series = s.name;
      li.dataset.total = s.buckets.reduce((a, [, v]) => a + v, 0);
      const sw = document.createElement('span');
      sw.className = `swatch s${si % PALETTE}`;
      li.append(sw, ` ${s.name} (${li.dataset.total})`);
      lg.appendChild(li);
    });
    const kinds = new Map();
    for (const s of shown) kinds.set(`${s.kind}\u0000${s.sensor}`, s);
    for (const s of kinds.values()) {
      const li = document.createElement('li');
      li.className = 'shade-key';
      const sw = document.createElement('span');
      sw.className = `swatch shade ${s.kind}`;
      li.append(sw, ` ${s.sensor} ${s.kind === 'down' ? 'down' : 'dropping packets'}`);
      lg.appendChild(li);
    }
    container.appendChild(lg);
  }
  return { x0, x1, ymax, buckets: sorted.length, shaded: shown.length };
}

function iso(ms) { return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ''); }

// "dept-3 down 2021-09-28 12:50:00 to 12:51:30" (dropping: how many packets)
export function shadeText(s) {
  const to = iso(s.to), from = iso(s.from);
  const end = to.slice(0, 10) === from.slice(0, 10) ? to.slice(11) : to;
  return s.kind === 'down' ? `${s.sensor} down ${from} to ${end}`
    : `${s.sensor} dropped ${s.dropped} packets ${from} to ${end}`;
}
