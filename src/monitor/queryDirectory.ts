import type { Subscription } from 'rxjs'
import type { StreamingQuery } from '../exec/streamingQuery.js'
import type { Session, StreamingQueryEvent } from '../session.js'

/**
 * Subscribes `handle` to every life-cycle event of the session's queries. Events arrive synchronously on the query's
 * own path, so `handle` must be cheap; whatever it throws is passed to `warn` and never reaches the query.
 * @example const sub = observeEvents(session, (e) => counts[e.type]++, console.warn)
 */
export function observeEvents(
  session: Session,
  handle: (event: StreamingQueryEvent) => void,
  warn: (message: string) => void,
): Subscription {
  return session.streams.events$.subscribe((event) => {
    try {
      handle(event)
    } catch (e) {
      warn(`structured-rx monitor: handling a '${event.type}' event failed (ignored): ${e instanceof Error ? e.message : String(e)}`)
    }
  })
}

/**
 * The queries a monitor has seen: every active query of the session plus the most recently terminated ones (so a
 * dashboard can still show a failed query and its error). Keeps at most `retainTerminated` terminated queries.
 * @example const dir = new QueryDirectory(session); dir.list().map((q) => q.id)
 */
export class QueryDirectory {
  private readonly queries = new Map<string, StreamingQuery>()
  private readonly startedAt = new Map<string, number>()
  private readonly subscription: Subscription

  constructor(
    session: Session,
    private readonly retainTerminated = 20,
    warn: (message: string) => void = (m) => console.warn(m),
  ) {
    for (const q of session.streams.active) this.add(q, Date.now())
    this.subscription = observeEvents(
      session,
      (event) => {
        if (event.type === 'started') {
          const q = session.streams.get(event.id)
          if (q !== undefined) this.add(q, Date.parse(event.timestamp))
        } else if (event.type === 'terminated') {
          this.evictTerminated()
        }
      },
      warn,
    )
  }

  /** Known queries, active ones first, each group in start order. */
  list(): StreamingQuery[] {
    const all = [...this.queries.values()]
    return [...all.filter((q) => q.isActive), ...all.filter((q) => !q.isActive)]
  }

  /** A known query by id (active or recently terminated). */
  get(id: string): StreamingQuery | undefined {
    return this.queries.get(id)
  }

  /** When the run of query `id` that this directory knows was started (epoch ms). */
  startedAtMs(id: string): number | undefined {
    return this.startedAt.get(id)
  }

  close(): void {
    this.subscription.unsubscribe()
  }

  private add(q: StreamingQuery, at: number): void {
    // A restarted query keeps its id: the new run replaces the old one and moves to the end.
    this.queries.delete(q.id)
    this.queries.set(q.id, q)
    this.startedAt.set(q.id, at)
  }

  private evictTerminated(): void {
    const terminated = [...this.queries.values()].filter((q) => !q.isActive)
    for (const q of terminated.slice(0, Math.max(0, terminated.length - this.retainTerminated))) {
      this.queries.delete(q.id)
      this.startedAt.delete(q.id)
    }
  }
}
