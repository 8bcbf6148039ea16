/**
 * The console's script (served from /console.js), plain browser JavaScript: each page reads the
 * JSON API with the session cookie and renders with textContent (page content from the web is
 * never parsed as HTML). Live numbers come from one server-sent event stream per tab.
 */
export const CONSOLE_JS = String.raw`
'use strict';
const $ = (sel, root = document) => root.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
async function api(path, opts = {}) {
  const res = await fetch(path, { credentials: 'same-origin', headers: opts.body ? { 'Content-Type': 'application/json' } : {}, ...opts });
  if (res.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search); throw new Error('signed out'); }
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new Error((body && body.error) || res.statusText);
  return body;
}
const mb = (b) => (Number(b) / 1e6).toFixed(1) + ' MB';
const when = (t) => (t ? new Date(t).toLocaleString() : '');
const httpUrl = (u) => (/^https?:\/\//i.test(u || '') ? u : null);
function showError(where, err) { where.replaceChildren(el('p', { class: 'error', text: String(err.message || err) })); }

function events(handlers) {
  const source = new EventSource('/api/events');
  for (const [name, fn] of Object.entries(handlers)) source.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  return source;
}

// ---- sessions ----------------------------------------------------------------------------
const rates = new Map(); // session id -> [{t, pages, images, bytes}]
function sessionRow(s) {
  const active = s.status === 'running' || s.status === 'stopping';
  return el('tr', { 'data-session': s.id },
    el('td', {}, el('a', { href: '/sessions/' + s.id, text: s.id.slice(0, 8) })),
    el('td', { class: 'status-' + s.status, text: s.status }),
    el('td', { text: when(s.started_at) }),
    el('td', { class: 'num', 'data-field': 'pages', text: s.pages_crawled }),
    el('td', { class: 'num', 'data-field': 'images', text: s.images_stored + ' / ' + s.images_found }),
    el('td', { class: 'num', text: mb(s.bytes_downloaded) }),
    el('td', { class: 'num', text: (s.pages_failed + s.images_failed) }),
    el('td', { class: 'num', text: s.pending }),
    el('td', {}, active ? el('button', { class: 'danger', text: 'Stop', onclick: () => stopSession(s.id) }) : ''));
}
async function stopSession(id) {
  if (!confirm('Stop session ' + id + '? Queued work is skipped; running jobs finish.')) return;
  await api('/api/crawl/stop', { method: 'POST', body: JSON.stringify({ sessionId: id }) });
}
function drawChart(canvas) {
  const ctx = canvas.getContext('2d');
  const w = (canvas.width = canvas.clientWidth * devicePixelRatio), h = (canvas.height = canvas.clientHeight * devicePixelRatio);
  ctx.clearRect(0, 0, w, h);
  const series = [];
  for (const samples of rates.values()) {
    for (let i = 1; i < samples.length; i++) {
      const dt = (samples[i].t - samples[i - 1].t) / 1000 || 1;
      series.push({ t: samples[i].t, images: (samples[i].images - samples[i - 1].images) / dt, pages: (samples[i].pages - samples[i - 1].pages) / dt });
    }
  }
  if (series.length < 2) { ctx.fillStyle = '#888'; ctx.font = 12 * devicePixelRatio + 'px system-ui'; ctx.fillText('pages/s and images/s of running sessions appear here', 10, 20 * devicePixelRatio); return; }
  series.sort((a, b) => a.t - b.t);
  const t0 = series[0].t, t1 = series[series.length - 1].t || t0 + 1;
  const max = Math.max(1, ...series.map((s) => Math.max(s.images, s.pages)));
  for (const [key, color] of [['images', '#2457c5'], ['pages', '#1e7a3c']]) {
    ctx.strokeStyle = color; ctx.lineWidth = 2 * devicePixelRatio; ctx.beginPath();
    series.forEach((s, i) => { const x = ((s.t - t0) / (t1 - t0 || 1)) * w, y = h - (s[key] / max) * (h - 10); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.stroke();
  }
  ctx.fillStyle = '#888'; ctx.font = 12 * devicePixelRatio + 'px system-ui';
  ctx.fillText('max ' + max.toFixed(0) + '/s — blue: images, green: pages', 10, 16 * devicePixelRatio);
}
async function sessionsPage(main) {
  const body = el('tbody');
  const chart = el('canvas', { id: 'rates' });
  const form = el('form', { class: 'row', id: 'start' },
    el('label', {}, 'Start URLs (one per line)', el('textarea', { name: 'urls', rows: 2, cols: 50, required: true })),
    el('label', {}, 'Max pages', el('input', { name: 'maxPages', type: 'number', min: 1, placeholder: 'default' })),
    el('label', {}, 'Max depth', el('input', { name: 'maxDepth', type: 'number', min: 0, placeholder: 'default' })),
    el('label', {}, el('span', {}, el('input', { name: 'followExternal', type: 'checkbox' }), ' follow other hosts')),
    el('label', {}, el('span', {}, el('input', { name: 'ignoreRobots', type: 'checkbox' }), ' ignore robots.txt')),
    el('button', { class: 'primary', type: 'submit', text: 'Start crawl' }),
    el('span', { id: 'start-result', class: 'muted' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const request = { urls: String(f.get('urls')).split(/\s+/).filter(Boolean) };
    if (f.get('maxPages')) request.maxPages = Number(f.get('maxPages'));
    if (f.get('maxDepth')) request.maxDepth = Number(f.get('maxDepth'));
    if (f.get('followExternal')) request.followExternal = true;
    if (f.get('ignoreRobots')) request.respectRobots = false;
    const out = $('#start-result');
    try {
      const started = await api('/api/crawl/start', { method: 'POST', body: JSON.stringify(request) });
      out.className = 'muted'; out.textContent = 'started ' + started.sessionId;
      await refresh();
    } catch (err) { out.className = 'error'; out.textContent = err.message; }
  });
  main.append(el('h1', { text: 'Sessions' }),
    el('section', { class: 'card' }, form),
    el('section', { class: 'card' }, chart),
    el('section', { class: 'card' }, el('table', { id: 'sessions' },
      el('thead', {}, el('tr', {}, ...['session', 'status', 'started', 'pages', 'images stored / found', 'bytes', 'failed', 'pending', ''].map((h) => el('th', { text: h })))), body)));
  async function refresh() {
    const { sessions } = await api('/api/crawl/status?limit=50');
    body.replaceChildren(...sessions.map(sessionRow));
  }
  await refresh();
  events({
    progress: (s) => {
      const samples = rates.get(s.id) || []; samples.push({ t: Date.now(), pages: s.pages_crawled, images: s.images_stored, bytes: s.bytes_downloaded });
      rates.set(s.id, samples.slice(-300));
      const row = body.querySelector('tr[data-session="' + s.id + '"]');
      if (row) row.replaceWith(sessionRow(s)); else body.prepend(sessionRow(s));
      drawChart(chart);
    },
  });
  drawChart(chart);
}

async function sessionPage(main, id) {
  const counts = el('dl', { id: 'counts' });
  const failures = el('div', { id: 'failures' });
  const show = (s) => counts.replaceChildren(...[
    ['status', s.status], ['started', when(s.started_at)], ['finished', when(s.finished_at)], ['start URLs', (s.start_urls || []).join(' ')],
    ['pages', s.pages_crawled + ' crawled, ' + s.pages_failed + ' failed'], ['images', s.images_stored + ' stored of ' + s.images_found + ' found, ' + s.images_failed + ' failed, ' + s.images_duplicate + ' duplicates, ' + s.images_revalidated + ' unchanged (304)'],
    ['downloaded', mb(s.bytes_downloaded)], ['pending', s.pending], ['retries', s.retries],
  ].flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { 'data-field': k, text: v })]));
  const life = el('canvas', { id: 'timeline' });
  main.append(el('h1', { text: 'Session ' + id }), el('section', { class: 'card' }, counts), el('section', { class: 'card' }, life),
    el('p', {}, el('a', { href: '/gallery?sessionId=' + id, text: 'Its images in the gallery' })),
    el('h2', { text: 'Failures by reason' }), failures);
  show(await api('/api/crawl/status/' + id));
  const drawTimeline = async () => drawLife(life, await api('/api/crawl/timeline/' + id));
  await drawTimeline();
  const loadFailures = async () => {
    const { groups } = await api('/api/crawl/failures/' + id + '?samples=10');
    if (!groups.length) return failures.replaceChildren(el('p', { class: 'muted', text: 'Nothing failed.' }));
    failures.replaceChildren(...groups.map((g) => el('section', { class: 'card failure' },
      el('div', {}, el('strong', { text: g.count + ' ' + g.kind + (g.count === 1 ? '' : 's') + ': ' }), el('span', { class: 'reason', text: g.reason })),
      el('ul', {}, ...g.urls.map((u) => el('li', {}, httpUrl(u) ? el('a', { href: u, rel: 'noreferrer', target: '_blank', text: u }) : u))),
      g.count > g.urls.length ? el('p', { class: 'muted', text: '… and ' + (g.count - g.urls.length) + ' more (image-crawler export lists every one)' }) : null)));
  };
  await loadFailures();
  let drawn = 0;
  events({ progress: (s) => { if (s.id === id) { show(s); if (Date.now() - drawn > 5000) { drawn = Date.now(); drawTimeline(); } if (s.status !== 'running' && s.status !== 'stopping') { loadFailures(); drawTimeline(); } } } });
}

/** Pages/s, images/s and MB/s over the session's life (from /api/crawl/timeline). */
function drawLife(canvas, { sliceS, points }) {
  const ctx = canvas.getContext('2d');
  const w = (canvas.width = canvas.clientWidth * devicePixelRatio), h = (canvas.height = canvas.clientHeight * devicePixelRatio);
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = '#888'; ctx.font = 12 * devicePixelRatio + 'px system-ui';
  if (!points.length) { ctx.fillText('nothing stored yet', 10, 20 * devicePixelRatio); return; }
  const last = points[points.length - 1].t + sliceS;
  const series = [['images', '#2457c5', (p) => p.images / sliceS], ['pages', '#1e7a3c', (p) => p.pages / sliceS], ['MB', '#b36b00', (p) => p.bytes / 1e6 / sliceS]];
  const max = Math.max(1, ...points.flatMap((p) => series.map(([, , f]) => f(p))));
  for (const [, color, f] of series) {
    ctx.strokeStyle = color; ctx.lineWidth = 2 * devicePixelRatio; ctx.beginPath();
    points.forEach((p, i) => { const x = (p.t / last) * w, y = h - (f(p) / max) * (h - 14); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.stroke();
  }
  ctx.fillStyle = '#888';
  ctx.fillText('per second over ' + last + ' s (max ' + max.toFixed(1) + ') — blue: images, green: pages, orange: MB', 10, 14 * devicePixelRatio);
}

// ---- gallery -----------------------------------------------------------------------------
async function galleryPage(main) {
  const params = new URLSearchParams(location.search);
  const grid = el('div', { class: 'grid', id: 'gallery' });
  const more = el('button', { text: 'Older images' });
  const total = el('span', { class: 'muted', id: 'total' });
  const form = el('form', { class: 'row', id: 'filters' },
    el('label', {}, 'Session', el('input', { name: 'sessionId', value: params.get('sessionId') || '', placeholder: 'any', size: 36 })),
    el('label', {}, 'Format', el('select', { name: 'format' }, ...['', 'jpeg', 'png', 'webp', 'gif', 'svg', 'avif', 'bmp', 'ico', 'tiff'].map((f) => el('option', { value: f, text: f || 'any', ...(params.get('format') === f ? { selected: '' } : {}) })))),
    el('label', {}, 'At least (bytes)', el('input', { name: 'minSize', type: 'number', min: 0, value: params.get('minSize') || '' })),
    el('label', {}, 'State', el('select', { name: 'status' }, ...['stored', 'failed', 'pending', 'skipped'].map((s) => el('option', { value: s, text: s, ...((params.get('status') || 'stored') === s ? { selected: '' } : {}) })))),
    el('button', { class: 'primary', type: 'submit', text: 'Filter' }), total);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, String(v));
    location.search = q.toString();
  });
  main.append(el('h1', { text: 'Gallery' }), el('section', { class: 'card' }, form), grid, el('p', {}, more));
  const query = new URLSearchParams();
  for (const k of ['sessionId', 'format', 'minSize']) if (params.get(k)) query.set(k, params.get(k));
  query.set('status', params.get('status') || 'stored');
  query.set('newest', 'true');
  query.set('limit', '60');
  let beforeId = null;
  async function page() {
    const q = new URLSearchParams(query);
    if (beforeId) q.set('beforeId', beforeId);
    const { total: n, images } = await api('/api/images?' + q);
    total.textContent = n + ' images';
    for (const img of images) {
      const label = (img.format || img.status) + (img.width ? ' ' + img.width + '×' + img.height : '');
      grid.append(el('a', { href: '/images/' + img.id, title: img.url },
        img.status === 'stored' ? el('img', { src: '/api/images/' + img.id + '/thumb', alt: '', loading: 'lazy' }) : el('div', { class: 'error', text: img.error || img.status }),
        el('span', { text: label })));
    }
    if (images.length) beforeId = images[images.length - 1].id;
    more.hidden = images.length < 60;
  }
  more.addEventListener('click', page);
  await page();
}

async function imagePage(main, id) {
  const img = await api('/api/images/' + id);
  const found = await api('/api/images?limit=100&sha256=' + (img.sha256 || '0'.repeat(64)));
  const rows = img.sha256 ? found.images : [img];
  main.append(el('h1', { text: 'Image ' + id }),
    el('section', { class: 'card' },
      img.status === 'stored' ? el('p', {}, el('a', { href: '/api/images/' + id + '/file', target: '_blank', text: 'Original' }), ' ', el('img', { src: '/api/images/' + id + '/thumb', alt: '' })) : null,
      el('dl', { id: 'meta' }, ...[['state', img.status], ['error', img.error], ['format', img.format], ['size', img.width ? img.width + ' × ' + img.height : ''], ['bytes', img.file_size], ['sha256', img.sha256], ['HTTP status', img.http_status], ['content type', img.content_type], ['found via', img.discovered_via]]
        .filter(([, v]) => v !== null && v !== undefined && v !== '').flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]))),
    el('h2', { text: 'Found at' }),
    el('table', { id: 'found' }, el('thead', {}, el('tr', {}, el('th', { text: 'URL' }), el('th', { text: 'on page' }), el('th', { text: 'session' }))),
      el('tbody', {}, ...rows.map((r) => el('tr', {},
        el('td', {}, httpUrl(r.url) ? el('a', { href: r.url, rel: 'noreferrer', target: '_blank', text: r.url }) : r.url),
        el('td', {}, httpUrl(r.page_url) ? el('a', { href: r.page_url, rel: 'noreferrer', target: '_blank', text: r.page_url }) : (r.page_url || '')),
        el('td', {}, el('a', { href: '/sessions/' + r.session_id, text: String(r.session_id).slice(0, 8) })))))));
}

// ---- cluster -----------------------------------------------------------------------------
async function clusterPage(main) {
  const status = await api('/api/ha-status');
  const sync = await api('/api/sync-status').catch((e) => ({ error: e.message }));
  const act = (what) => async () => {
    if (!confirm(what + ' now? ' + (what === 'switchover' ? 'The primary is made read-only until the standby has caught up.' : 'A standby is promoted whatever the primary\'s health.'))) return;
    try { const e = await api('/api/ha/' + what, { method: 'POST', body: '{}' }); alert(what + ': ' + e.outcome + ' (' + e.from + ' → ' + e.to + ')'); location.reload(); }
    catch (err) { alert(err.message); }
  };
  main.append(el('h1', { text: 'Cluster' }));
  if (!status.enabled) main.append(el('section', { class: 'card', id: 'ha' }, el('p', { text: 'One database (no database.nodes configured): no failover to watch.' })));
  else {
    main.append(el('section', { class: 'card', id: 'ha' },
      el('p', { text: 'Term ' + status.term + ', primary ' + status.primary + (status.leader ? ', leader ' + status.leader : '') }),
      el('table', {}, el('thead', {}, el('tr', {}, ...['node', 'role', 'reachable', 'failures', 'lag', 'last error'].map((h) => el('th', { text: h })))),
        el('tbody', {}, ...status.nodes.map((n) => el('tr', {}, el('td', { text: n.name }), el('td', { text: n.role }), el('td', { class: n.healthy ? 'status-completed' : 'bad', text: n.healthy ? 'yes' : 'no' }),
          el('td', { class: 'num', text: n.consecutiveFailures }), el('td', { class: 'num', text: n.lagBytes === null ? '?' : n.lagBytes + ' B' }), el('td', { class: 'error', text: n.lastError || '' }))))),
      el('p', {}, el('button', { text: 'Switchover', onclick: act('switchover') }), ' ', el('button', { class: 'danger', text: 'Failover', onclick: act('failover') }))));
    main.append(el('h2', { text: 'Failovers' }), el('table', { id: 'failovers' }, el('tbody', {}, ...(status.failovers || []).map((f) => el('tr', {},
      el('td', { text: when(f.startedAt) }), el('td', { text: (f.from || '?') + ' → ' + f.to }), el('td', { text: f.outcome }), el('td', { text: f.reason }), el('td', { class: 'num', text: f.durationMs + ' ms' }))))));
  }
  main.append(el('h2', { text: 'Image files across hosts' }), el('section', { class: 'card', id: 'sync' }, sync.error ? el('p', { class: 'error', text: sync.error }) :
    el('div', {}, el('p', { text: 'This host: ' + sync.host + (sync.paused ? ' (sync paused)' : '') }),
      el('table', {}, el('tbody', {}, ...(sync.peers || []).map((p) => el('tr', {}, el('td', { text: p.name }), el('td', { text: p.url }), el('td', { class: 'num', text: (p.waiting + p.delayed + p.active) + ' queued' }), el('td', { class: p.failed ? 'bad' : '', text: p.failed + ' failed' }))))),
      el('p', { class: 'muted', text: 'Last consistency check: ' + (sync.lastCheck ? (sync.lastCheck.ok ? 'OK' : 'disagreement') + ', ' + when(sync.lastCheck.started_at || sync.lastCheck.startedAt) : 'none yet') }))));
  main.append(el('p', {}, el('a', { href: '/admin/queues', text: 'Queues (Bull Board)' })));
  // A new term or primary: show the new state (the stream also repeats the current one on connect).
  events({ cluster: (c) => { if (status.enabled && (c.term !== status.term || c.primary !== status.primary)) location.reload(); } });
}

const pages = { sessions: sessionsPage, session: sessionPage, gallery: galleryPage, image: imagePage, cluster: clusterPage };
addEventListener('DOMContentLoaded', () => {
  const main = $('main');
  const { page, id } = main.dataset;
  pages[page](main, id).catch((err) => showError(main, err));
});
`;
