import { randomUUID } from 'node:crypto'
import { Subject } from 'rxjs'
import { type Coordinator, fairShares, fencedFs, type Lease, leaseLock } from '../durable/lease.js'
import { StreamingQueryError } from '../errors.js'
import { taskFate, type TaskFate } from './clusterFate.js'
import { type ClusterNames, clusterNames, clusterQueryId, type ClusterView, memberView } from './clusterView.js'
import type { ClusterWork } from './clusterWork.js'
import type { StreamingQueryProgress, StreamingQueryStatus } from './progress.js'
import { clusterScaleOut, type ScaleOutStatus } from './scaleOutView.js'
import type { SessionContext } from './queryRun.js'
import type { StreamingQuery } from './streamingQuery.js'
import type { Trigger } from './trigger.js'
import { settledWithin } from './withTimeout.js'

/** A task this member runs: its lease (renewed in place) and its query once started. */
interface HeldTask {
  /** Its index in the work's tasks. */
  readonly p: number
  lease: Lease
  query: StreamingQuery | undefined
  /** Settles once the task's query started (or failed to). */
  started: Promise<void>
  /** Above this member's share: stopping after its current batch, then its lease is given back. */
  releasing: boolean
  /** Its lease was lost (expired while paused, or taken over): stopping; its commits are fenced. */
  lost: boolean
}

/**
 * The handle of one member of a cluster: one query whose tasks come and go as leases move. `processAllAvailable`
 * and progress cover the tasks this member runs now; `clusterView` shows every member and every task's owner.
 * @example
 * const member = (await stream.writeStream({ outputMode: 'update', sink, checkpointLocation, cluster }).start()) as ClusterQuery
 * console.log(member.runningTasks, member.clusterView.members)
 */
export class ClusterQuery implements StreamingQuery {
  readonly runId = randomUUID()
  readonly id: string
  readonly progress$ = new Subject<StreamingQueryProgress>()
  private readonly held = new Map<number, HeldTask>()
  /** Task starts and lease releases in flight, awaited by stop. */
  private readonly inflight = new Set<Promise<void>>()
  private recent: StreamingQueryProgress[] = []
  /** The last progress of each task this member runs. */
  private readonly lastOf = new Map<number, StreamingQueryProgress>()
  private failure: StreamingQueryError | undefined
  private stopping: Promise<void> | undefined
  private readonly ended: Promise<void>
  private endedNow: () => void = () => undefined
  private wake: () => void = () => undefined
  private loopDone: Promise<void> = Promise.resolve()
  /** Coordinator calls run one at a time, so a release always carries the latest renewed revision. */
  private lane: Promise<unknown> = Promise.resolve()
  private view: ClusterView
  private readonly names: ClusterNames

  constructor(
    private readonly session: SessionContext,
    private readonly work: ClusterWork,
    private readonly cluster: { readonly name: string; readonly coordinator: Coordinator; readonly heartbeatMs: number },
    readonly member: string, // <host>-<pid>-<random>
  ) {
    this.id = clusterQueryId(cluster.name, work.checkpointLocation)
    this.ended = new Promise((resolve) => (this.endedNow = resolve))
    this.view = { cluster: cluster.name, member, members: [member], tasks: [] }
    this.names = clusterNames(cluster.name)
  }

  get name(): string | undefined {
    return this.work.queryName
  }

  get trigger(): Trigger {
    return this.work.trigger ?? { kind: 'processingTime', intervalMs: 0 }
  }

  /** The members, the tasks and their owners as of this member's last heartbeat. */
  get clusterView(): ClusterView {
    return this.view
  }

  /** Every task with its owner and epoch (as of the last heartbeat), the last progress of those run here, and their sum. */
  get scaleOut(): ScaleOutStatus {
    return clusterScaleOut(this.view, this.lastOf)
  }

  /** The tasks this member runs now. */
  get runningTasks(): number[] {
    return [...this.held.values()].filter((t) => !t.lost && !t.releasing).map((t) => t.p).sort((a, b) => a - b)
  }

  get status(): StreamingQueryStatus {
    const running = [...this.held.values()].flatMap((t) => (t.query === undefined ? [] : [t.query]))
    return {
      message: `member ${this.member} of cluster ${this.cluster.name}: tasks [${this.runningTasks.join(', ')}] of ${this.work.tasks.length}`,
      isDataAvailable: running.some((q) => q.status.isDataAvailable),
      isTriggerActive: running.some((q) => q.status.isTriggerActive),
    }
  }

  get lastProgress(): StreamingQueryProgress | undefined {
    return this.recent.at(-1)
  }

  get recentProgress(): readonly StreamingQueryProgress[] {
    return this.recent
  }

  get isActive(): boolean {
    return this.stopping === undefined
  }

  get exception(): StreamingQueryError | undefined {
    return this.failure
  }

  /** Runs the member's loop in the background, once its first heartbeat was recorded (joinCluster does it). */
  join(): void {
    this.loopDone = this.loop()
  }

  private async loop(): Promise<void> {
    while (this.stopping === undefined) {
      try {
        await this.exclusive(() => this.tick())
      } catch (e) {
        // The coordinator is unreachable for now: leases held run out on their own, and commits are fenced then.
        this.session.warn(`structured-rx: cluster ${this.cluster.name}, member ${this.member}: ${(e as Error).message}; retrying`)
      }
      if (this.stopping !== undefined) break
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.cluster.heartbeatMs)
        this.wake = () => (clearTimeout(timer), resolve())
      })
    }
  }

  /** One heartbeat: renew every lease, then give back tasks above the fair share or take free ones up to it. */
  private async tick(): Promise<void> {
    const { coordinator } = this.cluster
    await coordinator.heartbeat(this.names.prefixed(this.member))
    // All at once (P in a row could outlast the TTL on a loaded host); settled, so all end inside this lane before a failure is thrown.
    const held = [...this.held.values()].filter((task) => !task.lost)
    const renewals = await Promise.allSettled(held.map((task) => coordinator.renew(task.lease)))
    renewals.forEach((r, i) => r.status === 'fulfilled' && (r.value === undefined ? this.lose(held[i]!) : (held[i]!.lease = r.value)))
    for (const r of renewals) if (r.status === 'rejected') throw r.reason
    const live = this.names.ours(await coordinator.members())
    if (!live.includes(this.member)) live.push(this.member)
    const share = fairShares(live, this.work.tasks.length).get(this.member) ?? 0
    const kept = [...this.held.values()].filter((t) => !t.lost && !t.releasing).sort((a, b) => b.p - a.p)
    for (const task of kept.slice(0, Math.max(0, kept.length - share))) this.handOver(task)
    if (kept.length < share && this.stopping === undefined) await this.takeFree(share - kept.length, live.sort())
    this.view = memberView(this.cluster.name, this.member, live, this.work.tasks.map((task) => task.name), await coordinator.leases(), this.names.unprefixed)
  }

  /** Tries free tasks, starting at a place that differs per member so that members joining together rarely collide. */
  private async takeFree(wanted: number, live: readonly string[]): Promise<void> {
    const { tasks } = this.work
    const start = Math.max(0, live.indexOf(this.member)) * Math.floor(tasks.length / live.length)
    for (let i = 0; i < tasks.length && wanted > 0; i++) {
      const p = (start + i) % tasks.length
      if (this.held.has(p)) continue // also while a task that was lost here is still stopping
      const lease = await this.cluster.coordinator.acquire(this.names.prefixed(tasks[p]!.name), this.names.prefixed(this.member))
      if (lease === undefined) continue
      wanted--
      const task: HeldTask = { p, lease, query: undefined, started: Promise.resolve(), releasing: false, lost: false }
      this.held.set(p, task)
      task.started = this.startTask(task)
      this.track(task.started)
    }
  }

  private async startTask(task: HeldTask): Promise<void> {
    const { p, lease } = task
    const fence = { task: lease.task, member: lease.member, epoch: lease.epoch }
    const { coordinator } = this.cluster
    // A lease is renewed every heartbeat, so a fresh one has most of its TTL left: an answer two heartbeats old is stale.
    const timing = { maxAnswerAgeMs: 2 * this.cluster.heartbeatMs }
    try {
      const query = await this.work.tasks[p]!.start({
        ...this.session,
        fs: fencedFs(this.session.fs, coordinator, fence, timing),
        takeLock: async () => leaseLock(coordinator, fence, timing),
        onStarted: () => undefined,
        onTerminated: (q) => this.taskEnded(task, q),
      })
      task.query = query
      query.progress$.subscribe((progress) => this.progressed(p, progress))
      if (task.lost || task.releasing || this.stopping !== undefined) void query.stop()
    } catch (e) {
      this.held.delete(p)
      const fate = await this.fateOf(task, e)
      await this.exclusive(() => coordinator.release(task.lease)).catch(() => false)
      if (fate === 'failed') this.fail(new StreamingQueryError(`cluster ${this.cluster.name}: ${this.work.tasks[p]!.label} could not start: ${(e as Error).message}`, e, undefined, undefined))
    }
  }

  /** A task's query ended: give its lease back, unless it was lost; a task that failed while held fails the member. */
  private taskEnded(task: HeldTask, q: StreamingQuery): void {
    if (this.held.get(task.p) !== task) return
    this.held.delete(task.p)
    this.lastOf.delete(task.p)
    const error = q.exception
    this.track((async () => {
      const fate = task.lost || error !== undefined ? await this.fateOf(task, error) : undefined
      if (fate === 'lost') return
      await this.exclusive(() => this.cluster.coordinator.release(task.lease)).catch(() => false)
      if (fate === 'failed') this.fail(error!)
    })())
  }

  /** What became of a task that failed or was lost (see taskFate); a lost or interrupted one is reported, not failed. */
  private async fateOf(task: HeldTask, error: unknown): Promise<TaskFate> {
    const fate = await taskFate(this.cluster.coordinator, task.lease, task.lost, error)
    const { label } = this.work.tasks[task.p]!
    const why = error === undefined ? '' : ` (${(error as Error).message})`
    if (fate === 'lost') this.session.warn(`structured-rx: cluster ${this.cluster.name}: member ${this.member} lost ${label} (epoch ${task.lease.epoch}); it stopped without committing further${why}`)
    if (fate === 'interrupted') this.session.warn(`structured-rx: cluster ${this.cluster.name}: member ${this.member} stopped ${label} uncommitted: the coordinator did not answer${why}; its lease is given back`)
    return fate
  }

  private handOver(task: HeldTask): void {
    task.releasing = true
    void task.query?.stop()
  }

  private lose(task: HeldTask): void {
    task.lost = true
    void task.query?.stop()
  }

  private progressed(p: number, progress: StreamingQueryProgress): void {
    this.lastOf.set(p, progress)
    this.recent.push(progress)
    if (this.recent.length > this.session.numRecentProgressUpdates) this.recent.shift()
    this.progress$.next(progress)
  }

  private fail(error: StreamingQueryError): void {
    if (this.failure !== undefined) return
    this.failure = error
    void this.stop()
  }

  /** Stops every task after its running batch, gives their leases back and leaves the cluster. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.wake()
      await this.loopDone
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight])
      await Promise.allSettled([...this.held.values()].map((t) => t.query?.stop()))
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight])
      await this.exclusive(() => this.cluster.coordinator.leave(this.names.prefixed(this.member))).catch((e: unknown) =>
        this.session.warn(`structured-rx: cluster ${this.cluster.name}: member ${this.member} could not leave: ${(e as Error).message}`),
      )
      this.progress$.complete()
      this.endedNow()
      this.session.onTerminated(this)
    })()
    return this.stopping
  }

  async awaitTermination(timeoutMs?: number): Promise<boolean> {
    const done = await settledWithin(this.ended, timeoutMs)
    if (done && this.failure !== undefined) throw this.failure
    return done
  }

  /** Resolves once every task this member runs now has processed what its partition holds. */
  async processAllAvailable(): Promise<void> {
    const held = [...this.held.values()].filter((t) => !t.lost)
    await Promise.all(held.map((t) => t.started))
    const running = held.flatMap((t) => (t.query === undefined ? [] : [t.query]))
    // A task handed over or lost meanwhile ends its wait; only a failure of the member counts.
    await Promise.all(running.map((q) => q.processAllAvailable().catch(() => undefined)))
    if (this.failure !== undefined) throw this.failure
  }

  explain(print = true): string {
    const { work, cluster } = this
    const here = this.runningTasks.map((p) => work.tasks[p]!.label).join(', ') || 'none'
    const text = `Runs as ${work.tasks.length} tasks shared by the members of cluster ${cluster.name} (here: ${here}); ${work.describe()}`
    if (print) console.log(text)
    return text
  }

  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const next = this.lane.then(op, op)
    this.lane = next.catch(() => undefined)
    return next
  }

  private track(work: Promise<void>): void {
    this.inflight.add(work)
    void work.finally(() => this.inflight.delete(work))
  }
}
