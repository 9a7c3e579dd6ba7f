/**
 * An idle jsonFiles query with a processing-time trigger over a directory of 5,000 processed files costs almost no
 * CPU, and still picks up a new file at its next trigger. CPU time (`process.cpuUsage`) is what the process itself
 * spent, so a busy machine slows the measurement down but does not inflate it.
 */
import { describe, expect, it } from 'vitest'
import { measureIdleCpu } from '../../bench/idle.js'

describe('an idle jsonFiles query', () => {
  it('uses under 2% of a core over 5,000 processed files with a 1 s trigger, and picks up a new file at the next trigger', async () => {
    const idle = await measureIdleCpu({ files: 5_000, intervalMs: 1_000, idleMs: 4_000 })
    expect(idle.cpuFraction, `${(idle.cpuFraction * 100).toFixed(2)}% of a core`).toBeLessThan(0.02)
    // The file arrives at most one interval before the next trigger, plus the time of that one-row batch.
    expect(idle.pickupMs).toBeLessThan(2 * idle.intervalMs)
  }, 120_000)
})
