import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Subscription } from 'rxjs'
import type { StreamingQueryProgress } from '../exec/progress.js'
import type { Session, StreamingQueryEvent } from '../session.js'
import { observeEvents } from './queryDirectory.js'

/** Options of `sessionMetrics`. */
export interface SessionMetricsOptions {
  /** The registry to register the series in (default: a new one for this session). */
  readonly registry?: Registry
  /** Terminated queries whose series are kept (with `structured_rx_query_active 0`); older ones are removed (default 20). */
  readonly retainTerminated?: number
  /** Where a failure inside the metrics goes (default console.warn). */
  readonly warn?: (message: string) => void
}

/** The Prometheus series of one session's queries. */
export interface SessionMetrics {
  readonly registry: Registry
  /** The registry in Prometheus text format, as `GET /metrics` serves it. */
  text(): Promise<string>
  /** Stops updating and removes this session's series from the registry. */
  close(): void
}

type QueryLabels = { query_name: string; query_id: string }
const QUERY = ['query_name', 'query_id'] as const
const PHASES = ['getOffset', 'getBatch', 'queryPlanning', 'addBatch', 'walCommit', 'commitOffsets', 'triggerExecution'] as const
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/**
 * Publishes the session's queries as Prometheus series (prom-client), updated from every progress event: rates,
 * row counters, a batch-duration histogram, per-phase durations, state rows and memory per stateful operator, rows
 * dropped by the watermark, watermark lag, last batch id, whether the query is active or failed, and listener events
 * the session dropped. Every series is labelled with `query_name` and `query_id` (plus `operator` or `phase` where the
 * name says so): nothing per key or per batch, so the number of series stays bounded.
 * @example const metrics = sessionMetrics(session); http.createServer(async (_, res) => res.end(await metrics.text()))
 * @throws Error when the registry already holds `structured_rx_` series (one `SessionMetrics` per registry).
 */
export function sessionMetrics(session: Session, options: SessionMetricsOptions = {}): SessionMetrics {
  const registry = options.registry ?? new Registry()
  if (registry.getSingleMetric('structured_rx_query_active') !== undefined) {
    throw new Error('sessionMetrics: this registry already holds structured_rx_ series; give each session its own registry')
  }
  const series = new QuerySeries(registry, session, options.retainTerminated ?? 20)
  const warn = options.warn ?? ((m: string) => console.warn(m))
  const subscription: Subscription = observeEvents(session, (e) => series.on(e), warn)
  for (const q of session.streams.active) {
    series.started(q.id, q.name)
    if (q.lastProgress !== undefined) series.progress(q.lastProgress)
  }
  return {
    registry,
    text: () => registry.metrics(),
    close() {
      subscription.unsubscribe()
      series.unregister()
    },
  }
}

/** The metric objects and which label sets each query has used, so a query's series can be removed as a whole. */
class QuerySeries {
  private readonly labels = new Map<string, QueryLabels>()
  private readonly operators = new Map<string, string[]>()
  private readonly lastBatchId = new Map<string, number>()
  private readonly watermarkMs = new Map<string, number>()
  private readonly terminatedOrder: string[] = []

  private readonly m: ReturnType<typeof defineMetrics>

  constructor(
    private readonly registry: Registry,
    session: Session,
    private readonly retainTerminated: number,
  ) {
    this.m = defineMetrics(registry, () => session.streams.droppedEvents, () => this.watermarkLags())
  }

  on(e: StreamingQueryEvent): void {
    if (e.type === 'started') this.started(e.id, e.name)
    else if (e.type === 'progress') this.progress(e.progress)
    else if (e.type === 'terminated') this.terminated(e.id, e.exception !== undefined)
  }

  started(id: string, name: string | undefined): void {
    const i = this.terminatedOrder.indexOf(id)
    if (i >= 0) this.terminatedOrder.splice(i, 1)
    this.remove(id)
    const labels = { query_name: name ?? '', query_id: id }
    this.labels.set(id, labels)
    this.m.active.set(labels, 1)
    this.m.failed.set(labels, 0)
  }

  progress(p: StreamingQueryProgress): void {
    const labels = this.labels.get(p.id)
    if (labels === undefined) return
    this.m.inputRate.set(labels, p.inputRowsPerSecond)
    this.m.processedRate.set(labels, p.processedRowsPerSecond)
    this.m.lastProgressTime.set(labels, Date.parse(p.timestamp) / 1000)
    if (p.eventTime.watermark !== undefined) this.watermarkMs.set(p.id, Date.parse(p.eventTime.watermark))
    // An idle progress repeats the last batch id: it is not a batch and must not count as one.
    if (this.lastBatchId.get(p.id) === p.batchId) return
    this.lastBatchId.set(p.id, p.batchId)
    this.m.batches.inc(labels)
    this.m.lastBatch.set(labels, p.batchId)
    this.m.inputRows.inc(labels, p.numInputRows)
    this.m.outputRows.inc(labels, p.sink.numOutputRows)
    this.m.batchDuration.observe(labels, p.durationMs.triggerExecution / 1000)
    for (const phase of PHASES) this.m.phaseDuration.set({ ...labels, phase }, (p.durationMs[phase] ?? 0) / 1000)
    const operators = operatorLabels(p.stateOperators.map((s) => s.operatorName))
    this.operators.set(p.id, operators)
    p.stateOperators.forEach((s, i) => {
      const operator = operators[i]!
      this.m.stateRows.set({ ...labels, operator }, s.numRowsTotal)
      this.m.stateMemory.set({ ...labels, operator }, s.memoryUsedBytes)
      this.m.dropped.inc({ ...labels, operator }, s.numRowsDroppedByWatermark)
    })
  }

  terminated(id: string, failed: boolean): void {
    const labels = this.labels.get(id)
    if (labels === undefined) return
    this.m.active.set(labels, 0)
    this.m.failed.set(labels, failed ? 1 : 0)
    this.terminatedOrder.push(id)
    while (this.terminatedOrder.length > this.retainTerminated) this.remove(this.terminatedOrder.shift()!)
  }

  unregister(): void {
    for (const { name } of this.registry.getMetricsAsArray()) {
      if (name.startsWith('structured_rx_')) this.registry.removeSingleMetric(name)
    }
  }

  private remove(id: string): void {
    const labels = this.labels.get(id)
    if (labels === undefined) return
    for (const m of [this.m.active, this.m.failed, this.m.inputRate, this.m.processedRate, this.m.lastBatch, this.m.lastProgressTime, this.m.watermarkLag]) m.remove(labels)
    for (const m of [this.m.inputRows, this.m.outputRows, this.m.batches]) m.remove(labels)
    this.m.batchDuration.remove(labels)
    for (const phase of PHASES) this.m.phaseDuration.remove({ ...labels, phase })
    for (const operator of this.operators.get(id) ?? []) {
      this.m.stateRows.remove({ ...labels, operator })
      this.m.stateMemory.remove({ ...labels, operator })
      this.m.dropped.remove({ ...labels, operator })
    }
    for (const map of [this.labels, this.operators, this.lastBatchId, this.watermarkMs]) map.delete(id)
  }

  /** Now minus each query's watermark; a watermark of 0 means no event seen yet, and a lag since 1970 would only page someone. */
  private watermarkLags(): [QueryLabels, number][] {
    const now = Date.now()
    const lags: [QueryLabels, number][] = []
    for (const [id, ms] of this.watermarkMs) {
      const labels = this.labels.get(id)
      if (labels !== undefined && ms > 0) lags.push([labels, (now - ms) / 1000])
    }
    return lags
  }
}

/** Every series, registered in `registry`; the two computed at scrape time read `droppedEvents` and `watermarkLags`. */
function defineMetrics(registry: Registry, droppedEvents: () => number, watermarkLags: () => [QueryLabels, number][]) {
  const registers = [registry]
  const gauge = (name: string, help: string, extra: readonly string[] = []) =>
    new Gauge({ name, help, labelNames: [...QUERY, ...extra], registers })
  const counter = (name: string, help: string, extra: readonly string[] = []) =>
    new Counter({ name, help, labelNames: [...QUERY, ...extra], registers })
  const listenerDrops: Counter = new Counter({
    name: 'structured_rx_listener_events_dropped_total',
    help: 'Listener events the session dropped because a listener fell too far behind',
    registers,
    collect() {
      listenerDrops.reset()
      listenerDrops.inc(droppedEvents())
    },
  })
  const watermarkLag: Gauge<string> = new Gauge({
    name: 'structured_rx_watermark_lag_seconds',
    help: 'Now minus the event-time watermark, for queries with a watermark',
    labelNames: QUERY,
    registers,
    collect() {
      for (const [labels, lag] of watermarkLags()) watermarkLag.set(labels, lag)
    },
  })
  return {
    active: gauge('structured_rx_query_active', '1 while the query runs, 0 after it terminated'),
    failed: gauge('structured_rx_query_failed', '1 when the query terminated with an error'),
    inputRate: gauge('structured_rx_input_rows_per_second', 'Rows per second arriving, over the time since the previous trigger started (last progress)'),
    processedRate: gauge('structured_rx_processed_rows_per_second', "Rows per second processed, over the last trigger's duration"),
    inputRows: counter('structured_rx_input_rows_total', 'Rows read from the source'),
    outputRows: counter('structured_rx_output_rows_total', 'Rows written to the sink'),
    batches: counter('structured_rx_batches_total', 'Micro-batches completed'),
    lastBatch: gauge('structured_rx_last_batch_id', 'Id of the last completed micro-batch'),
    lastProgressTime: gauge('structured_rx_last_progress_timestamp_seconds', 'Start time (Unix seconds) of the trigger of the last progress, idle ones included'),
    batchDuration: new Histogram({
      name: 'structured_rx_batch_duration_seconds',
      help: 'Duration of each micro-batch trigger (durationMs.triggerExecution)',
      labelNames: QUERY,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    phaseDuration: gauge('structured_rx_batch_phase_duration_seconds', 'Duration of each phase of the last micro-batch (durationMs keys)', ['phase']),
    stateRows: gauge('structured_rx_state_rows', 'Rows held in the state of each stateful operator (numRowsTotal)', ['operator']),
    stateMemory: gauge('structured_rx_state_memory_bytes', 'Estimated memory of the state of each stateful operator', ['operator']),
    dropped: counter('structured_rx_rows_dropped_by_watermark_total', 'Late rows dropped by the watermark, per stateful operator', ['operator']),
    watermarkLag,
    listenerDrops,
  }
}

/** Operator names as label values; a name used twice in one query gets `#2`, `#3`… so series never collide. */
function operatorLabels(names: readonly string[]): string[] {
  const seen = new Map<string, number>()
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1
    seen.set(n, k)
    return k === 1 ? n : `${n}#${k}`
  })
}
