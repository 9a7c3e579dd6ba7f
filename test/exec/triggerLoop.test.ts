/**
 * The trigger loop on a fake clock, with a fake source and batch runner: when it polls, when it runs a batch, what
 * status it shows while it waits, and how each kind of trigger ends. Times are ms after the loop started.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { BatchRunner } from '../../src/exec/batchRunner.js'
import type { QueryRun } from '../../src/exec/queryRun.js'
import { type Trigger, trigger } from '../../src/exec/trigger.js'
import { TriggerLoop, type TriggerLoopHost } from '../../src/exec/triggerLoop.js'
import type { PendingBatch } from '../../src/checkpoint/queryCheckpoint.js'

const START = 1_700_000_000_000

afterEach(() => {
  vi.useRealTimers()
})

interface Options {
  readonly trigger?: Trigger
  /** Whether the source announces new data (onDataAvailable). */
  readonly announces?: boolean
  readonly availableNow?: boolean
  /** How long each batch takes on the fake clock. */
  readonly batchMs?: number
  /** Whether an operator asks for a no-data batch at this watermark and time. */
  readonly needsNoDataBatch?: (watermarkMs: number, nowMs: number) => boolean
  readonly failBatch?: Error
  /** How long the source takes to give its latest offset, on the fake clock. */
  readonly offsetLatencyMs?: number
}

/** A loop over a fake source whose latest offset is `available`, and a runner that commits what it is given. */
function harness(options: Options = {}) {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'], now: START })
  const log: string[] = []
  const now = () => Date.now() - START
  const state = { available: 0, committed: 0, listener: undefined as (() => void) | undefined, unsubscribed: 0, dataAvailable: true }
  const polls: { at: number; limit: string }[] = []
  const batches: { at: number; end: unknown; hasData: boolean; triggerStart: number }[] = []
  const getOffsetMs: number[] = []
  const statuses: [string, boolean, boolean][] = []
  const idles: [number, number][] = []
  const noDataAsked: [number, number][] = []
  const reader = {
    async latestOffset(start: unknown, limit: 'default' | 'all') {
      log.push(`latestOffset from ${String(start)}`)
      polls.push({ at: now(), limit })
      if (options.offsetLatencyMs) await new Promise((resolve) => setTimeout(resolve, options.offsetLatencyMs))
      return state.available
    },
    ...(options.announces
      ? {
          onDataAvailable(listener: () => void) {
            state.listener = listener
            return () => void state.unsubscribed++
          },
        }
      : {}),
    ...(options.availableNow
      ? {
          async prepareForTriggerAvailableNow() {
            log.push('prepare')
          },
        }
      : {}),
  }
  const run = {
    trigger: options.trigger ?? trigger.processingTime(0),
    reader,
    executable: {
      operators: [
        {
          needsNoDataBatch(watermarkMs: number, nowMs: number) {
            noDataAsked.push([watermarkMs, nowMs])
            return options.needsNoDataBatch?.(watermarkMs, nowMs) ?? false
          },
        },
      ],
    },
    def: { source: { description: 'FakeSource[x]' } },
  } as unknown as QueryRun
  const runner = {
    get committedOffset() {
      return state.committed
    },
    watermarkMs: 42,
    async rerun(batch: PendingBatch) {
      log.push(`rerun ${batch.batchId}`)
    },
    async runNext(end: number, hasData: boolean, triggerStart: number, offsetMs: number) {
      log.push(`runNext ${end}`)
      getOffsetMs.push(offsetMs)
      batches.push({ at: now(), end, hasData, triggerStart: triggerStart - START })
      if (options.failBatch) throw options.failBatch
      if (options.batchMs) vi.setSystemTime(Date.now() + options.batchMs)
      state.committed = end
    },
    async settled() {
      log.push('settled')
    },
  } as unknown as BatchRunner
  const host: TriggerLoopHost = {
    get isDataAvailable() {
      return state.dataAvailable
    },
    setStatus: (message, isDataAvailable, isTriggerActive) => void statuses.push([message, isDataAvailable, isTriggerActive]),
    idle: (seq, triggerStart, latestOffsetMs) => {
      idles.push([seq, triggerStart - START])
      getOffsetMs.push(latestOffsetMs)
    },
  }
  const loop = new TriggerLoop(run, runner, host)
  return { loop, state, log, polls, batches, statuses, idles, noDataAsked, now, getOffsetMs }
}

/** Lets the loop go on from a batch to its next trigger (it yields with a real setImmediate, not a timer). */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    await vi.advanceTimersByTimeAsync(0)
  }
}

/** Whether a promise has settled once the due timers and microtasks ran. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  await flush()
  return settled
}

describe('TriggerLoop: the default trigger', () => {
  it('polls an idle source after 10 ms, then twice as long after each empty poll, up to once a second', async () => {
    const h = harness()
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(3270)
    expect(h.polls.map((p) => p.at)).toEqual([0, 10, 30, 70, 150, 310, 630, 1270, 2270, 3270])
    expect(h.polls.every((p) => p.limit === 'default')).toBe(true)
    expect(h.idles).toEqual(h.polls.map((p, i) => [i + 1, p.at]))
    expect(h.loop.seq).toBe(10)
    expect(h.batches).toEqual([])
    h.loop.stop()
    await done
  })

  it('runs a batch when the source has new data, polls again at once, and starts the idle backoff over', async () => {
    const h = harness()
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(100)
    h.state.available = 5
    await vi.advanceTimersByTimeAsync(50)
    await flush()
    await vi.advanceTimersByTimeAsync(30)
    expect(h.polls.map((p) => p.at)).toEqual([0, 10, 30, 70, 150, 150, 160, 180])
    expect(h.batches).toEqual([{ at: 150, end: 5, hasData: true, triggerStart: 150 }])
    // Idle waits after the batch: the data is all committed, nothing is waiting.
    expect(h.statuses.at(-1)).toEqual(['Waiting for data to arrive', false, false])
    h.loop.stop()
    await done
  })

  it('shows the source it is asking while it gets offsets, with the trigger active', async () => {
    const h = harness()
    h.state.dataAvailable = true
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(0)
    expect(h.statuses.slice(0, 2)).toEqual([
      ['Getting offsets from FakeSource[x]', true, true],
      ['Waiting for data to arrive', false, false],
    ])
    h.state.dataAvailable = false
    await vi.advanceTimersByTimeAsync(10)
    expect(h.statuses[2]).toEqual(['Getting offsets from FakeSource[x]', false, true])
    h.loop.stop()
    await done
  })

  it('is woken at once by data the source announces, and lets go of the announcements when it ends', async () => {
    const h = harness({ announces: true })
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(500)
    h.state.available = 3
    h.state.listener!()
    await vi.advanceTimersByTimeAsync(0)
    expect(h.batches.map((b) => b.at)).toEqual([500])
    expect(h.state.unsubscribed).toBe(0)
    h.loop.stop()
    await done
    expect(h.state.unsubscribed).toBe(1)
  })

  it('is woken by wake() during an idle wait', async () => {
    const h = harness()
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(400)
    h.loop.wake()
    await vi.advanceTimersByTimeAsync(0)
    expect(h.polls.map((p) => p.at)).toEqual([0, 10, 30, 70, 150, 310, 400])
    h.loop.stop()
    await done
  })

  it('runs a no-data batch when an operator needs one at the current watermark and trigger time', async () => {
    let wanted = 0
    // Asked at trigger 2 (10 ms), the operator wants one no-data batch.
    const h = harness({ needsNoDataBatch: () => ++wanted === 2 })
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(0)
    expect(h.noDataAsked).toEqual([[42, START]])
    await vi.advanceTimersByTimeAsync(10)
    expect(h.noDataAsked[1]).toEqual([42, START + 10])
    expect(h.batches).toEqual([{ at: 10, end: 0, hasData: false, triggerStart: 10 }])
    h.loop.stop()
    await done
  })

  it('does not ask the operators for a no-data batch when there is new data', async () => {
    const h = harness()
    h.state.available = 2
    const done = h.loop.runUntilStopped([])
    await flush()
    expect(h.batches[0]).toMatchObject({ end: 2, hasData: true })
    // Only the idle trigger after the batch asked.
    expect(h.noDataAsked).toHaveLength(1)
    h.loop.stop()
    await done
  })

  it('re-runs the pending batches first, in order, before asking the source for anything', async () => {
    const h = harness()
    const pending = [{ batchId: 3 }, { batchId: 4 }] as unknown as PendingBatch[]
    const done = h.loop.runUntilStopped(pending)
    await vi.advanceTimersByTimeAsync(0)
    expect(h.log.slice(0, 3)).toEqual(['rerun 3', 'rerun 4', 'latestOffset from 0'])
    h.loop.stop()
    await done
  })

  it('waits for the running commits before it reports a trigger idle, and before it ends', async () => {
    const h = harness()
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(0)
    expect(h.log).toEqual(['latestOffset from 0', 'settled'])
    expect(h.idles).toEqual([[1, 0]])
    h.loop.stop()
    await done
    expect(h.log.at(-1)).toBe('settled')
  })

  it('ends during a wait as soon as it is stopped', async () => {
    const h = harness()
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(700)
    h.loop.stop()
    expect(await hasSettled(done)).toBe(true)
    expect(h.polls).toHaveLength(7)
  })

  it('fails with the error of a batch once the commits have settled, letting go of the announcements', async () => {
    const boom = new Error('batch failed')
    const h = harness({ failBatch: boom, announces: true })
    h.state.available = 1
    const done = h.loop.runUntilStopped([])
    await expect(done).rejects.toBe(boom)
    expect(h.log).toEqual(['latestOffset from 0', 'runNext 1', 'settled'])
    expect(h.state.unsubscribed).toBe(1)
  })
})

describe('TriggerLoop: timing the source', () => {
  it('hands the time the source took for its latest offset to the batch and to the idle report', async () => {
    const h = harness({ offsetLatencyMs: 7 })
    h.state.available = 1
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(7)
    await flush()
    await vi.advanceTimersByTimeAsync(7)
    // The batch runs once the offset came, 7 ms into the trigger; the idle trigger after it starts then.
    expect(h.batches).toEqual([{ at: 7, end: 1, hasData: true, triggerStart: 0 }])
    expect(h.idles).toEqual([[2, 7]])
    expect(h.getOffsetMs).toEqual([7, 7])
    h.loop.stop()
    await vi.advanceTimersByTimeAsync(20)
    await done
  })
})

describe('TriggerLoop: a processing-time interval', () => {
  it('starts a trigger every interval, counted from the start of the one before, however long its batch took', async () => {
    const h = harness({ trigger: trigger.processingTime(100), batchMs: 30 })
    h.state.available = 1
    const done = h.loop.runUntilStopped([])
    // The batch at 0 moved the clock to 30.
    await vi.advanceTimersByTimeAsync(69)
    expect(h.polls.map((p) => p.at)).toEqual([0])
    h.state.available = 2
    await vi.advanceTimersByTimeAsync(1)
    expect(h.polls.map((p) => p.at)).toEqual([0, 100])
    await vi.advanceTimersByTimeAsync(200)
    expect(h.polls.map((p) => p.at).slice(0, 4)).toEqual([0, 100, 200, 300])
    expect(h.batches.map((b) => b.at)).toEqual([0, 100])
    h.loop.stop()
    await done
  })

  it('says it waits for the next trigger after a batch, showing whether data is there, and for data after an idle one', async () => {
    const h = harness({ trigger: trigger.processingTime(100) })
    h.state.available = 1
    h.state.dataAvailable = false
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(0)
    expect(h.statuses.at(-1)).toEqual(['Waiting for next trigger', false, false])
    h.state.available = 2
    h.state.dataAvailable = true
    await vi.advanceTimersByTimeAsync(100)
    expect(h.statuses.at(-1)).toEqual(['Waiting for next trigger', true, false])
    await vi.advanceTimersByTimeAsync(100)
    expect(h.statuses.at(-1)).toEqual(['Waiting for data to arrive', false, false])
    h.loop.stop()
    await done
  })

  it('starts the next trigger at once when a batch took longer than the interval', async () => {
    const h = harness({ trigger: trigger.processingTime(100), batchMs: 150 })
    h.state.available = 1
    const done = h.loop.runUntilStopped([])
    await flush()
    expect(h.polls.map((p) => p.at)).toEqual([0, 150])
    h.loop.stop()
    await done
  })

  it('keeps its schedule when the source announces data or wake() is called, but not when it is stopped', async () => {
    const h = harness({ trigger: trigger.processingTime(100), announces: true })
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(50)
    h.state.available = 1
    h.state.listener!()
    h.loop.wake()
    await vi.advanceTimersByTimeAsync(0)
    expect(h.polls.map((p) => p.at)).toEqual([0])
    await vi.advanceTimersByTimeAsync(50)
    expect(h.batches.map((b) => b.at)).toEqual([100])
    await vi.advanceTimersByTimeAsync(10)
    h.loop.stop()
    expect(await hasSettled(done)).toBe(true)
    expect(h.polls.map((p) => p.at)).toEqual([0, 100])
  })
})

describe('TriggerLoop: triggers that end by themselves', () => {
  it('once: one trigger reading everything available, then it ends', async () => {
    const h = harness({ trigger: trigger.once() })
    h.state.available = 9
    await h.loop.runUntilStopped([])
    expect(h.polls).toEqual([{ at: 0, limit: 'all' }])
    expect(h.batches).toEqual([{ at: 0, end: 9, hasData: true, triggerStart: 0 }])
  })

  it('once with nothing to read: an idle trigger, then it ends', async () => {
    const h = harness({ trigger: trigger.once() })
    await h.loop.runUntilStopped([])
    expect(h.polls).toEqual([{ at: 0, limit: 'all' }])
    expect(h.idles).toEqual([[1, 0]])
  })

  it('availableNow: fixes what is available first, runs batches while there is data, ends at the first idle trigger', async () => {
    const h = harness({ trigger: trigger.availableNow(), availableNow: true })
    h.state.available = 4
    const done = h.loop.runUntilStopped([])
    expect(await hasSettled(done)).toBe(true)
    expect(h.log).toEqual(['prepare', 'latestOffset from 0', 'runNext 4', 'latestOffset from 4', 'settled', 'settled'])
    expect(h.polls.every((p) => p.limit === 'default')).toBe(true)
  })

  it('availableNow of a source that cannot fix its end still drains and ends', async () => {
    const h = harness({ trigger: trigger.availableNow() })
    h.state.available = 4
    expect(await hasSettled(h.loop.runUntilStopped([]))).toBe(true)
    expect(h.batches.map((b) => b.end)).toEqual([4])
  })

  it('a default trigger does not ask the source to fix its end', async () => {
    const h = harness({ availableNow: true })
    const done = h.loop.runUntilStopped([])
    await vi.advanceTimersByTimeAsync(0)
    expect(h.log).not.toContain('prepare')
    h.loop.stop()
    await done
  })

  it('stopping while a batch runs ends the loop after it, without waiting for the next trigger', async () => {
    const h = harness({ trigger: trigger.processingTime(10_000) })
    h.state.available = 1
    const done = h.loop.runUntilStopped([])
    h.loop.stop()
    expect(await hasSettled(done)).toBe(true)
    expect(h.batches).toHaveLength(1)
    // Stopped, it does not say it waits for a trigger that will never come.
    expect(h.statuses.map(([message]) => message)).toEqual(['Getting offsets from FakeSource[x]'])
  })
})
