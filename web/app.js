/* surge portal: a small hash-routed single page (no framework). Pages: live, region, rules,
 * experiments, models, audit, reports, login. Talks only to surge's own API; a session cookie
 * (HttpOnly) authenticates, and every change carries the session's CSRF token. */
'use strict';

(function () {
  const S = {
    session: null, // {user, role, csrf_token}
    live: null, // the EventSource of the live page
    last: null, // the last live snapshot
    product: null,
    charts: [],
    regions: null, // [{region_id, name, products,...}] cached per visit
  };

  /* ------------------------------------------------------------ DOM helpers */

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  const $ = (sel, root) => (root || document).querySelector(sel);
  const main = () => $('#main');
  const isAdmin = () => S.session && S.session.role === 'admin';

  function fmt(x, d) {
    if (x === null || x === undefined || Number.isNaN(x)) return '–';
    return Number(x).toFixed(d === undefined ? 2 : d);
  }
  function money(x) {
    return x === null || x === undefined ? '–' : '$' + Number(x).toFixed(2);
  }
  function ts(x) {
    if (!x) return '–';
    const d = new Date(x);
    return d.toISOString().replace('T', ' ').slice(0, 19) + 'Z';
  }
  function toLocalInput(ms) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  function notice(kind, text) {
    return h('div', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status' }, text);
  }

  function card(title, ...body) {
    return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...body);
  }

  function table(cols, rows, opts) {
    opts = opts || {};
    const thead = h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: c.num ? 'num' : null }, c.label))));
    const tbody = h('tbody', {}, rows.map((r) =>
      h('tr', { class: opts.rowClass ? opts.rowClass(r) : null },
        cols.map((c) => h('td', { class: c.num ? 'num' : null, 'data-label': c.label }, c.get(r))))));
    return h('div', { class: 'table-wrap' }, h('table', { class: 'table' + (opts.cls ? ' ' + opts.cls : '') }, thead, tbody));
  }

  /* A confirmation in the page (not window.confirm): it names what will change. */
  function confirmModal(title, text, okLabel) {
    return new Promise((resolve) => {
      const m = $('#modal');
      const done = (v) => { m.classList.add('hidden'); m.replaceChildren(); resolve(v); };
      m.replaceChildren(h('div', { class: 'modal-box' },
        h('h3', {}, title), h('p', {}, text),
        h('div', { class: 'row end' },
          h('button', { class: 'btn', id: 'confirm-cancel', onclick: () => done(false) }, 'Cancel'),
          h('button', { class: 'btn danger', id: 'confirm-ok', onclick: () => done(true) }, okLabel || 'Confirm'))));
      m.classList.remove('hidden');
    });
  }

  /* ------------------------------------------------------------ API */

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || `HTTP ${status}`);
      this.status = status;
      this.code = e.code;
      this.field = e.field;
    }
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && S.session) headers['X-CSRF-Token'] = S.session.csrf_token;
    const res = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    const text = await res.text();
    if (text) { try { data = JSON.parse(text); } catch (e) { data = { raw: text }; } }
    if (res.status === 401 && path !== '/api/v1/portal/login' && path !== '/api/v1/portal/session') {
      S.session = null;
      location.hash = '#/login';
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  /* GET that maps the 404 of an endpoint this build does not have to null ("not available
   * yet"); a 404 about a thing that does not exist stays an error. */
  async function optional(path) {
    try { return await api('GET', path); } catch (e) {
      if (e.status === 404 && /^no such endpoint/.test(e.message)) return null;
      throw e;
    }
  }

  function errorText(e) {
    return e.field ? `${e.message} (field: ${e.field})` : e.message;
  }

  async function regions() {
    if (!S.regions) {
      const r = await api('GET', '/api/v1/admin/regions');
      S.regions = r.regions || [];
    }
    return S.regions;
  }

  /* ------------------------------------------------------------ geohash */

  const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';
  /* The cell's lat/lon box: [latMin, latMax, lonMin, lonMax]. */
  function geohashBox(hash) {
    let lat = [-90, 90], lon = [-180, 180], even = true;
    for (const ch of hash) {
      const v = BASE32.indexOf(ch);
      if (v < 0) return null;
      for (let bit = 4; bit >= 0; bit--) {
        const r = even ? lon : lat;
        const mid = (r[0] + r[1]) / 2;
        if ((v >> bit) & 1) r[0] = mid; else r[1] = mid;
        even = !even;
      }
    }
    return [lat[0], lat[1], lon[0], lon[1]];
  }

  /* ------------------------------------------------------------ charts */

  function destroyCharts() {
    for (const c of S.charts) c.destroy();
    S.charts = [];
  }

  /* xRange: [from, to] in seconds, so that a few points do not stretch the axis to years */
  function chart(el, title, series, data, opts, xRange) {
    if (!window.uPlot) {
      el.append(notice('info', 'Charts are not built into this binary (run npm ci, then rebuild).'));
      return null;
    }
    const width = Math.max(280, el.clientWidth || 600);
    const x = { time: true };
    if (xRange) x.range = () => xRange;
    const o = Object.assign({
      title, width, height: 240,
      series: [{}].concat(series),
      axes: [{}, {}],
      legend: { live: true },
    }, opts || {});
    o.scales = Object.assign({ x }, o.scales || {});
    const u = new window.uPlot(o, data, el);
    S.charts.push(u);
    return u;
  }

  window.addEventListener('resize', () => {
    for (const c of S.charts) {
      const w = c.root.parentElement ? c.root.parentElement.clientWidth : 0;
      if (w > 0) c.setSize({ width: Math.max(280, w), height: 240 });
    }
  });

  /* ------------------------------------------------------------ header */

  function renderWho() {
    const who = $('#who');
    if (!S.session) { who.replaceChildren(); return; }
    who.replaceChildren(
      h('span', { class: 'user', id: 'who-user' }, S.session.user),
      h('span', { class: 'badge ' + S.session.role, id: 'who-role' }, S.session.role),
      h('button', { class: 'btn small', id: 'logout', onclick: logout }, 'Log out'));
  }

  async function logout() {
    try { await api('POST', '/api/v1/portal/logout'); } catch (e) { /* gone already */ }
    S.session = null;
    renderWho();
    location.hash = '#/login';
  }

  /* ------------------------------------------------------------ login */

  function pageLogin() {
    const msg = h('div', { id: 'login-msg' });
    const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true });
    const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const token = h('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'off' });
    async function submit(body) {
      msg.replaceChildren();
      try {
        S.session = await api('POST', '/api/v1/portal/login', body);
        renderWho();
        location.hash = '#/live';
      } catch (e) {
        msg.replaceChildren(notice('error', errorText(e)));
      }
    }
    main().replaceChildren(h('div', { class: 'login' },
      card('Log in',
        h('form', { id: 'login-form', onsubmit: (ev) => { ev.preventDefault(); submit({ username: user.value, password: pass.value }); } },
          h('label', {}, 'User', user), h('label', {}, 'Password', pass),
          h('button', { class: 'btn primary', type: 'submit', id: 'login-submit' }, 'Log in')),
        h('details', {}, h('summary', {}, 'Log in with the admin token'),
          h('form', { id: 'token-form', onsubmit: (ev) => { ev.preventDefault(); submit({ token: token.value }); } },
            h('label', {}, 'Admin token', token),
            h('button', { class: 'btn', type: 'submit', id: 'token-submit' }, 'Log in as admin'))),
        msg)));
  }

  /* ------------------------------------------------------------ live */

  function surgeColour(s) {
    // 1.0 calm teal -> 2.0 amber -> 3.0 red
    const t = Math.max(0, Math.min(1, (s - 1) / 2));
    const stops = [[38, 166, 154], [245, 158, 11], [220, 38, 38]];
    const seg = t < 0.5 ? 0 : 1, f = t < 0.5 ? t * 2 : (t - 0.5) * 2;
    const a = stops[seg], b = stops[seg + 1];
    return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * f)).join(',')})`;
  }

  function pageLive() {
    const totals = h('div', { class: 'totals', id: 'live-totals' });
    const canvas = h('canvas', { id: 'live-grid', class: 'grid-canvas', 'aria-label': 'regions by surge' });
    const tip = h('div', { class: 'tip hidden', id: 'live-tip' });
    const status = h('span', { class: 'muted', id: 'live-status' }, 'connecting…');
    const productSel = h('select', { id: 'live-product', onchange: () => { S.product = productSel.value; draw(); } });
    const top = h('div', { id: 'live-top' });
    const legend = h('div', { class: 'legend' }, h('span', {}, '1.0×'), h('canvas', { id: 'legend-bar', width: 160, height: 10 }), h('span', {}, '3.0×'));
    main().replaceChildren(
      h('div', { class: 'page-head' }, h('h1', {}, 'Live'), status),
      totals,
      h('div', { class: 'live-layout' },
        card(null, h('div', { class: 'row' }, h('label', { class: 'inline' }, 'Product ', productSel), legend),
          h('div', { class: 'grid-wrap' }, canvas, tip)),
        card('Highest surge now', top)));
    const lb = $('#legend-bar').getContext('2d');
    for (let x = 0; x < 160; x++) { lb.fillStyle = surgeColour(1 + 2 * x / 159); lb.fillRect(x, 0, 1, 10); }

    let layout = null; // {cells: [{region_id, x, y}], cols, rows, key}
    function computeLayout(ids) {
      const key = ids.join(',');
      if (layout && layout.key === key) return layout;
      const boxes = ids.map((id) => ({ id, box: geohashBox(id) })).filter((b) => b.box);
      if (!boxes.length) return (layout = { cells: [], cols: 0, rows: 0, key });
      const latStep = boxes[0].box[1] - boxes[0].box[0], lonStep = boxes[0].box[3] - boxes[0].box[2];
      let minC = Infinity, maxC = -Infinity, minR = Infinity, maxR = -Infinity;
      const cells = boxes.map((b) => {
        const c = Math.round((b.box[2] + 180) / lonStep), r = Math.round((90 - b.box[1]) / latStep);
        minC = Math.min(minC, c); maxC = Math.max(maxC, c); minR = Math.min(minR, r); maxR = Math.max(maxR, r);
        return { region_id: b.id, c, r };
      });
      let cols = maxC - minC + 1, rows = maxR - minR + 1;
      if (cols * rows > 40000) {
        // regions far apart (several cities): pack them in geohash order instead
        cols = Math.ceil(Math.sqrt(cells.length * 1.6));
        cells.sort((a, b) => (a.region_id < b.region_id ? -1 : 1));
        cells.forEach((cell, i) => { cell.x = i % cols; cell.y = Math.floor(i / cols); });
        rows = Math.ceil(cells.length / cols);
      } else {
        for (const cell of cells) { cell.x = cell.c - minC; cell.y = cell.r - minR; }
      }
      return (layout = { cells, cols, rows, key });
    }

    let tileSize = 0, byRegion = new Map();
    function draw() {
      const snap = S.last;
      if (!snap) return;
      const products = [...new Set(snap.regions.map((r) => r.product_type))].sort();
      if (!S.product || !products.includes(S.product)) S.product = products.includes('standard') ? 'standard' : products[0];
      if (productSel.options.length !== products.length) {
        productSel.replaceChildren(...products.map((p) => h('option', { value: p }, p)));
      }
      productSel.value = S.product || '';
      byRegion = new Map();
      for (const r of snap.regions) if (r.product_type === S.product) byRegion.set(r.region_id, r);
      const ids = [...byRegion.keys()].sort();
      const L = computeLayout(ids);
      const wrap = canvas.parentElement;
      const avail = Math.max(200, wrap.clientWidth);
      // big enough to read on a laptop, small enough that 500 regions fit
      tileSize = Math.max(6, Math.min(72, Math.floor(avail / Math.max(1, L.cols))));
      const dpr = window.devicePixelRatio || 1;
      const w = L.cols * tileSize, hh = L.rows * tileSize;
      if (canvas.width !== w * dpr || canvas.height !== hh * dpr) {
        canvas.width = w * dpr; canvas.height = hh * dpr;
        canvas.style.width = w + 'px'; canvas.style.height = hh + 'px';
      }
      const g = canvas.getContext('2d');
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, hh);
      g.font = `${Math.max(9, Math.floor(tileSize / 3.6))}px system-ui, sans-serif`;
      g.textAlign = 'center'; g.textBaseline = 'middle';
      for (const cell of L.cells) {
        const r = byRegion.get(cell.region_id);
        if (!r) continue;
        g.fillStyle = surgeColour(r.surge);
        g.fillRect(cell.x * tileSize + 1, cell.y * tileSize + 1, tileSize - 2, tileSize - 2);
        if (tileSize >= 36) {
          g.fillStyle = '#fff';
          g.fillText(fmt(r.surge, 2), cell.x * tileSize + tileSize / 2, cell.y * tileSize + tileSize / 2);
        }
      }
      canvas.dataset.regions = String(byRegion.size);
      canvas.dataset.seq = String(snap.seq);
      const t = snap.totals || {};
      totals.replaceChildren(
        stat('Events/s', fmt(t.events_per_s, 1), 'tot-events'),
        stat('Prices/s', fmt(t.prices_per_s, 1), 'tot-prices'),
        stat('p99 compute', t.p99_ms === null || t.p99_ms === undefined ? '–' : fmt(t.p99_ms, 2) + ' ms', 'tot-p99'),
        stat('Model', t.model_version || '–', 'tot-model'),
        stat('Regions', String(byRegion.size), 'tot-regions'),
        stat('Updated', new Date(snap.ts).toLocaleTimeString(), 'tot-updated'));
      const best = [...byRegion.values()].sort((a, b) => b.surge - a.surge).slice(0, 10);
      top.replaceChildren(table([
        { label: 'Region', get: (r) => h('a', { href: '#/region/' + r.region_id }, r.region_id) },
        { label: 'Surge', num: true, get: (r) => fmt(r.surge, 2) + '×' },
        { label: 'Price', num: true, get: (r) => money(r.price) },
      ], best, { cls: 'compact' }));
    }
    function stat(label, value, id) {
      return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value', id }, value));
    }
    function cellAt(ev) {
      if (!layout || !tileSize) return null;
      const rect = canvas.getBoundingClientRect();
      const x = Math.floor((ev.clientX - rect.left) / tileSize), y = Math.floor((ev.clientY - rect.top) / tileSize);
      return layout.cells.find((c) => c.x === x && c.y === y) || null;
    }
    canvas.addEventListener('mousemove', (ev) => {
      const c = cellAt(ev), r = c && byRegion.get(c.region_id);
      if (!r) { tip.classList.add('hidden'); return; }
      tip.textContent = `${r.region_id} · ${fmt(r.surge, 2)}× · ${money(r.price)}`;
      tip.style.left = (ev.offsetX + 12) + 'px'; tip.style.top = (ev.offsetY + 12) + 'px';
      tip.classList.remove('hidden');
    });
    canvas.addEventListener('mouseleave', () => tip.classList.add('hidden'));
    canvas.addEventListener('click', (ev) => { const c = cellAt(ev); if (c) location.hash = '#/region/' + c.region_id; });

    if (S.last) draw();
    const es = new EventSource('/api/v1/live');
    S.live = es;
    es.onopen = () => { status.textContent = 'live'; status.className = 'ok'; };
    es.onerror = () => { status.textContent = 'reconnecting…'; status.className = 'warn'; };
    es.onmessage = (ev) => {
      try { S.last = JSON.parse(ev.data); } catch (e) { return; }
      status.textContent = 'live'; status.className = 'ok';
      draw();
    };
    return () => { es.close(); S.live = null; };
  }

  /* ------------------------------------------------------------ region */

  async function pageRegion(id) {
    if (!id) {
      const list = await regions();
      const q = h('input', { id: 'region-filter', placeholder: 'filter by id or name' });
      const box = h('div', {});
      const render = () => {
        const f = q.value.toLowerCase();
        box.replaceChildren(table([
          { label: 'Region', get: (r) => h('a', { href: '#/region/' + r.region_id }, r.region_id) },
          { label: 'Name', get: (r) => r.name },
          { label: 'Time zone', get: (r) => r.timezone },
          { label: 'Products', get: (r) => r.products.join(', ') },
        ], list.filter((r) => !f || r.region_id.includes(f) || r.name.toLowerCase().includes(f)).slice(0, 200)));
      };
      q.addEventListener('input', render);
      render();
      main().replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Regions')), card(null, q, box));
      return;
    }
    const reg = await api('GET', '/api/v1/admin/regions/' + encodeURIComponent(id));
    const demandEl = h('div', { class: 'chart', id: 'chart-demand' });
    const surgeEl = h('div', { class: 'chart', id: 'chart-surge' });
    const decisionsEl = h('div', { id: 'region-decisions' });
    main().replaceChildren(
      h('div', { class: 'page-head' }, h('h1', {}, `${reg.name} `, h('span', { class: 'muted' }, reg.region_id)),
        h('span', { class: 'muted' }, `${reg.timezone} · ${reg.products.join(', ')}`)),
      card('Demand, supply and forecast (last 3 hours)', demandEl),
      card('Surge multiplier and its factors', surgeEl),
      card('Recent decisions', decisionsEl));

    // demand vs supply from the stream's closed windows; forecast with its interval
    const [timeline, forecast] = await Promise.all([
      optional('/api/v1/regions/' + encodeURIComponent(id) + '/timeline?minutes=180').catch((e) => ({ error: e })),
      optional('/api/v1/forecast/demand?region_id=' + encodeURIComponent(id) + '&horizon=60').catch((e) => ({ error: e })),
    ]);
    if (!timeline) demandEl.append(notice('info', 'Demand and supply timeline: not available yet (the stream endpoint is not in this build).'));
    else if (timeline.error) demandEl.append(notice('error', errorText(timeline.error)));
    if (!forecast) demandEl.append(notice('info', 'Forecast: not available yet (the forecast endpoint is not in this build).'));
    else if (forecast.error) demandEl.append(notice('info', 'Forecast: ' + errorText(forecast.error)));
    const pts = (timeline && timeline.points) || [];
    const fpts = (forecast && forecast.points) || [];
    if (timeline && !timeline.error && !pts.length) demandEl.append(notice('info', 'No closed 1-minute windows for this region in the last 3 hours.'));
    if (pts.length || fpts.length) {
      const xs = [...new Set(pts.map((p) => Date.parse(p.ts) / 1000).concat(fpts.map((p) => Date.parse(p.ts) / 1000)))].sort((a, b) => a - b);
      const at = (arr, key) => { const m = new Map(arr.map((p) => [Date.parse(p.ts) / 1000, p[key]])); return xs.map((x) => (m.has(x) ? m.get(x) : null)); };
      chart(demandEl, null, [
        { label: 'searches', stroke: '#2563eb', width: 2 },
        { label: 'available drivers', stroke: '#059669', width: 2 },
        { label: 'forecast', stroke: '#d97706', width: 2, dash: [6, 4] },
        { label: 'lower', stroke: '#fbbf24', width: 1 },
        { label: 'upper', stroke: '#fbbf24', width: 1 },
      ], [xs, at(pts, 'searches'), at(pts, 'available_drivers'), at(fpts, 'expected'), at(fpts, 'lower'), at(fpts, 'upper')],
      { bands: [{ series: [5, 4], fill: 'rgba(251,191,36,0.15)' }] },
      [Math.min(Date.now() / 1000 - 3 * 3600, xs[0]), Math.max(Date.now() / 1000 + 3600, xs[xs.length - 1])]);
    }

    // surge and factor contributions over time, from the audit
    const res = await api('GET', '/api/v1/admin/audit/search?region_id=' + encodeURIComponent(id) +
      '&from=' + (Date.now() - 3 * 3600e3) + '&limit=1000');
    const rows = res.decisions.slice().reverse();
    if (!rows.length) surgeEl.append(notice('info', 'No decisions in the last 3 hours.'));
    else {
      const factors = ['demand', 'supply', 'time_of_day', 'events', 'weather', 'guardrails'];
      const colours = ['#2563eb', '#059669', '#7c3aed', '#db2777', '#0891b2', '#dc2626'];
      chart(surgeEl, null,
        [{ label: 'surge', stroke: '#111827', width: 2 }].concat(factors.map((f, i) => ({ label: f, stroke: colours[i], width: 1 }))),
        [rows.map((r) => Date.parse(r.timestamp) / 1000), rows.map((r) => r.surge_multiplier)]
          .concat(factors.map((f) => rows.map((r) => (r.factors && f in r.factors ? r.factors[f] : null)))),
        null, [Date.now() / 1000 - 3 * 3600, Date.now() / 1000 + 60]);
    }
    decisionsEl.append(decisionsTable(res.decisions.slice(0, 25)));
  }

  function decisionsTable(list) {
    return table([
      { label: 'Time', get: (r) => ts(r.timestamp) },
      { label: 'Region', get: (r) => h('a', { href: '#/region/' + r.region_id }, r.region_id) },
      { label: 'Product', get: (r) => r.product_type },
      { label: 'Surge', num: true, get: (r) => fmt(r.surge_multiplier, 2) + '×' },
      { label: 'Price', num: true, get: (r) => money(r.price) },
      { label: 'Model', get: (r) => r.model_version },
      { label: 'Explain', get: (r) => h('a', { href: '#/audit/explain/' + r.request_id, class: 'mono' }, r.request_id.slice(0, 12) + '…') },
    ], list);
  }

  /* ------------------------------------------------------------ pricing rules */

  async function pageRules() {
    const [list, regs] = await Promise.all([api('GET', '/api/v1/admin/rules'), regions()]);
    const msg = h('div', { id: 'rule-msg' });
    const products = [...new Set(regs.flatMap((r) => r.products))].sort();
    const f = {
      region: h('input', { id: 'rule-region', list: 'region-ids', value: '*', required: true }),
      product: h('select', { id: 'rule-product' }, products.map((p) => h('option', { value: p, selected: p === 'standard' }, p))),
      base: h('input', { id: 'rule-base', type: 'number', step: '0.01', min: '0.01', required: true }),
      min: h('input', { id: 'rule-min', type: 'number', step: '0.01', value: '1' }),
      max: h('input', { id: 'rule-max', type: 'number', step: '0.01', value: '3' }),
      eff: h('input', { id: 'rule-effective', type: 'datetime-local' }),
    };
    const ro = !isAdmin();
    for (const el of Object.values(f)) el.disabled = ro;
    async function create(ev) {
      ev.preventDefault();
      msg.replaceChildren();
      for (const el of Object.values(f)) el.classList.remove('bad');
      const body = {
        region_id: f.region.value.trim(), product_type: f.product.value,
        base_price: Number(f.base.value), min_multiplier: Number(f.min.value), max_multiplier: Number(f.max.value),
      };
      if (f.eff.value) body.effective_date = new Date(f.eff.value).toISOString();
      try {
        const rule = await api('POST', '/api/v1/admin/rules', body);
        msg.replaceChildren(notice('ok', `Rule ${rule.rule_id} created (${rule.status}, effective ${ts(rule.effective_date)}).`));
        setTimeout(() => route(), 600);
      } catch (e) {
        const map = { region_id: f.region, product_type: f.product, base_price: f.base, min_multiplier: f.min, max_multiplier: f.max, effective_date: f.eff };
        if (map[e.field]) map[e.field].classList.add('bad');
        msg.replaceChildren(notice('error', errorText(e)));
      }
    }
    async function del(rule) {
      if (!(await confirmModal('Delete scheduled rule', `Delete rule ${rule.rule_id} (${rule.region_id}/${rule.product_type}, base ${money(rule.base_price)}, effective ${ts(rule.effective_date)})?`, 'Delete'))) return;
      try { await api('DELETE', '/api/v1/admin/rules/' + rule.rule_id); route(); } catch (e) { msg.replaceChildren(notice('error', errorText(e))); }
    }
    const rules = (list.rules || []).slice().reverse();
    const filter = h('input', { id: 'rule-filter', placeholder: 'filter: region, product or status' });
    const listBox = h('div', { id: 'rule-list' });
    let showAll = false;
    function renderList() {
      const f = filter.value.trim().toLowerCase();
      const hits = rules.filter((r) => !f || [r.region_id, r.product_type, r.status].some((x) => x.toLowerCase().includes(f)));
      const shown = showAll ? hits : hits.slice(0, 40);
      listBox.replaceChildren(table([
        { label: 'ID', num: true, get: (r) => r.rule_id },
        { label: 'Region', get: (r) => r.region_id },
        { label: 'Product', get: (r) => r.product_type },
        { label: 'Base', num: true, get: (r) => money(r.base_price) },
        { label: 'Multiplier', get: (r) => `${fmt(r.min_multiplier)}–${fmt(r.max_multiplier)}` },
        { label: 'Effective', get: (r) => ts(r.effective_date) },
        { label: 'Status', get: (r) => h('span', { class: 'badge ' + r.status }, r.status) },
        { label: 'By', get: (r) => r.created_by },
        { label: '', get: (r) => (r.status === 'scheduled' && !ro ? h('button', { class: 'btn small', onclick: () => del(r) }, 'Delete') : '') },
      ], shown, { cls: 'rules' }),
      hits.length > shown.length ? h('button', { class: 'btn small', id: 'rule-more', onclick: () => { showAll = true; renderList(); } }, `Show all ${hits.length}`) : null);
    }
    filter.addEventListener('input', renderList);
    renderList();
    main().replaceChildren(
      h('div', { class: 'page-head' }, h('h1', {}, 'Pricing rules'), ro ? h('span', { class: 'badge viewer' }, 'read only') : null),
      card('New rule',
        h('datalist', { id: 'region-ids' }, h('option', { value: '*' }), regs.map((r) => h('option', { value: r.region_id }, r.name))),
        h('form', { id: 'rule-form', class: 'form-grid', novalidate: true, onsubmit: create },
          h('label', {}, 'Region (* = all)', f.region), h('label', {}, 'Product', f.product),
          h('label', {}, 'Base price', f.base), h('label', {}, 'Min multiplier', f.min),
          h('label', {}, 'Max multiplier', f.max), h('label', {}, 'Effective (empty = now)', f.eff),
          h('div', { class: 'form-actions' }, h('button', { class: 'btn primary', type: 'submit', id: 'rule-submit', disabled: ro }, 'Create rule'))),
        msg),
      await controlsCard(regs, ro),
      card(`Rules (${rules.length}, newest first)`, filter, listBox));
  }

  async function controlsCard(regs, ro) {
    const sel = h('select', { id: 'ctl-region' }, regs.map((r) => h('option', { value: r.region_id }, `${r.region_id} · ${r.name}`)));
    const cap = h('input', { id: 'ctl-cap', type: 'number', step: '0.05', min: '1', placeholder: 'none' });
    const frozen = h('input', { id: 'ctl-frozen', type: 'checkbox' });
    const fmul = h('input', { id: 'ctl-frozen-mult', type: 'number', step: '0.05', min: '1', placeholder: 'last quoted' });
    const reason = h('input', { id: 'ctl-reason', placeholder: 'why (shown in the audit)' });
    const state = h('div', { id: 'ctl-state', class: 'muted' });
    const msg = h('div', { id: 'ctl-msg' });
    for (const el of [cap, frozen, fmul, reason]) el.disabled = ro;
    async function load() {
      state.textContent = '…';
      try {
        const c = await api('GET', `/api/v1/admin/regions/${sel.value}/controls`);
        cap.value = c.emergency_cap || ''; frozen.checked = !!c.frozen; fmul.value = c.frozen_multiplier || ''; reason.value = c.reason || '';
        state.textContent = c.updated_at ? `cap ${c.emergency_cap || 'none'}, ${c.frozen ? 'frozen' : 'not frozen'} — ${c.updated_by} at ${ts(c.updated_at)}` : 'no controls set';
      } catch (e) { state.textContent = errorText(e); }
    }
    sel.addEventListener('change', load);
    async function apply(ev) {
      ev.preventDefault();
      msg.replaceChildren();
      const body = { reason: reason.value || 'portal', updated_by: S.session.user };
      if (cap.value) body.emergency_cap = Number(cap.value);
      if (frozen.checked) { body.frozen = true; if (fmul.value) body.frozen_multiplier = Number(fmul.value); }
      const what = `${body.emergency_cap ? 'cap the multiplier at ' + body.emergency_cap + '×' : 'no cap'}, ${body.frozen ? 'freeze prices' : 'no freeze'}`;
      if (!(await confirmModal('Emergency controls', `Region ${sel.value}: ${what}. This changes live prices at once.`, 'Apply'))) return;
      try { await api('PUT', `/api/v1/admin/regions/${sel.value}/controls`, body); msg.replaceChildren(notice('ok', 'Controls applied.')); load(); } catch (e) { msg.replaceChildren(notice('error', errorText(e))); }
    }
    async function clear() {
      if (!(await confirmModal('Clear controls', `Remove the cap and the freeze of ${sel.value}?`, 'Clear'))) return;
      try { await api('DELETE', `/api/v1/admin/regions/${sel.value}/controls`); msg.replaceChildren(notice('ok', 'Controls cleared.')); load(); } catch (e) { msg.replaceChildren(notice('error', errorText(e))); }
    }
    load();
    return card('Emergency cap and freeze',
      h('form', { id: 'ctl-form', class: 'form-grid', novalidate: true, onsubmit: apply },
        h('label', {}, 'Region', sel), h('label', {}, 'Emergency cap', cap),
        h('label', { class: 'check' }, frozen, ' Freeze'), h('label', {}, 'Frozen multiplier', fmul),
        h('label', { class: 'wide' }, 'Reason', reason),
        h('div', { class: 'form-actions' },
          h('button', { class: 'btn danger', type: 'submit', id: 'ctl-apply', disabled: ro }, 'Apply…'),
          h('button', { class: 'btn', type: 'button', id: 'ctl-clear', disabled: ro, onclick: clear }, 'Clear…'))),
      state, msg);
  }

  /* ------------------------------------------------------------ experiments */

  async function pageExperiments() {
    const list = await api('GET', '/api/v1/admin/experiments');
    const ro = !isAdmin();
    const msg = h('div', { id: 'exp-msg' });
    const rows = list.experiments || [];
    const results = h('div', { id: 'exp-results' });
    async function setStatus(e, status) {
      if (!(await confirmModal('Experiment status', `Set ${e.experiment_id} to ${status}?`, 'Set ' + status))) return;
      const body = { name: e.name, status, variants: e.variants, traffic_split: e.traffic_split };
      try { await api('PUT', '/api/v1/admin/experiments/' + encodeURIComponent(e.experiment_id), body); route(); } catch (err) { msg.replaceChildren(notice('error', errorText(err))); }
    }
    /* Results so far (from the audit): one table per experiment, a row per variant. */
    function resultsView(r) {
      return h('div', { class: 'exp-result', 'data-experiment': r.experiment_id },
        h('h3', {}, `${r.experiment_id}: ${r.status}, ${r.decisions} decision${r.decisions === 1 ? '' : 's'}`),
        table([
          { label: 'Variant', get: (v) => v.name },
          { label: 'Rule', get: (v) => (v.rule_id ? String(v.rule_id) : '–') },
          { label: 'Split', num: true, get: (v) => `${v.traffic_percent}%` },
          { label: 'Decisions', num: true, get: (v) => String(v.decisions) },
          { label: 'Users', num: true, get: (v) => String(v.users) },
          { label: 'Mean surge', num: true, get: (v) => fmt(v.mean_surge, 3) },
          { label: 'Median surge', num: true, get: (v) => fmt(v.p50_surge, 3) },
          { label: 'Mean price', num: true, get: (v) => money(v.mean_price) },
          { label: 'First', get: (v) => ts(v.first) },
          { label: 'Last', get: (v) => ts(v.last) },
        ], r.variants || []));
    }
    async function loadResults(e) {
      const r = await optional('/api/v1/admin/experiments/' + encodeURIComponent(e.experiment_id) + '/results');
      return r ? resultsView(r) : notice('info', `Results of ${e.experiment_id}: not available yet (no results endpoint in this build).`);
    }
    async function showResults(e) {
      const old = [...results.children].find((c) => c.dataset && c.dataset.experiment === e.experiment_id);
      try {
        const view = await loadResults(e);
        if (old) old.replaceWith(view); else results.prepend(view);
        view.scrollIntoView({ block: 'nearest' });
      } catch (err) { results.prepend(notice('error', errorText(err))); }
    }
    /* every experiment that ever ran shows its results when the page opens */
    async function showAllResults() {
      const shown = rows.filter((e) => e.status !== 'draft').slice(0, 20);
      if (!shown.length) return;
      results.replaceChildren(h('p', { class: 'muted' }, 'Loading results…'));
      try {
        const views = await Promise.all(shown.map(loadResults));
        results.replaceChildren(...views);
      } catch (err) { results.replaceChildren(notice('error', errorText(err))); }
    }
    const id = h('input', { id: 'exp-id', placeholder: 'cap-test', required: true });
    const name = h('input', { id: 'exp-name', placeholder: 'Lower cap in Midtown' });
    const variants = h('input', { id: 'exp-variants', value: 'control:50, treatment:50' });
    for (const el of [id, name, variants]) el.disabled = ro;
    async function create(ev) {
      ev.preventDefault();
      msg.replaceChildren();
      const split = {}, vs = [];
      for (const part of variants.value.split(',')) {
        const [n, p] = part.split(':').map((s) => s.trim());
        if (!n) continue;
        vs.push({ name: n }); split[n] = Number(p);
      }
      try {
        await api('POST', '/api/v1/admin/experiments', { experiment_id: id.value, name: name.value || id.value, variants: vs, traffic_split: split });
        route();
      } catch (e) { msg.replaceChildren(notice('error', errorText(e))); }
    }
    main().replaceChildren(
      h('div', { class: 'page-head' }, h('h1', {}, 'Experiments')),
      card(`A/B tests (${rows.length})`, rows.length ? table([
        { label: 'ID', get: (e) => e.experiment_id },
        { label: 'Name', get: (e) => e.name },
        { label: 'Status', get: (e) => h('span', { class: 'badge ' + e.status }, e.status) },
        { label: 'Variants', get: (e) => e.variants.map((v) => v.name + (v.rule_id ? ` (rule ${v.rule_id})` : '')).join(', ') },
        { label: 'Split', get: (e) => Object.entries(e.traffic_split).map(([k, v]) => `${k} ${v}%`).join(' / ') },
        { label: '', get: (e) => h('span', { class: 'row' },
          h('button', { class: 'btn small', onclick: () => showResults(e) }, 'Results'),
          ro ? null : (e.status === 'running' ? h('button', { class: 'btn small', onclick: () => setStatus(e, 'stopped') }, 'Stop')
            : h('button', { class: 'btn small', onclick: () => setStatus(e, 'running') }, 'Start'))) },
      ], rows) : h('p', { class: 'muted' }, 'No experiments yet.')),
      card('Results so far', h('p', { class: 'muted' }, 'Priced requests per variant, from the audit (users without a user_id are in no experiment).'), results),
      card('New experiment', h('form', { id: 'exp-form', class: 'form-grid', novalidate: true, onsubmit: create },
        h('label', {}, 'ID', id), h('label', {}, 'Name', name), h('label', { class: 'wide' }, 'Variants and split (name:percent, …)', variants),
        h('div', { class: 'form-actions' }, h('button', { class: 'btn primary', type: 'submit', id: 'exp-submit', disabled: ro }, 'Create'))), msg));
    await showAllResults();
  }

  /* ------------------------------------------------------------ models */

  async function pageModels() {
    const msg = h('div', { id: 'model-msg' });
    const data = await optional('/api/v1/admin/models');
    const head = h('div', { class: 'page-head' }, h('h1', {}, 'Models'));
    if (!data) {
      main().replaceChildren(head, notice('info', 'Model registry: not available yet (GET /api/v1/admin/models is not in this build).'));
      return;
    }
    const list = Array.isArray(data) ? data : (data.models || []);
    const live = list.find((m) => m.status === 'live');
    const ro = !isAdmin();
    async function act(m, what) {
      let path = '/api/v1/admin/models/', body;
      if (what === 'rollback') path += 'rollback';
      else path += encodeURIComponent(m.version) + '/' + what;
      if (what === 'canary') {
        const pct = Number($('#canary-' + cssId(m.version)).value);
        body = { percent: pct };
      }
      const text = what === 'rollback' ? `Roll back from ${live ? live.version : 'the live model'} to the previous version?`
        : what === 'canary' ? `Send ${body.percent}% of traffic to ${m.version}?` : `${what} ${m.version}?`;
      if (!(await confirmModal('Model rollout', text, what === 'rollback' ? 'Roll back' : 'Confirm'))) return;
      try { await api('POST', path, body); route(); } catch (e) { msg.replaceChildren(notice('error', errorText(e))); }
    }
    if (!ro) head.append(h('button', { class: 'btn danger', id: 'model-rollback', onclick: () => act(null, 'rollback') }, 'Roll back…'));
    main().replaceChildren(head,
      h('div', { class: 'totals' },
        h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Live version'), h('div', { class: 'stat-value', id: 'model-live' }, live ? live.version : 'none')),
        h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Candidate'), h('div', { class: 'stat-value' },
          (list.find((m) => m.status === 'canary' || m.status === 'shadow') || {}).version || 'none'))),
      msg,
      card(`Versions (${list.length})`, table([
        { label: 'Version', get: (m) => h('span', { class: 'mono' }, m.version) },
        { label: 'Name', get: (m) => m.name || '' },
        { label: 'Status', get: (m) => h('span', { class: 'badge ' + m.status }, m.status + (m.status === 'canary' ? ` ${m.canary_percent}%` : '')) },
        { label: 'Metrics (per horizon)', get: (m) => modelMetrics(m.metrics) },
        { label: 'Created', get: (m) => ts(m.created_at) },
        { label: '', get: (m) => (ro || m.status === 'live' ? '' : h('span', { class: 'row' },
          h('button', { class: 'btn small', onclick: () => act(m, 'shadow') }, 'Shadow'),
          h('input', { class: 'pct', id: 'canary-' + cssId(m.version), type: 'number', min: 1, max: 100, value: 10 }),
          h('button', { class: 'btn small', onclick: () => act(m, 'canary') }, 'Canary'),
          h('button', { class: 'btn small primary', onclick: () => act(m, 'promote') }, 'Promote'))) },
      ], list)));
  }
  const cssId = (s) => String(s).replace(/[^A-Za-z0-9_-]/g, '_');

  /* "15 min: WAPE 12.1% MASE 1.63 · 30 min: ..." from a registry entry's metrics */
  function modelMetrics(metrics) {
    const hs = (metrics && metrics.horizons) || [];
    if (!hs.length) return '–';
    return h('span', { class: 'small' }, hs.map((x) => {
      // MASE against seasonal-naive, or against the 7-day average when there is no week of history
      const naive = x.mase !== null && x.mase !== undefined;
      const mase = naive ? `MASE ${fmt(x.mase, 2)}` : `MASE(7d avg) ${fmt(x.mase_avg_7d, 2)}`;
      return `${x.horizon_min} min: WAPE ${fmt(100 * x.wape, 1)}% · ${mase} · coverage ${fmt(100 * x.coverage, 0)}%`;
    }).map((t) => h('div', {}, t)));
  }

  /* ------------------------------------------------------------ audit */

  async function pageAudit(sub, arg) {
    const tabs = h('div', { class: 'tabs' },
      h('a', { href: '#/audit', class: sub !== 'actions' ? 'active' : null }, 'Decisions'),
      h('a', { href: '#/audit/actions', id: 'tab-actions', class: sub === 'actions' ? 'active' : null }, 'Admin actions'));
    if (sub === 'actions') {
      const res = await api('GET', '/api/v1/admin/actions?limit=200');
      main().replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Audit')), tabs,
        card('Admin actions (newest first)', table([
          { label: 'Time', get: (a) => ts(a.timestamp) },
          { label: 'Who', get: (a) => a.actor },
          { label: 'Role', get: (a) => a.role },
          { label: 'Action', get: (a) => h('span', { class: 'mono' }, `${a.method} ${a.path}`) },
          { label: 'Result', get: (a) => h('span', { class: 'badge ' + (a.status < 300 ? 'active' : 'bad') }, String(a.status)) },
          { label: 'Detail', get: (a) => h('span', { class: 'mono small detail' }, a.detail) },
        ], res.actions, { cls: 'actions' })));
      return;
    }
    if (sub === 'explain') return pageExplain(arg, tabs);
    const p = new URLSearchParams(location.hash.split('?')[1] || '');
    const f = {
      request_id: h('input', { id: 'q-request', name: 'request_id', value: p.get('request_id') || '' }),
      trace_id: h('input', { id: 'q-trace', name: 'trace_id', value: p.get('trace_id') || '' }),
      region_id: h('input', { id: 'q-region', name: 'region_id', value: p.get('region_id') || '' }),
      from: h('input', { id: 'q-from', type: 'datetime-local', value: p.get('from') ? toLocalInput(Number(p.get('from'))) : toLocalInput(Date.now() - 3600e3) }),
      to: h('input', { id: 'q-to', type: 'datetime-local', value: p.get('to') ? toLocalInput(Number(p.get('to'))) : '' }),
    };
    const out = h('div', { id: 'audit-results' });
    async function search(ev) {
      if (ev) ev.preventDefault();
      const q = new URLSearchParams();
      for (const k of ['request_id', 'trace_id', 'region_id']) if (f[k].value.trim()) q.set(k, f[k].value.trim());
      if (f.from.value && !q.has('request_id') && !q.has('trace_id')) q.set('from', String(new Date(f.from.value).getTime()));
      if (f.to.value) q.set('to', String(new Date(f.to.value).getTime()));
      q.set('limit', '200');
      out.replaceChildren(h('p', { class: 'muted' }, 'Searching…'));
      try {
        const res = await api('GET', '/api/v1/admin/audit/search?' + q.toString());
        out.replaceChildren(h('p', { class: 'muted', id: 'audit-count' }, `${res.count} decision(s) from ${ts(res.from)} to ${ts(res.to)}`), decisionsTable(res.decisions));
      } catch (e) { out.replaceChildren(notice('error', errorText(e))); }
    }
    main().replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Audit')), tabs,
      card('Search decisions', h('form', { id: 'audit-form', class: 'form-grid', onsubmit: search },
        h('label', {}, 'request_id', f.request_id), h('label', {}, 'trace_id', f.trace_id),
        h('label', {}, 'Region', f.region_id), h('label', {}, 'From', f.from), h('label', {}, 'To', f.to),
        h('div', { class: 'form-actions' }, h('button', { class: 'btn primary', type: 'submit', id: 'audit-submit' }, 'Search'))), out));
    search();
  }

  async function pageExplain(requestId, tabs) {
    const e = await api('GET', '/api/v1/pricing/explain?request_id=' + encodeURIComponent(requestId));
    const bd = e.breakdown || [];
    const max = Math.max(0.0001, ...bd.map((b) => Math.abs(b.contribution)));
    const bars = h('div', { class: 'bars', id: 'explain-bars' }, bd.map((b) => {
      const bar = h('div', { class: 'bar ' + (b.contribution < 0 ? 'neg' : 'pos') });
      bar.style.width = (Math.abs(b.contribution) / max * 100).toFixed(1) + '%';
      return h('div', { class: 'bar-row' }, h('span', { class: 'bar-label' }, b.factor),
        h('div', { class: 'bar-track' }, bar), h('span', { class: 'bar-value num' }, (b.contribution >= 0 ? '+' : '') + fmt(b.contribution, 4)));
    }));
    main().replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Explain'), h('span', { class: 'mono muted' }, requestId)), tabs,
      h('div', { class: 'totals' },
        h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Price'), h('div', { class: 'stat-value', id: 'explain-price' }, money(e.price))),
        h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Surge'), h('div', { class: 'stat-value' }, fmt(e.surge_multiplier, 4) + '×')),
        h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Base'), h('div', { class: 'stat-value' }, money(e.base_price))),
        h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Reproduced'), h('div', { class: 'stat-value' }, e.reproduced ? 'yes' : 'NO'))),
      card('Factor contributions (surge = 1 + Σ)', bars,
        h('p', { class: 'muted' }, `surge_raw ${fmt(e.surge_raw, 4)}, clip ${fmt(e.factors && e.factors.clip, 4)}, guardrails ${fmt(e.factors && e.factors.guardrails, 4)}`)),
      card('Inputs', table([{ label: 'Input', get: (r) => r[0] }, { label: 'Value', get: (r) => String(r[1]) }], Object.entries(e.inputs || {}))),
      card('Decision', h('pre', { class: 'mono small' }, JSON.stringify(e, null, 2))));
  }

  /* ------------------------------------------------------------ reports */

  async function pageReports() {
    const p = new URLSearchParams(location.hash.split('?')[1] || '');
    const from = h('input', { id: 'r-from', type: 'datetime-local', value: toLocalInput(p.get('from') ? Number(p.get('from')) : Date.now() - 24 * 3600e3) });
    const to = h('input', { id: 'r-to', type: 'datetime-local', value: p.get('to') ? toLocalInput(Number(p.get('to'))) : '' });
    const region = h('input', { id: 'r-region', value: p.get('region_id') || '', placeholder: 'all regions' });
    const out = h('div', { id: 'report-out' });
    async function run(ev) {
      if (ev) ev.preventDefault();
      destroyCharts();
      const q = new URLSearchParams({ from: String(new Date(from.value).getTime()) });
      if (to.value) q.set('to', String(new Date(to.value).getTime()));
      if (region.value.trim()) q.set('region_id', region.value.trim());
      out.replaceChildren(h('p', { class: 'muted' }, 'Running…'));
      let r;
      try { r = await api('GET', '/api/v1/admin/reports?' + q.toString()); } catch (e) { out.replaceChildren(notice('error', errorText(e))); return; }
      const sum = (k) => r.by_hour.reduce((a, x) => a + x[k], 0);
      const dist = r.surge_buckets.map((_, i) => r.by_hour.reduce((a, x) => a + x.surge_distribution[i], 0));
      const trips = sum('decisions');
      const hourChart = h('div', { class: 'chart', id: 'chart-hours' });
      const distEl = h('div', { class: 'bars', id: 'surge-dist' }, r.surge_buckets.map((b, i) => {
        const bar = h('div', { class: 'bar pos' });
        bar.style.width = (trips ? dist[i] / Math.max(...dist) * 100 : 0).toFixed(1) + '%';
        return h('div', { class: 'bar-row' }, h('span', { class: 'bar-label' }, b === '3+' ? '≥ 3×' : b.replace('-', '–') + '×'), h('div', { class: 'bar-track' }, bar), h('span', { class: 'bar-value num' }, String(dist[i])));
      }));
      out.replaceChildren(
        h('div', { class: 'totals' },
          h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Quoted trips'), h('div', { class: 'stat-value', id: 'rep-trips' }, String(trips))),
          h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Quoted revenue'), h('div', { class: 'stat-value', id: 'rep-revenue' }, money(sum('revenue')))),
          h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, 'Regions'), h('div', { class: 'stat-value' }, String(r.by_region.length)))),
        card('By hour', hourChart),
        card('Surge distribution', distEl),
        card('By region', table([
          { label: 'Region', get: (x) => h('a', { href: '#/region/' + x.region_id }, x.region_id) },
          { label: 'Trips', num: true, get: (x) => x.decisions },
          { label: 'Revenue', num: true, get: (x) => money(x.revenue) },
          { label: 'Avg surge', num: true, get: (x) => fmt(x.avg_surge, 3) },
          { label: 'Max surge', num: true, get: (x) => fmt(x.max_surge, 2) },
        ], r.by_region.slice().sort((a, b) => b.revenue - a.revenue).slice(0, 100))));
      if (r.by_hour.length) {
        chart(hourChart, null, [
          { label: 'trips', stroke: '#2563eb', fill: 'rgba(37,99,235,0.35)', width: 1, scale: 'n',
            paths: window.uPlot.paths.bars({ size: [0.6, 48] }), points: { show: false } },
          { label: 'revenue $', stroke: '#059669', width: 2, scale: '$' },
          { label: 'avg surge', stroke: '#dc2626', width: 2, scale: 's' },
        ], [r.by_hour.map((x) => Date.parse(x.hour) / 1000), r.by_hour.map((x) => x.decisions), r.by_hour.map((x) => x.revenue), r.by_hour.map((x) => x.avg_surge)],
        { axes: [{}, { scale: 'n' }, { scale: '$', side: 1, grid: { show: false } }] },
        [Date.parse(r.from) / 1000, Math.min(Date.parse(r.to) / 1000, Date.now() / 1000 + 3600)]);
      } else hourChart.append(notice('info', 'No decisions in this range.'));
    }
    main().replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Reports')),
      card(null, h('form', { id: 'report-form', class: 'form-grid', onsubmit: run },
        h('label', {}, 'From', from), h('label', {}, 'To (empty = now)', to), h('label', {}, 'Region', region),
        h('div', { class: 'form-actions' }, h('button', { class: 'btn primary', type: 'submit', id: 'report-submit' }, 'Run')))),
      out);
    run();
  }

  /* ------------------------------------------------------------ router */

  let cleanup = null;
  async function route() {
    if (cleanup) { cleanup(); cleanup = null; }
    destroyCharts();
    S.regions = null;
    const hash = location.hash.replace(/^#\/?/, '').split('?')[0];
    const [page, a, b] = hash.split('/');
    if (!S.session && page !== 'login') {
      try { S.session = await api('GET', '/api/v1/portal/session'); } catch (e) { S.session = null; }
      if (!S.session) { location.hash = '#/login'; return; }
      renderWho();
    }
    for (const link of document.querySelectorAll('#nav a')) link.classList.toggle('active', link.dataset.page === (page || 'live'));
    document.body.dataset.page = page || 'live';
    try {
      switch (page || 'live') {
        case 'login': pageLogin(); break;
        case 'live': cleanup = pageLive(); break;
        case 'region': await pageRegion(a); break;
        case 'rules': await pageRules(); break;
        case 'experiments': await pageExperiments(); break;
        case 'models': await pageModels(); break;
        case 'audit': await pageAudit(a, b); break;
        case 'reports': await pageReports(); break;
        default: main().replaceChildren(notice('error', 'No such page: ' + page));
      }
    } catch (e) {
      main().replaceChildren(notice('error', errorText(e)));
    }
    document.body.dataset.ready = page || 'live';
  }

  window.addEventListener('hashchange', () => { document.body.dataset.ready = ''; route(); });
  route();
})();
