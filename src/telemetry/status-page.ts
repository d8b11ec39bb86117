/**
 * The live status page served at `GET /`: one self-contained HTML document (inline CSS and JS, canvas charts, no
 * build step, no CDN), so it works on a plant network with no internet. It polls `/status.json` every second and
 * keeps polling through errors, so it reconnects by itself when the service comes back. Read-only.
 *
 * Per flow: exit mix, p50/p99 latency against the deadline, on-time share, shed/error reasons, throughput and, where
 * labels exist, accuracy; config and model changes are drawn as vertical marks on every chart.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EdgeKE status</title>
<style>
  body { font: 13px system-ui, sans-serif; margin: 12px 16px; background: #fafafa; color: #222; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #state { color: #666; margin-bottom: 8px; }
  #state.down { color: #b00; font-weight: bold; }
  section.flow { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; margin-bottom: 12px; }
  section.flow h2 { font-size: 15px; margin: 0 0 6px; }
  .headline { color: #444; margin-bottom: 6px; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 8px; }
  figure { margin: 0; }
  figcaption { font-size: 12px; color: #555; }
  canvas { width: 100%; height: 120px; border: 1px solid #eee; background: #fff; }
</style>
</head>
<body>
<h1>EdgeKE status</h1>
<div id="state">connecting…</div>
<div id="flows"></div>
<script>
"use strict";
const WINDOW_S = 120;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const CHARTS = [
  ['exits', 'exit mix (share of answers)'],
  ['latency', 'p50 / p99 latency (ms) vs deadline'],
  ['ontime', 'on-time share (shed counts as a miss)'],
  ['reasons', 'shed and error reasons (frames/s, stacked)'],
  ['throughput', 'frames/s by outcome (stacked)'],
  ['accuracy', 'accuracy against labels'],
];
let updates = 0;
document.body.dataset.updates = '0';

function section(flow) {
  const id = 'flow-' + flow.name.replace(/[^a-zA-Z0-9_-]/g, '_');
  let el = document.getElementById(id);
  if (el) return el;
  el = document.createElement('section');
  el.className = 'flow';
  el.id = id;
  el.dataset.flow = flow.name;
  const title = document.createElement('h2');
  title.textContent = flow.name;
  const headline = document.createElement('div');
  headline.className = 'headline';
  const charts = document.createElement('div');
  charts.className = 'charts';
  for (const [key, caption] of CHARTS) {
    const figure = document.createElement('figure');
    const canvas = document.createElement('canvas');
    canvas.dataset.chart = key;
    canvas.width = 600; canvas.height = 240;
    const text = document.createElement('figcaption');
    text.textContent = caption;
    figure.append(text, canvas);
    charts.append(figure);
  }
  el.append(title, headline, charts);
  document.getElementById('flows').append(el);
  return el;
}

function pct(x) { return x === null || x === undefined ? '–' : (100 * x).toFixed(1) + '%'; }

/** series: [{ label, color, values: [number|null per second] }]; stacked sums them. */
function draw(canvas, times, series, opts, marks) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 44, R = 8, T = 8, B = 22;
  ctx.clearRect(0, 0, W, H);
  ctx.font = '16px system-ui, sans-serif';
  const t1 = times.length ? times[times.length - 1] : Date.now();
  // The last WINDOW_S seconds, or less while there is less history (at least 30 s), so a new run is not a sliver.
  const span = Math.min(WINDOW_S * 1000, Math.max(30000, times.length ? t1 - times[0] : 0));
  const t0 = t1 - span;
  let max = opts.max;
  if (max === undefined) {
    max = 1;
    for (let i = 0; i < times.length; i++) {
      let sum = 0;
      for (const s of series) { const v = s.values[i]; if (v !== null && v !== undefined) sum = opts.stacked ? sum + v : Math.max(sum, v); }
      max = Math.max(max, sum);
    }
    if (opts.line !== undefined) max = Math.max(max, opts.line * 1.2);
    max *= 1.1;
  }
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => H - B - (v / max) * (H - T - B);
  ctx.strokeStyle = '#ccc'; ctx.fillStyle = '#666';
  ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  ctx.fillText(opts.percent ? '100%' : String(Math.round(max)), 2, T + 12);
  ctx.fillText('0', 2, H - B);
  ctx.fillText('-' + Math.round(span / 1000) + ' s', L, H - 4);
  ctx.fillText('now', W - R - 30, H - 4);
  const base = times.map(() => 0);
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    times.forEach((t, i) => {
      const v = s.values[i];
      if (v === null || v === undefined) { pen = false; return; }
      const top = opts.stacked ? base[i] + v : v;
      if (opts.stacked) base[i] = top;
      const px = x(t), py = y(top);
      if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      pen = true;
    });
    ctx.stroke();
    ctx.fillText(s.label, L + 6 + k * 90, T + 14);
  });
  if (opts.line !== undefined) {
    ctx.strokeStyle = '#b00'; ctx.setLineDash([6, 4]); ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(L, y(opts.line)); ctx.lineTo(W - R, y(opts.line)); ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.strokeStyle = '#888'; ctx.fillStyle = '#444'; ctx.lineWidth = 1;
  for (const mark of marks) {
    if (mark.t < t0) continue;
    const px = x(mark.t);
    ctx.beginPath(); ctx.moveTo(px, T); ctx.lineTo(px, H - B); ctx.stroke();
    ctx.fillText(mark.text, Math.min(px + 3, W - 200), H - B - 6);
  }
  canvas.dataset.points = String(times.length);
  canvas.dataset.last = String(t1);
}

function render(snapshot) {
  for (const flow of snapshot.flows) {
    const el = section(flow);
    const secs = flow.seconds;
    const times = secs.map((s) => s.t);
    const last = secs.length > 1 ? secs[secs.length - 2] : secs[secs.length - 1];
    const frames = (s) => s.outcomes.ok + s.outcomes.late + s.outcomes.shed + s.outcomes.error;
    el.querySelector('.headline').textContent = last === undefined ? 'no frames yet' :
      'model ' + flow.model + (flow.modelVersion ? ' ' + flow.modelVersion : '') + ' · config v' + flow.configVersion + ' · deadline ' + flow.deadlineMs + ' ms · last second: ' +
      frames(last) + ' fr/s, on time ' + pct(last.onTime) + ', p99 ' + (last.p99Ms === null ? '–' : last.p99Ms.toFixed(1) + ' ms');
    const exitKeys = [...new Set(secs.flatMap((s) => Object.keys(s.exits)))].sort((a, b) => a - b);
    const reasonKeys = [...new Set(secs.flatMap((s) => Object.keys(s.reasons)))].sort();
    const chart = (key) => el.querySelector('canvas[data-chart="' + key + '"]');
    draw(chart('exits'), times, exitKeys.map((exit, k) => ({ label: 'exit ' + exit, color: COLORS[k % COLORS.length], values: secs.map((s) => {
      const answered = Object.values(s.exits).reduce((a, b) => a + b, 0);
      return answered === 0 ? null : (s.exits[exit] || 0) / answered;
    }) })), { max: 1, percent: true }, flow.marks);
    draw(chart('latency'), times, [
      { label: 'p50', color: COLORS[0], values: secs.map((s) => s.p50Ms) },
      { label: 'p99', color: COLORS[1], values: secs.map((s) => s.p99Ms) },
    ], { line: flow.deadlineMs }, flow.marks);
    draw(chart('ontime'), times, [{ label: 'on time', color: COLORS[2], values: secs.map((s) => s.onTime) }], { max: 1, percent: true, line: 0.9 }, flow.marks);
    draw(chart('reasons'), times, reasonKeys.map((reason, k) => ({ label: reason, color: COLORS[(k + 3) % COLORS.length], values: secs.map((s) => s.reasons[reason] || 0) })), { stacked: true }, flow.marks);
    draw(chart('throughput'), times, ['ok', 'late', 'shed', 'error'].map((outcome, k) => ({ label: outcome, color: COLORS[[2, 1, 3, 7][k]], values: secs.map((s) => s.outcomes[outcome]) })), { stacked: true }, flow.marks);
    draw(chart('accuracy'), times, [{ label: secs.some((s) => s.accuracy !== null) ? 'accuracy' : 'no labels', color: COLORS[4], values: secs.map((s) => s.accuracy) }], { max: 1, percent: true }, flow.marks);
  }
}

async function poll() {
  const state = document.getElementById('state');
  try {
    const response = await fetch('status.json?seconds=' + WINDOW_S, { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    const snapshot = await response.json();
    render(snapshot);
    updates += 1;
    document.body.dataset.updates = String(updates);
    state.className = '';
    state.textContent = 'live · updated ' + new Date(snapshot.now).toLocaleTimeString();
  } catch (error) {
    state.className = 'down';
    state.textContent = 'service unreachable (' + error.message + '), retrying…';
  } finally {
    setTimeout(poll, 1000);
  }
}
poll();
</script>
</body>
</html>
`;
