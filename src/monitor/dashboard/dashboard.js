/* The structured-rx dashboard: the query list and, for the selected query, live uPlot charts fed by the server's
 * event stream (/api/events) after loading the recent progress (/api/queries/:id/progress). Plain browser script:
 * uPlot comes from the installed package, served by the monitoring server itself. */
;(() => {
  'use strict'
  const PHASES = ['latestOffset', 'getBatch', 'queryPlanning', 'addBatch', 'walCommit', 'commitOffsets']
  const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563']
  const MAX_POINTS = 600
  const MAX_BATCH_ROWS = 25

  const $ = (id) => document.getElementById(id)
  const state = { queries: [], selected: location.hash.slice(1) || null, progress: [], charts: [], operators: [], lastBatchId: null }

  async function getJson(path) {
    const res = await fetch(path, { cache: 'no-store' })
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
    return res.json()
  }

  function text(s) {
    const span = document.createElement('span')
    span.textContent = s
    return span.innerHTML
  }

  function uptime(q) {
    if (!q.startedAt) return ''
    const s = Math.max(0, Math.round((Date.now() - Date.parse(q.startedAt)) / 1000))
    if (!q.isActive) return 'stopped'
    return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  }

  /** "8 tasks · 3 members" for a query that runs as tasks, else empty. */
  function tasksSummary(q) {
    const s = q.scaleOut
    if (!s) return ''
    return s.members ? `${s.tasks} tasks · ${s.members.length} members` : `${s.tasks} tasks`
  }

  function renderQueries() {
    const body = $('queries').querySelector('tbody')
    body.innerHTML = state.queries
      .map(
        (q) => `<tr data-id="${text(q.id)}" class="${q.id === state.selected ? 'selected' : ''}">
          <td>${text(q.name ?? '(unnamed)')}</td><td title="${text(q.id)}">${text(q.id.slice(0, 8))}</td>
          <td>${text(q.status.message)}</td><td>${text(tasksSummary(q))}</td><td class="num">${q.lastBatchId ?? ''}</td><td>${uptime(q)}</td>
          <td class="error-cell">${text(q.exception ?? '')}</td></tr>`,
      )
      .join('')
    $('no-queries').hidden = state.queries.length > 0
    for (const tr of body.querySelectorAll('tr')) tr.addEventListener('click', () => select(tr.dataset.id))
  }

  function renderDetail() {
    const q = state.queries.find((x) => x.id === state.selected)
    $('detail').hidden = q === undefined
    if (q === undefined) return
    $('detail-title').textContent = `${q.name ?? '(unnamed)'} · ${q.id}`
    $('detail-status').textContent = `${q.status.message} · run ${q.runId}`
    $('detail-error').hidden = !q.exception
    $('detail-error').textContent = q.exception ?? ''
    const s = q.scaleOut
    $('detail-tasks').hidden = !s
    if (s) {
      const members = s.members ? `members ${s.members.join(', ')} · this member ${s.member} · ` : ''
      $('detail-tasks-summary').textContent = `${members}${s.tasks} tasks · here ${Math.round(s.aggregate.processedRowsPerSecond)} rows/s`
      // One row per task: its owner and epoch, and its last batch and rate where it runs here (else blank).
      $('tasks').querySelector('tbody').innerHTML = s.taskStatus
        .map(
          (t) => `<tr data-task="${t.task}"><td class="num">${t.name && t.name !== `task-${t.task}` ? text(t.name) : t.task}</td><td>${text(t.owner ?? 'free')}</td>
            <td class="num">${t.epoch ?? ''}</td><td class="num">${t.lastBatchId ?? ''}</td>
            <td class="num">${t.processedRowsPerSecond === null ? '' : t.processedRowsPerSecond.toFixed(1)}</td></tr>`,
        )
        .join('')
    }
  }

  function renderBatches() {
    const rows = state.progress.filter((p, i, all) => i === 0 || p.batchId !== all[i - 1].batchId)
    $('batches').querySelector('tbody').innerHTML = rows
      .slice(-MAX_BATCH_ROWS)
      .reverse()
      .map(
        (p) => `<tr><td class="num">${p.batchId}</td><td>${text(p.timestamp)}</td><td class="num">${p.numInputRows}</td>
          <td class="num">${p.inputRowsPerSecond.toFixed(1)}</td><td class="num">${p.processedRowsPerSecond.toFixed(1)}</td>
          <td class="num">${p.batchDuration}</td><td class="num">${p.sink.numOutputRows}</td></tr>`,
      )
      .join('')
  }

  function chart(id, series, data, opts = {}) {
    const el = $(id)
    el.innerHTML = ''
    const u = new uPlot(
      {
        width: Math.max(300, el.clientWidth || 440),
        height: 200,
        scales: { x: { time: true } },
        axes: [{}, { size: 80 }],
        series: [{}, ...series],
        ...opts,
      },
      data,
      el,
    )
    return { id, u, el, build: null }
  }

  const seconds = (p) => Date.parse(p.timestamp) / 1000

  /** Each chart: its series and how its data arrays come out of the progress list. */
  function chartSpecs() {
    const ops = state.operators
    const line = (label, i, extra = {}) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, ...extra })
    return [
      {
        id: 'chart-rates',
        series: [line('input rows/s', 0), line('processed rows/s', 2)],
        data: (ps) => [ps.map(seconds), ps.map((p) => p.inputRowsPerSecond), ps.map((p) => p.processedRowsPerSecond)],
      },
      {
        id: 'chart-rows',
        series: [line('input rows', 0, { fill: 'rgba(37,99,235,0.15)' })],
        data: (ps) => [ps.map(seconds), ps.map((p) => p.numInputRows)],
      },
      {
        // Stacked: each series is the sum of its phase and the phases before it, drawn largest first so each
        // band shows one phase; the legend shows the phase's own value.
        id: 'chart-duration',
        series: PHASES.map((phase, i) => ({
          label: phase,
          stroke: COLORS[i],
          fill: COLORS[i] + '55',
          value: (u, v, si, idx) => (idx == null ? '' : String(state.progress[idx]?.durationMs[phase] ?? '')),
        })).reverse(),
        data: (ps) => {
          const cumulative = PHASES.map((_, k) => ps.map((p) => PHASES.slice(0, k + 1).reduce((n, ph) => n + (p.durationMs[ph] ?? 0), 0)))
          return [ps.map(seconds), ...cumulative.reverse()]
        },
      },
      {
        id: 'chart-state-rows',
        series: ops.map((op, i) => line(op, i)),
        data: (ps) => [ps.map(seconds), ...ops.map((_, i) => ps.map((p) => p.stateOperators[i]?.numRowsTotal ?? null))],
      },
      {
        id: 'chart-state-memory',
        series: ops.map((op, i) => line(op, i)),
        data: (ps) => [ps.map(seconds), ...ops.map((_, i) => ps.map((p) => p.stateOperators[i]?.memoryUsedBytes ?? null))],
      },
      {
        id: 'chart-watermark',
        series: [line('watermark lag (s)', 4)],
        data: (ps) => [ps.map(seconds), ps.map((p) => (p.eventTime.watermark && Date.parse(p.eventTime.watermark) > 0 ? (Date.parse(p.timestamp) - Date.parse(p.eventTime.watermark)) / 1000 : null))],
      },
    ]
  }

  function buildCharts() {
    for (const c of state.charts) c.u.destroy()
    state.operators = (state.progress.find((p) => p.stateOperators.length > 0)?.stateOperators ?? []).map((s) => s.operatorName)
    state.charts = chartSpecs().map((spec) => {
      const c = chart(spec.id, spec.series, spec.data(state.progress))
      c.build = spec.data
      c.el.dataset.points = String(state.progress.length)
      return c
    })
  }

  function updateCharts() {
    const ops = (state.progress.find((p) => p.stateOperators.length > 0)?.stateOperators ?? []).map((s) => s.operatorName)
    if (ops.join('\u0000') !== state.operators.join('\u0000')) return buildCharts()
    for (const c of state.charts) {
      c.u.setData(c.build(state.progress))
      c.el.dataset.points = String(state.progress.length)
    }
  }

  async function select(id) {
    state.selected = id
    history.replaceState(null, '', `#${id}`)
    renderQueries()
    renderDetail()
    state.progress = await getJson(`api/queries/${encodeURIComponent(id)}/progress`)
    buildCharts()
    renderBatches()
  }

  async function refreshQueries() {
    state.queries = await getJson('api/queries')
    if (state.selected === null || !state.queries.some((q) => q.id === state.selected)) {
      if (state.queries.length > 0) return select(state.queries[0].id)
    }
    renderQueries()
    renderDetail()
  }

  function renderAlerts(alerts) {
    const box = $('alerts')
    box.hidden = alerts.length === 0
    box.innerHTML = alerts
      .map((a) => `<div class="alert" data-rule="${text(a.rule)}"><b>${text(a.rule)}</b>${text(a.queryName ?? a.queryId)}: ${text(a.message)}</div>`)
      .join('')
  }

  function connect() {
    const events = new EventSource('api/events')
    events.onopen = () => {
      $('connection').dataset.state = 'live'
      $('connection').textContent = 'live'
    }
    events.onerror = () => {
      $('connection').dataset.state = 'lost'
      $('connection').textContent = 'reconnecting…'
    }
    events.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data)
      const q = state.queries.find((x) => x.id === p.id)
      if (q) q.lastBatchId = p.batchId
      if (p.id !== state.selected) return
      state.progress.push(p)
      if (state.progress.length > MAX_POINTS) state.progress.shift()
      updateCharts()
      renderBatches()
    })
    for (const type of ['started', 'terminated', 'idle']) events.addEventListener(type, () => refreshQueries())
    events.addEventListener('alert', () => getJson('api/alerts').then(renderAlerts))
  }

  refreshQueries().then(() => getJson('api/alerts').then(renderAlerts))
  connect()
  // Status and uptime change between events.
  setInterval(() => refreshQueries().catch(() => undefined), 1000)
})()
