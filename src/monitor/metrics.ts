import { createRequire } from 'node:module'
import type { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Subscription } from 'rxjs'
import { isIdleProgress, type StreamingQueryProgress } from '../exec/progress.js'
import type { Session, StreamingQueryEvent } from '../session.js'
import { observeEvents } from './queryDirectory.js'

/**
 * Options of `sessionMetrics`.
 * @example sessionMetrics(session, { registry: promClient.register, retainTerminated: 5 })
 */
export interface SessionMetricsOptions {
  /** The registry to register the series in (default: a new one for this session). */
  readonly registry?: Registry
  /** Terminated queries whose series are kept (with `structured_rx_query_active 0`); older ones are removed (default 20). */
  readonly retainTerminated?: number
  /** Where a failure inside the metrics goes (default console.warn). */
  readonly warn?: (message: string) => void
}

/**
 * The Prometheus series of one session's queries.
 * @example
 * const metrics = sessionMetrics(session)
 * console.log(await metrics.text()) // structured_rx_query_input_rows_total{…} 42 …
 * metrics.close()
 */
export interface SessionMetrics {
  readonly registry: Registry
  /** The registry in Prometheus text format, as `GET /metrics` serves it. */
  text(): Promise<string>
  /** Stops updating and removes this session's series from the registry. */
  close(): void
}

/**
 * prom-client, loaded on the first `sessionMetrics`: importing the library (every worker thread and process that runs
 * a query does) then does not pay for loading it, about a third of the import time.
 */
let promClient: typeof import('prom-client') | undefined
const prom = (): typeof import('prom-client') => (promClient ??= createRequire(import.meta.url)('prom-client') as typeof import('prom-client'))

type QueryLabels = { query_name: string; query_id: string }
const QUERY = ['query_name', 'query_id'] as const
const PHASES = ['latestOffset', 'getBatch', 'queryPlanning', 'addBatch', 'walCommit', 'commitOffsets', 'triggerExecution'] as const
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
  const registry = options.registry ?? new (prom().Registry)()
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

/** What the series of one query are made from; updated per event with plain field writes, read at scrape time. */
interface QueryState {
  readonly labels: QueryLabels
  active: boolean
  failed: boolean
  /** The last progress, idle ones included. */
  last: StreamingQueryProgress | undefined
  /** The last progress of a batch that ran (not of an idle trigger). */
  lastBatch: StreamingQueryProgress | undefined
  inputRows: number
  outputRows: number
  batches: number
  operators: string[]
  droppedByWatermark: number[]
  watermarkMs: number
}

/**
 * The queries' series. An event only updates a `QueryState` (and observes one histogram sample); prom-client's
 * gauges and counters are filled from the states when the registry is scraped, so monitoring costs a batch a few
 * field writes, and a removed query's series disappear with its state.
 */
class QuerySeries {
  private readonly states = new Map<string, QueryState>()
  private readonly terminatedOrder: string[] = []
  private readonly batchDuration: Histogram<string>

  constructor(
    private readonly registry: Registry,
    session: Session,
    private readonly retainTerminated: number,
  ) {
    this.batchDuration = defineMetrics(registry, this.states, () => session.streams.droppedEvents)
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
    this.states.set(id, {
      labels: { query_name: name ?? '', query_id: id },
      active: true,
      failed: false,
      last: undefined,
      lastBatch: undefined,
      inputRows: 0,
      outputRows: 0,
      batches: 0,
      operators: [],
      droppedByWatermark: [],
      watermarkMs: 0,
    })
  }

  progress(p: StreamingQueryProgress): void {
    const q = this.states.get(p.id)
    if (q === undefined) return
    q.last = p
    if (p.eventTime.watermark !== undefined) q.watermarkMs = Date.parse(p.eventTime.watermark)
    if (isIdleProgress(p)) return
    q.lastBatch = p
    q.batches++
    q.inputRows += p.numInputRows
    q.outputRows += p.sink.numOutputRows
    if (q.operators.length !== p.stateOperators.length) q.operators = operatorLabels(p.stateOperators.map((s) => s.operatorName))
    p.stateOperators.forEach((s, i) => (q.droppedByWatermark[i] = (q.droppedByWatermark[i] ?? 0) + s.numRowsDroppedByWatermark))
    this.batchDuration.observe(q.labels, p.durationMs.triggerExecution / 1000)
  }

  terminated(id: string, failed: boolean): void {
    const q = this.states.get(id)
    if (q === undefined) return
    q.active = false
    q.failed = failed
    this.terminatedOrder.push(id)
    while (this.terminatedOrder.length > this.retainTerminated) this.remove(this.terminatedOrder.shift()!)
  }

  unregister(): void {
    for (const { name } of this.registry.getMetricsAsArray()) {
      if (name.startsWith('structured_rx_')) this.registry.removeSingleMetric(name)
    }
  }

  private remove(id: string): void {
    const q = this.states.get(id)
    if (q === undefined) return
    this.batchDuration.remove(q.labels)
    this.states.delete(id)
  }
}

/**
 * Registers every series in `registry`; all but the histogram are computed from `states` at scrape time (reset
 * first, so the series of a forgotten query vanish). Returns the histogram, the one series fed per batch.
 */
function defineMetrics(registry: Registry, states: ReadonlyMap<string, QueryState>, droppedEvents: () => number): Histogram<string> {
  const registers = [registry]
  type Sample = readonly [Readonly<Record<string, string>>, number]
  const perQuery = (f: (q: QueryState) => number | undefined) => (): Sample[] =>
    [...states.values()].flatMap((q) => {
      const v = f(q)
      return v === undefined ? [] : [[q.labels, v] as const]
    })
  const perOperator = (f: (p: StreamingQueryProgress, i: number, q: QueryState) => number) => (): Sample[] =>
    [...states.values()].flatMap((q) =>
      q.lastBatch === undefined ? [] : q.operators.map((operator, i) => [{ ...q.labels, operator }, f(q.lastBatch!, i, q)] as const),
    )
  const gauge = (name: string, help: string, samples: () => Sample[], extra: readonly string[] = []) => {
    const g: Gauge<string> = new (prom().Gauge)({
      name,
      help,
      labelNames: [...QUERY, ...extra],
      registers,
      collect() {
        g.reset()
        for (const [labels, v] of samples()) g.set(labels, v)
      },
    })
  }
  const counter = (name: string, help: string, samples: () => Sample[], extra: readonly string[] = []) => {
    const c: Counter<string> = new (prom().Counter)({
      name,
      help,
      labelNames: [...QUERY, ...extra],
      registers,
      collect() {
        c.reset()
        for (const [labels, v] of samples()) c.inc(labels, v)
      },
    })
  }
  gauge('structured_rx_query_active', '1 while the query runs, 0 after it terminated', perQuery((q) => (q.active ? 1 : 0)))
  gauge('structured_rx_query_failed', '1 when the query terminated with an error', perQuery((q) => (q.failed ? 1 : 0)))
  gauge('structured_rx_input_rows_per_second', 'Rows per second arriving, over the time since the previous trigger started (last progress)', perQuery((q) => q.last?.inputRowsPerSecond))
  gauge('structured_rx_processed_rows_per_second', "Rows per second processed, over the last trigger's duration", perQuery((q) => q.last?.processedRowsPerSecond))
  counter('structured_rx_input_rows_total', 'Rows read from the source', perQuery((q) => q.inputRows))
  counter('structured_rx_output_rows_total', 'Rows written to the sink', perQuery((q) => q.outputRows))
  counter('structured_rx_batches_total', 'Micro-batches completed', perQuery((q) => q.batches))
  gauge('structured_rx_last_batch_id', 'Id of the last completed micro-batch', perQuery((q) => q.lastBatch?.batchId))
  gauge(
    'structured_rx_last_progress_timestamp_seconds',
    'Start time (Unix seconds) of the trigger of the last progress, idle ones included',
    perQuery((q) => (q.last === undefined ? undefined : Date.parse(q.last.timestamp) / 1000)),
  )
  gauge(
    'structured_rx_batch_phase_duration_seconds',
    'Duration of each phase of the last micro-batch (durationMs keys)',
    () =>
      [...states.values()].flatMap((q) =>
        q.lastBatch === undefined ? [] : PHASES.map((phase) => [{ ...q.labels, phase }, (q.lastBatch!.durationMs[phase] ?? 0) / 1000] as const),
      ),
    ['phase'],
  )
  gauge('structured_rx_state_rows', 'Rows held in the state of each stateful operator (numRowsTotal)', perOperator((p, i) => p.stateOperators[i]!.numRowsTotal), ['operator'])
  gauge('structured_rx_state_memory_bytes', 'Estimated memory of the state of each stateful operator', perOperator((p, i) => p.stateOperators[i]!.memoryUsedBytes), ['operator'])
  counter(
    'structured_rx_rows_dropped_by_watermark_total',
    'Late rows dropped by the watermark, per stateful operator',
    perOperator((_, i, q) => q.droppedByWatermark[i] ?? 0),
    ['operator'],
  )
  // A watermark of 0 is "no event seen yet": a lag since 1970 would only page someone.
  gauge(
    'structured_rx_watermark_lag_seconds',
    'Now minus the event-time watermark, for queries with a watermark',
    perQuery((q) => (q.active && q.watermarkMs > 0 ? (Date.now() - q.watermarkMs) / 1000 : undefined)),
  )
  const listenerDrops: Counter = new (prom().Counter)({
    name: 'structured_rx_listener_events_dropped_total',
    help: 'Listener events the session dropped because a listener fell too far behind',
    registers,
    collect() {
      listenerDrops.reset()
      listenerDrops.inc(droppedEvents())
    },
  })
  return new (prom().Histogram)({
    name: 'structured_rx_batch_duration_seconds',
    help: 'Duration of each micro-batch trigger (durationMs.triggerExecution)',
    labelNames: QUERY,
    buckets: DURATION_BUCKETS,
    registers,
  })
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
