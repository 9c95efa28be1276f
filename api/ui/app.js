// The sagaline web UI: a hash-routed page over the API's JSON routes of the same server.
//   #/sagas?saga=&status=&tenant=&from=&to=&after=   the list, filtered and paged
//   #/saga/<id>                                        one saga: diagram, steps, parked messages, timeline, actions
//   #/stuck                                            sagas past a deadline or waiting on a parked message
//   #/dead-letters?topic=&saga=&error=                 dead letters, one per record, and redrive
// Every value from the server is put in the page as text (never as HTML). Views refresh themselves
// while open; actions ask for a reason and a confirmation first.

const STATUSES = ['Running', 'Compensating', 'Completed', 'Compensated', 'Parked', 'Failed'];
const STEP_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'compensating', 'compensated'];
const COLOURS = { pending: '#8a93a3', running: '#1f6feb', succeeded: '#1a7f37', failed: '#cf222e', compensating: '#bc4c00', compensated: '#8250df' };
const PAGE_SIZE = 50;

// ---------------------------------------------------------------------------------------------
// Small helpers

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(e, attrs);
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.setAttribute('class', v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The API token (`sagaline tokens create`), kept for this tab only; every request carries it.
const TOKEN_KEY = 'sagaline.token';
const token = () => sessionStorage.getItem(TOKEN_KEY);

async function api(path, init) {
  const headers = { ...(init ? { 'content-type': 'application/json' } : {}), ...(token() ? { authorization: `Bearer ${token()}` } : {}) };
  const res = await fetch(path, { ...(init ?? {}), headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body?.error?.code ?? String(res.status), body?.error ? `${body.error.code}: ${body.error.message}` : `${res.status} ${res.statusText}`);
  return body;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');
/** Local time, to the millisecond; the exact UTC time is in the element's title. */
function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, text);
}

const badge = (status) => h('span', { class: `badge ${status}` }, status);
const sagaLink = (id) => h('a', { href: `#/saga/${encodeURIComponent(id)}`, class: 'mono' }, id);

/** `<input type=datetime-local>` holds local time without an offset; the API takes ISO 8601 with one. */
const toIso = (local) => (local ? new Date(local).toISOString() : '');
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function toast(message, bad = false) {
  const t = document.getElementById('toast');
  t.className = bad ? 'bad' : '';
  t.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.textContent = ''), bad ? 12_000 : 6_000);
}

/** Runs `work` now and every `ms` while the view is open (never two at once); returns the stop. */
function every(ms, work) {
  let stopped = false;
  let timer;
  const tick = async () => {
    let status;
    try {
      await work();
      status = `live · updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      status = `not updating: ${err.message}`;
    }
    if (stopped) return; // the view was left while this tick ran
    document.getElementById('live').textContent = status;
    timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * Asks for a reason and a confirmation; resolves to `{ reason, force }`, or null when the operator
 * backs out (the Back button or Escape).
 */
function confirmAction({ title, text, withForce = false }) {
  const dialog = document.getElementById('confirm');
  const form = dialog.querySelector('form');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  form.reset();
  const reasonField = form.elements.reason;
  reasonField.setCustomValidity('');
  reasonField.oninput = () => reasonField.setCustomValidity('');
  // `required` lets a reason of spaces through: refuse it here, with the field saying why.
  form.onsubmit = (event) => {
    if (event.submitter?.value === 'confirm' && !reasonField.value.trim()) {
      event.preventDefault();
      reasonField.setCustomValidity('Give a reason: it is recorded in the saga’s log.');
      reasonField.reportValidity();
    }
  };
  dialog.querySelector('label.force').hidden = !withForce;
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        const reason = form.elements.reason.value.trim();
        resolve(dialog.returnValue === 'confirm' && reason ? { reason, force: withForce && form.elements.force.checked } : null);
      },
      { once: true },
    );
    dialog.returnValue = '';
    dialog.showModal();
    form.elements.reason.focus();
  });
}

/** An action button: confirmation first, then the request; the outcome in a toast, then `after`. */
function actionButton(label, { id, title, text, withForce, run, after, danger = true, disabled = false, hint }) {
  return h(
    'button',
    {
      id,
      type: 'button',
      class: danger ? 'danger' : 'primary',
      disabled,
      title: hint,
      onclick: async (event) => {
        const button = event.currentTarget;
        const answer = await confirmAction({ title, text, withForce });
        if (button.isConnected) button.focus();
        if (!answer) return;
        try {
          toast(await run(answer));
          await after?.();
        } catch (err) {
          toast(err.message, true);
        }
      },
    },
    label,
  );
}

// ---------------------------------------------------------------------------------------------
// The list of sagas

let definitionsCache;
const definitions = async () => (definitionsCache ??= (await api('/definitions')).definitions);

async function listPage(view, params) {
  const names = [...new Set((await definitions()).map((d) => d.name))];
  const option = (value, label, selected) => h('option', { value, selected: selected ? true : null }, label);
  const filters = h(
    'form',
    { class: 'bar', id: 'filters', role: 'search', 'aria-label': 'Filter sagas' },
    h('label', {}, 'Definition', h('select', { name: 'saga' }, option('', 'any'), names.map((n) => option(n, n, params.get('saga') === n)))),
    h('label', {}, 'State', h('select', { name: 'status' }, option('', 'any'), STATUSES.map((s) => option(s, s, params.get('status') === s)))),
    h('label', {}, 'Tenant', h('input', { name: 'tenant', value: params.get('tenant') ?? '', placeholder: 'any', size: 14 })),
    h('label', {}, 'Started from', h('input', { name: 'from', type: 'datetime-local', value: toLocalInput(params.get('from')) })),
    h('label', {}, 'Started before', h('input', { name: 'to', type: 'datetime-local', value: toLocalInput(params.get('to')) })),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    h('button', { type: 'button', onclick: () => (location.hash = '#/sagas') }, 'Clear'),
  );
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const f = filters.elements;
    const next = new URLSearchParams();
    if (f.saga.value) next.set('saga', f.saga.value);
    if (f.status.value) next.set('status', f.status.value);
    if (f.tenant.value.trim()) next.set('tenant', f.tenant.value.trim());
    if (f.from.value) next.set('from', toIso(f.from.value));
    if (f.to.value) next.set('to', toIso(f.to.value));
    location.hash = `#/sagas?${next}`;
  });
  const search = h(
    'form',
    { class: 'bar', id: 'search', role: 'search', 'aria-label': 'Find a saga by id' },
    h('label', {}, 'Saga id', h('input', { name: 'id', id: 'saga-id', required: true, size: 40, placeholder: 'the id of a saga', autocomplete: 'off' })),
    h('button', { type: 'submit', class: 'primary' }, 'Open'),
  );
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/saga/${encodeURIComponent(search.elements.id.value.trim())}`;
  });

  const query = new URLSearchParams();
  for (const k of ['saga', 'status', 'tenant', 'from', 'to', 'after']) if (params.get(k)) query.set(k, params.get(k));
  query.set('limit', String(PAGE_SIZE));
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const table = h(
    'table',
    { id: 'sagas', 'aria-label': 'Sagas, newest first' },
    h('thead', {}, h('tr', {}, ['Saga id', 'Definition', 'State', 'Tenant', 'Started', 'Ended'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody,
  );
  view.append(h('h1', {}, 'Sagas'), search, filters, table, pager);

  let shown = '';
  const load = async () => {
    const page = await api(`/sagas?${query}`);
    const key = JSON.stringify([page.next, page.sagas.map((s) => [s.sagaId, s.status, s.updatedAt])]);
    if (key === shown) return;
    shown = key;
    tbody.replaceChildren(
      ...page.sagas.map((s) =>
        h('tr', { 'data-saga': s.sagaId }, h('td', {}, sagaLink(s.sagaId)), h('td', {}, `${s.saga} v${s.version}`), h('td', {}, badge(s.status)), h('td', {}, s.tenantId), h('td', {}, time(s.startedAt)), h('td', {}, time(s.endedAt))),
      ),
    );
    if (page.sagas.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No saga matches.')));
    const base = new URLSearchParams(params);
    base.delete('after');
    pager.replaceChildren(
      params.get('after') ? h('a', { href: `#/sagas?${base}` }, '← Newest') : h('span', {}, 'Newest first'),
      page.next ? h('a', { href: `#/sagas?${new URLSearchParams([...base, ['after', page.next]])}`, id: 'older' }, 'Older →') : h('span', { class: 'muted' }, 'end of list'),
    );
  };
  await load();
  // The first page follows new sagas as they start; a later page stays where it is.
  return every(params.get('after') ? 5_000 : 2_000, load);
}

// ---------------------------------------------------------------------------------------------
// One saga

/** The definition drawn left to right: the start message, then each level of steps (steps of one level may run at once). */
function diagram(def, record) {
  const W = 170, H = 64, GAPX = 56, GAPY = 18, PAD = 14;
  const levels = [];
  for (const s of def.steps) (levels[s.level] ??= []).push(s);
  const rows = Math.max(1, ...levels.map((l) => l.length));
  const height = PAD * 2 + rows * H + (rows - 1) * GAPY;
  const width = PAD * 2 + (levels.length + 1) * W + levels.length * GAPX;
  const pos = new Map();
  const centre = (count, i) => PAD + (height - PAD * 2 - (count * H + (count - 1) * GAPY)) / 2 + i * (H + GAPY);
  pos.set('', { x: PAD, y: centre(1, 0) });
  levels.forEach((steps, level) => steps.forEach((s, i) => pos.set(s.name, { x: PAD + (level + 1) * (W + GAPX), y: centre(steps.length, i) })));
  const statusOf = (name) => record.state.steps?.[name]?.status ?? 'pending';

  const edges = def.steps.flatMap((s) =>
    (s.after.length ? s.after : ['']).map((from) => {
      const a = pos.get(from), b = pos.get(s.name);
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
      return svg('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}`, fill: 'none', stroke: '#8a93a3', 'stroke-width': 1.5, 'marker-end': 'url(#arrow)' });
    }),
  );
  const start = pos.get('');
  const nodes = [
    svg('g', { 'data-node': 'start' },
      svg('rect', { x: start.x, y: start.y, width: W, height: H, rx: 32, fill: '#fff', stroke: '#1d2330', 'stroke-width': 1.5 }),
      svg('text', { x: start.x + W / 2, y: start.y + 26, 'text-anchor': 'middle', 'font-weight': 600 }, 'start'),
      svg('text', { x: start.x + W / 2, y: start.y + 44, 'text-anchor': 'middle', fill: '#5b6475' }, def.startedBy),
    ),
    ...def.steps.map((s) => {
      const p = pos.get(s.name);
      const status = statusOf(s.name);
      const step = record.state.steps?.[s.name];
      const tip = [`${s.name} (${s.owner}): ${status}`, s.pivot ? 'the pivot: the point of no return' : s.forwardOnly ? 'after the pivot: retried forward, never undone' : s.compensatedBy ? `undone by ${s.compensatedBy}` : 'cannot be undone', step?.reason ? `reason: ${step.reason}` : ''].filter(Boolean).join('\n');
      return svg('g', { 'data-step': s.name, 'data-status': status, tabindex: 0, role: 'img', 'aria-label': tip.replaceAll('\n', '; ') },
        svg('title', {}, tip),
        svg('rect', { x: p.x, y: p.y, width: W, height: H, rx: 6, fill: COLOURS[status], stroke: s.pivot ? '#1d2330' : COLOURS[status], 'stroke-width': s.pivot ? 4 : 1 }),
        svg('text', { x: p.x + 10, y: p.y + 20, fill: '#fff', 'font-weight': 700 }, s.name.length > 22 ? `${s.name.slice(0, 21)}…` : s.name),
        svg('text', { x: p.x + 10, y: p.y + 37, fill: '#fff' }, s.owner),
        svg('text', { x: p.x + 10, y: p.y + 54, fill: '#fff', 'font-style': 'italic' }, `${status}${step?.timedOut ? ' · timed out' : ''}${s.pivot ? ' · PIVOT' : ''}`),
      );
    }),
  ];
  const picture = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': `Steps of ${def.name} v${def.version}` },
    svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 4, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#8a93a3' }))),
    edges,
    nodes,
  );
  const legend = h('div', { class: 'legend' }, STEP_STATUSES.map((s) => h('span', {}, h('i', { style: `background:${COLOURS[s]}` }), s)), h('span', {}, h('i', { style: 'background:#fff;border:3px solid #1d2330' }), 'pivot'));
  return h('div', { class: 'diagram', id: 'diagram' }, picture, legend);
}

function stepsTable(def, record) {
  return h(
    'table',
    { id: 'steps', 'aria-label': 'Steps' },
    h('thead', {}, h('tr', {}, ['Step', 'Owner', 'Status', 'Attempts', 'Started', 'Ended', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, def.steps.map((s) => {
      const st = record.state.steps?.[s.name];
      const status = st?.status ?? 'pending';
      return h('tr', { 'data-step': s.name }, h('td', { class: 'mono' }, s.name, s.pivot ? ' (pivot)' : ''), h('td', {}, s.owner), h('td', {}, badge(status)), h('td', {}, st?.attempts ?? 0), h('td', {}, time(st?.startedAt)), h('td', {}, time(st?.endedAt)), h('td', {}, st?.reason ?? ''));
    })),
  );
}

function timelineTable(timeline) {
  const typeOf = new Map(timeline.events.map((e) => [e.messageId, e.type]));
  return h(
    'table',
    { id: 'timeline', 'aria-label': 'Timeline from the event log' },
    h('thead', {}, h('tr', {}, ['Time', 'Position', 'Type', 'Service', 'Caused by', 'Payload'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, timeline.events.map((e) => {
      const details = h('details', {}, h('summary', {}, 'show'));
      // The payload is put in the page when asked for.
      details.addEventListener('toggle', () => {
        if (details.open && details.children.length === 1) details.append(h('pre', {}, JSON.stringify(e.payload, null, 2)));
      });
      const cause = e.causationId === e.correlationId ? 'the saga' : typeOf.has(e.causationId) ? typeOf.get(e.causationId) : e.causationId.slice(0, 8);
      return h('tr', { 'data-type': e.type }, h('td', {}, time(e.at)), h('td', { class: 'mono' }, `${e.topic}/${e.partition}@${e.offset}`), h('td', { class: 'mono' }, e.type), h('td', {}, e.service), h('td', { class: 'mono', title: e.causationId }, cause), h('td', {}, details));
    })),
  );
}

async function sagaPage(view, id) {
  const path = `/sagas/${encodeURIComponent(id)}`;
  let record;
  try {
    record = await api(`${path}?shape=record`);
  } catch (err) {
    if (err.status === 404) {
      // A saga just started reaches the projection a moment later: the page keeps looking, and opens it when it does.
      view.append(h('h1', {}, 'Saga not found'), h('p', { class: 'error', role: 'alert' }, `No saga ${id} in the projection (yet: this page opens it when it appears).`), h('p', {}, h('a', { href: '#/sagas' }, '← All sagas')));
      return every(1_500, async () => {
        const found = await api(`${path}?shape=record`).then(() => true, (e) => (e.status === 404 ? false : Promise.reject(e)));
        if (found) route();
      });
    }
    throw err;
  }
  const def = await api(`${path}/definition`);
  const head = h('div');
  const picture = h('div');
  const parked = h('div');
  const timeline = h('div', {}, h('p', { class: 'muted' }, 'Reading the event log…'));
  view.append(h('p', {}, h('a', { href: '#/sagas' }, '← All sagas')), h('h1', {}, id), head, h('h2', {}, 'Steps'), picture, h('h2', {}, 'Parked messages'), parked, h('h2', {}, 'Timeline'), timeline);

  const refresh = async () => {
    record = await api(`${path}?shape=record`);
    render();
    await Promise.all([loadTimeline(), loadParked()]);
  };
  // The actions are made once and updated in place: a re-render never swaps a button out from under a click.
  const cancelButton = actionButton('Cancel saga…', {
    id: 'cancel-saga',
    title: `Cancel saga ${id}?`,
    text: `What has run is undone, last first${def.pivot ? `; refused once the pivot (${def.pivot}) has started` : ''}.`,
    run: async ({ reason }) => {
      const taken = await api(`${path}/cancel`, { method: 'POST', body: JSON.stringify({ reason, by: 'web-ui' }) });
      return `Cancel requested: the saga is ${taken.status}.`;
    },
    after: () => refresh(),
  });
  const retryButton = actionButton('Retry compensation…', {
    id: 'retry-compensation',
    title: `Retry the compensation of ${id}?`,
    text: 'Each step whose undoing failed is undone again. Do this once its cause is fixed.',
    danger: false,
    run: async ({ reason }) => {
      const taken = await api(`${path}/retry`, { method: 'POST', body: JSON.stringify({ reason, by: 'web-ui' }) });
      return `Compensation retry requested: the saga is ${taken.status}.`;
    },
    after: () => refresh(),
  });
  const facts = h('div');
  head.append(facts, h('div', { class: 'actions' }, cancelButton, retryButton));
  const render = () => {
    const running = record.status === 'Running';
    const failed = record.status === 'Failed';
    facts.replaceChildren(
      h('dl', { class: 'facts' },
        h('dt', {}, 'Definition'), h('dd', {}, `${record.saga} v${record.version}`),
        h('dt', {}, 'State'), h('dd', { id: 'saga-status' }, badge(record.status)),
        h('dt', {}, 'Tenant'), h('dd', {}, record.tenantId),
        h('dt', {}, 'Started'), h('dd', {}, time(record.startedAt)),
        h('dt', {}, 'Ended'), h('dd', {}, time(record.endedAt)),
        record.state.reason ? [h('dt', {}, 'Reason'), h('dd', { id: 'saga-reason' }, record.state.reason)] : [],
      ),
    );
    cancelButton.disabled = !running;
    cancelButton.title = running ? '' : `only a Running saga can be cancelled (this one is ${record.status})`;
    retryButton.disabled = !failed;
    retryButton.title = failed ? '' : `only a Failed saga's compensation can be retried (this one is ${record.status})`;
    picture.replaceChildren(diagram(def, record), stepsTable(def, record));
  };
  // Reads may finish out of order (the log takes a few seconds): only the latest one started is shown,
  // and one that failed is tried again on the next tick.
  let stale = false;
  const turns = { timeline: 0, parked: 0 };
  const loadTimeline = async () => {
    const turn = ++turns.timeline;
    try {
      const events = await api(`${path}/events`);
      if (turn === turns.timeline) timeline.replaceChildren(timelineTable(events));
    } catch (err) {
      if (turn !== turns.timeline) return;
      stale = true;
      timeline.replaceChildren(h('p', { class: 'error' }, `The timeline could not be read: ${err.message}`));
    }
  };
  const loadParked = async () => {
    const turn = ++turns.parked;
    let messages;
    try {
      messages = (await api(`/parked?saga=${encodeURIComponent(id)}`)).parked;
    } catch (err) {
      if (turn !== turns.parked) return;
      stale = true;
      return parked.replaceChildren(h('p', { class: 'error' }, `Parked messages could not be read: ${err.message}`));
    }
    if (turn !== turns.parked) return;
    if (messages.length === 0) return parked.replaceChildren(h('p', { class: 'muted', id: 'no-parked' }, 'None.'));
    parked.replaceChildren(h('table', { id: 'parked', 'aria-label': 'Parked messages' },
      h('thead', {}, h('tr', {}, ['Service', 'Message', 'Attempts', 'Error', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, messages.map((m) => h('tr', {},
        h('td', {}, m.service), h('td', { class: 'mono' }, m.type), h('td', {}, m.attempts), h('td', {}, m.error),
        h('td', { class: 'actions' },
          ['resume', 'skip'].map((action) => actionButton(action === 'resume' ? 'Resume…' : 'Skip…', {
            title: `${action === 'resume' ? 'Resume' : 'Skip'} ${m.type} at ${m.service}?`,
            text: action === 'resume' ? 'It is handled again, with fresh retries.' : 'It is folded into the participant’s view without running its handlers; the saga goes on.',
            danger: action === 'skip',
            run: async ({ reason }) => {
              await api(`${path}/${action}`, { method: 'POST', body: JSON.stringify({ service: m.service, reason, by: 'web-ui' }) });
              return `${m.type} at ${m.service}: ${action === 'resume' ? 'resumed' : 'skipped'}.`;
            },
            after: refresh,
          })),
        ),
      ))),
    ));
  };
  render();
  await Promise.all([loadTimeline(), loadParked()]);
  // Live: the record is cheap to read; the log and the parked messages are read again when it moved.
  return every(1_500, async () => {
    const next = await api(`${path}?shape=record`);
    if (!stale && next.updatedAt === record.updatedAt && next.status === record.status) return;
    stale = false;
    record = next;
    render();
    await Promise.all([loadTimeline(), loadParked()]);
  });
}

// ---------------------------------------------------------------------------------------------
// Stuck sagas and dead letters

async function stuckPage(view) {
  const body = h('div');
  view.append(h('h1', {}, 'Stuck sagas'), h('p', { class: 'muted' }, 'Sagas more than 30 s past a step’s deadline with no verdict, and sagas waiting on a parked message.'), body);
  const load = async () => {
    const { stuck } = await api('/stuck');
    body.replaceChildren(stuck.length === 0 ? h('p', { class: 'muted' }, 'None.') : h('table', { id: 'stuck' },
      h('thead', {}, h('tr', {}, ['Saga id', 'Definition', 'State', 'Why'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, stuck.map((s) => h('tr', {}, h('td', {}, sagaLink(s.sagaId)), h('td', {}, s.saga), h('td', {}, badge(s.status)), h('td', {}, s.reason)))),
    ));
  };
  await load();
  return every(3_000, load);
}

async function deadLettersPage(view, params) {
  const filters = h(
    'form',
    { class: 'bar', id: 'dlq-filters', role: 'search', 'aria-label': 'Filter dead letters' },
    ['topic', 'saga', 'error'].map((k) => h('label', {}, k === 'saga' ? 'Saga id' : k[0].toUpperCase() + k.slice(1), h('input', { name: k, value: params.get(k) ?? '', placeholder: 'any', size: 18 }))),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
  );
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const k of ['topic', 'saga', 'error']) if (filters.elements[k].value.trim()) next.set(k, filters.elements[k].value.trim());
    location.hash = `#/dead-letters?${next}`;
  });
  const query = new URLSearchParams([...params].filter(([k]) => ['topic', 'saga', 'error'].includes(k)));
  const body = h('div');
  const selected = new Set();
  const redrive = actionButton('Redrive selected…', {
    id: 'redrive',
    title: 'Redrive the selected dead letters?',
    text: 'Each record goes back, once, to the consumer groups that could not handle it. A saga that has ended, or a record redriven before, is refused unless forced.',
    withForce: true,
    run: async ({ reason, force }) => {
      const { redriven } = await api('/dead-letters/redrive', { method: 'POST', body: JSON.stringify({ positions: [...selected], reason, by: 'web-ui', ...(force ? { force: true } : {}) }) });
      selected.clear();
      return `Redriven: ${redriven.map((r) => `${r.source} → ${r.to} (${r.groups.join(', ')})`).join('; ')}`;
    },
    after: () => {
      shown = ''; // draw again even if the log read has not caught up yet: the selection was cleared
      return load();
    },
  });
  const syncButton = () => (redrive.disabled = selected.size === 0);
  view.append(h('h1', {}, 'Dead letters'), filters, h('div', { class: 'actions' }, redrive), body);
  let shown = '';
  const load = async () => {
    const { deadLetters } = await api(`/dead-letters?${query}`);
    const key = JSON.stringify(deadLetters);
    if (key === shown) return;
    shown = key;
    const position = (e) => `${e.source.topic}/${e.source.partition}@${e.source.offset}`;
    for (const p of [...selected]) if (!deadLetters.some((e) => position(e) === p)) selected.delete(p);
    body.replaceChildren(deadLetters.length === 0 ? h('p', { class: 'muted' }, 'None.') : h('table', { id: 'dead-letters' },
      h('thead', {}, h('tr', {}, ['', 'Record', 'Type', 'Saga', 'Groups that failed', 'Error', 'Last failed', 'Redriven'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, deadLetters.map((e) => {
        const at = position(e);
        const box = h('input', { type: 'checkbox', 'aria-label': `select ${at}`, checked: selected.has(at) ? true : null, onchange: (ev) => { ev.target.checked ? selected.add(at) : selected.delete(at); syncButton(); } });
        return h('tr', { 'data-position': at },
          h('td', {}, box), h('td', { class: 'mono' }, at, e.redriveOf ? h('div', { class: 'muted' }, `copy of ${e.redriveOf}`) : null), h('td', { class: 'mono' }, e.type ?? '—'),
          h('td', {}, e.sagaId ? [sagaLink(e.sagaId), ' ', e.saga ? badge(e.saga.status) : h('span', { class: 'muted' }, 'not projected')] : '—'),
          h('td', {}, [...e.groups, ...(e.unnamedGroups ? [`${e.unnamedGroups} unnamed`] : [])].join(', ')), h('td', {}, `${e.errorCode}: ${e.error}`), h('td', {}, time(e.lastFailedAt)),
          h('td', {}, e.redriven.length ? e.redriven.map((r) => h('div', {}, `${r.to} by ${r.by}: ${r.reason}`)) : '—'));
      })),
    ));
    syncButton();
  };
  await load();
  return every(5_000, load);
}

// ---------------------------------------------------------------------------------------------
// Routing and keys

let stopLive = () => {};
let routing = 0;

async function route() {
  stopLive();
  stopLive = () => {};
  const turn = ++routing;
  const [path, query = ''] = (location.hash.slice(1) || '/sagas').split('?');
  const params = new URLSearchParams(query);
  const section = path.startsWith('/saga/') ? 'sagas' : path.slice(1);
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // Each route draws into a container of its own: a view left while it still loads writes into a detached one.
  const view = h('div');
  const main = document.getElementById('view');
  main.replaceChildren(view);
  document.getElementById('live').textContent = '';
  try {
    const stop = path.startsWith('/saga/')
      ? await sagaPage(view, decodeURIComponent(path.slice('/saga/'.length)))
      : path === '/stuck'
        ? await stuckPage(view)
        : path === '/dead-letters'
          ? await deadLettersPage(view, params)
          : await listPage(view, params);
    if (turn === routing) stopLive = stop;
    else stop();
  } catch (err) {
    if (turn === routing) view.append(err.status === 401 ? tokenForm(err.message) : h('p', { class: 'error', role: 'alert' }, err.message));
  }
  if (turn === routing) {
    document.title = `${view.querySelector('h1')?.textContent ?? 'sagaline'} · sagaline`;
    if (focusSearch && document.getElementById('saga-id')) document.getElementById('saga-id').focus();
    else if (!main.contains(document.activeElement)) main.focus();
    focusSearch = false;
  }
}

// `/` finds a saga by id, from any view.
let focusSearch = false;
document.addEventListener('keydown', (event) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? '') || document.querySelector('dialog[open]');
  if (event.key !== '/' || typing || event.ctrlKey || event.metaKey || event.altKey) return;
  event.preventDefault();
  const search = document.getElementById('saga-id');
  if (search) return search.focus();
  focusSearch = true;
  location.hash = '#/sagas';
});

/** Asked for when the API answers 401: the token is kept in this tab's session storage only. */
function tokenForm(why) {
  const input = h('input', { type: 'password', id: 'api-token', name: 'token', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'sgl_…' });
  return h(
    'form',
    {
      class: 'token',
      onsubmit: (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        route();
      },
    },
    h('h1', {}, 'API token'),
    h('p', { class: 'error', role: 'alert' }, why),
    h('label', { for: 'api-token' }, 'Token (from ', h('code', {}, 'sagaline tokens create'), ')'),
    input,
    h('button', { type: 'submit' }, 'Use this token'),
  );
}

document.getElementById('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  route();
});

window.addEventListener('hashchange', route);
route();
