import { type Observable, Subject, type Subscription } from 'rxjs'
import { isIdleProgress } from '../exec/progress.js'
import type { StreamingQuery } from '../exec/streamingQuery.js'
import type { Session, StreamingQueryEvent } from '../session.js'
import type { AlertRule, RuleVerdict, RuleWatcher } from './alertRules.js'
import { observeEvents } from './queryDirectory.js'
import { WebhookDelivery, type WebhookOptions } from './webhook.js'

/**
 * An alert: one rule about one query, `firing` when its episode starts and `resolved` when it ends.
 * @example alertsOf(session).subscribe((a: Alert) => console.log(`${a.state} ${a.rule} on ${a.queryName ?? a.queryId}: ${a.message}`))
 */
export interface Alert {
  readonly rule: string
  readonly queryId: string
  readonly queryName: string | null
  readonly state: 'firing' | 'resolved'
  /** ISO-8601 time the episode started (the same on its `resolved` alert). */
  readonly since: string
  /** ISO-8601 time of this change of state. */
  readonly at: string
  readonly message: string
  readonly details: Readonly<Record<string, unknown>>
}

/**
 * Options of `alerting`.
 * @example alerting(session, { rules: [fallingBehind(), slowBatch({ over: '30 seconds' })], webhook: { url: 'https://hooks.example.com/alerts' } })
 */
export interface AlertingOptions {
  readonly rules: readonly AlertRule[]
  /** Also POST every alert as JSON to this URL (retried with back-off, never on the query's path). */
  readonly webhook?: WebhookOptions
  /** Where failures of rules and of the webhook go (default console.warn). */
  readonly warn?: (message: string) => void
}

/**
 * Running alert rules over a session's queries.
 * @example
 * const alerts = alerting(session, { rules: [stalled({ after: '5 minutes' }), queryFailed()] })
 * alerts.active() // the alerts firing now
 * await alerts.close()
 */
export interface Alerting {
  /** Every alert as it fires or resolves. */
  readonly alerts$: Observable<Alert>
  /** The alerts firing now. */
  active(): Alert[]
  /** Stops evaluating, then waits until the webhook has delivered (or given up) what it was sent. */
  close(): Promise<void>
}

const sessionAlerts = new WeakMap<Session, Subject<Alert>>()

/**
 * Every alert raised by any `alerting` of this session (the monitoring server streams these).
 * @example alertsOf(session).subscribe((a) => console.log(a.rule, a.state))
 */
export function alertsOf(session: Session): Observable<Alert> {
  return bus(session).asObservable()
}

function bus(session: Session): Subject<Alert> {
  let s = sessionAlerts.get(session)
  if (s === undefined) sessionAlerts.set(session, (s = new Subject<Alert>()))
  return s
}

/**
 * Evaluates alert rules on every query of the session, now and later started: each rule watches each run of each
 * query; an alert fires once when its condition starts to hold and resolves once when it stops (or when the query
 * stops, except `queryFailed`, which resolves when the query starts again). Alerts go to `alerts$`, to the session's
 * monitoring servers and, with `webhook`, to an HTTP endpoint.
 * @example const alerts = alerting(session, { rules: [fallingBehind({ batches: 3 }), queryFailed()], webhook: { url } })
 * @throws RangeError when two rules have the same name; TypeError when the webhook url is not http(s).
 */
export function alerting(session: Session, options: AlertingOptions): Alerting {
  const names = options.rules.map((r) => r.name)
  const duplicate = names.find((n, i) => names.indexOf(n) !== i)
  if (duplicate !== undefined) throw new RangeError(`alerting: two rules are named '${duplicate}'; give each a distinct name`)
  const warn = options.warn ?? ((m: string) => console.warn(m))
  const webhook = options.webhook === undefined ? undefined : new WebhookDelivery(options.webhook, warn)
  const subject = new Subject<Alert>()
  const engine = new AlertEngine(session, options.rules, warn, (alert) => {
    subject.next(alert)
    bus(session).next(alert)
    webhook?.send(alert)
  })
  for (const q of session.streams.active) engine.watch(q)
  const subscription: Subscription = observeEvents(session, (e) => engine.on(e), warn)
  const tickMs = Math.min(...options.rules.map((r) => r.tickMs ?? Infinity))
  const timer = Number.isFinite(tickMs) ? setInterval(() => engine.tick(), tickMs) : undefined
  timer?.unref()
  return {
    alerts$: subject.asObservable(),
    active: () => engine.firing(),
    async close() {
      clearInterval(timer)
      subscription.unsubscribe()
      subject.complete()
      await webhook?.close()
    },
  }
}

interface Watched {
  readonly query: StreamingQuery
  readonly watchers: readonly (readonly [AlertRule, RuleWatcher])[]
}

/** The episodes: which (rule, query) pairs fire now, and the watchers of each running query. */
class AlertEngine {
  private readonly watched = new Map<string, Watched>()
  private readonly open = new Map<string, Alert>()

  constructor(
    private readonly session: Session,
    private readonly rules: readonly AlertRule[],
    private readonly warn: (message: string) => void,
    private readonly publish: (alert: Alert) => void,
  ) {}

  watch(query: StreamingQuery): void {
    this.watched.set(query.id, { query, watchers: this.rules.map((r) => [r, r.watch(query)] as const) })
  }

  firing(): Alert[] {
    return [...this.open.values()]
  }

  on(e: StreamingQueryEvent): void {
    if (e.type === 'started') {
      // A new run ends every episode of the previous one (a failure included).
      for (const rule of this.rules) this.judge(rule, e.id, e.name ?? null, () => ({ firing: false }))
      const q = this.session.streams.get(e.id)
      if (q !== undefined) this.watch(q)
      return
    }
    const id = e.type === 'progress' ? e.progress.id : e.id
    const w = this.watched.get(id)
    if (w === undefined) return
    const name = w.query.name ?? null
    if (e.type === 'progress') {
      const isBatch = !isIdleProgress(e.progress)
      for (const [rule, watcher] of w.watchers) this.judge(rule, id, name, () => (isBatch ? watcher.batch?.(e.progress) : watcher.idle?.()))
    } else if (e.type === 'idle') {
      for (const [rule, watcher] of w.watchers) this.judge(rule, id, name, () => watcher.idle?.())
    } else {
      this.watched.delete(id)
      for (const [rule, watcher] of w.watchers) this.judge(rule, id, name, () => watcher.terminated?.(e.exception) ?? { firing: false })
    }
  }

  tick(): void {
    const now = Date.now()
    for (const w of this.watched.values()) {
      for (const [rule, watcher] of w.watchers) {
        if (watcher.tick !== undefined) this.judge(rule, w.query.id, w.query.name ?? null, () => watcher.tick!(now))
      }
    }
  }

  /**
   * Opens an episode on the first firing verdict, closes it on the first clear one; repeats change nothing. A rule
   * that throws is reported and skipped: it never stops the other rules or reaches the query.
   */
  private judge(rule: AlertRule, queryId: string, queryName: string | null, evaluate: () => RuleVerdict): void {
    let verdict: RuleVerdict
    try {
      verdict = evaluate()
    } catch (e) {
      this.warn(`structured-rx alerting: rule '${rule.name}' failed (ignored): ${e instanceof Error ? e.message : String(e)}`)
      return
    }
    if (verdict === undefined) return
    const key = `${rule.name}\u0000${queryId}`
    const current = this.open.get(key)
    const at = new Date().toISOString()
    if (verdict.firing && current === undefined) {
      const alert: Alert = { rule: rule.name, queryId, queryName, state: 'firing', since: at, at, message: verdict.message, details: verdict.details }
      this.open.set(key, alert)
      this.publish(alert)
    } else if (!verdict.firing && current !== undefined) {
      this.open.delete(key)
      this.publish({ ...current, state: 'resolved', at, message: `resolved: ${current.message}` })
    }
  }
}
