/**
 * Scaling: the parse-heavy windowed count (JSON lines decoded by the file source, a JSON payload decoded per row,
 * 10-second windows per user) over 8 input partitions, on 2 worker threads vs the same tasks on 1 thread. The timed
 * part includes starting the workers (and, from source, compiling the query module in each).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readJsonFilesSink } from '../src/index.js'
import { type Event, writeEvents } from '../test/scale/fixtures/events.js'
import { windowedCounts } from '../test/scale/fixtures/windowedCounts.js'
import { type BenchGroup, phasedCase } from './harness.js'

const ROWS = 400_000
const PARTITIONS = 8

function events(): Event[] {
  return Array.from({ length: ROWS }, (_, i) => ({
    user: `user-${(i * 7919) % 500}`,
    ts: i * 5,
    items: [{ sku: `sku-${i % 97}`, qty: 1 + (i % 3) }, { sku: 'gift', qty: 1 }],
  }))
}

function run(input: string, parallelism: number) {
  return phasedCase(`${PARTITIONS} tasks on ${parallelism} thread${parallelism > 1 ? 's' : ''}`, ROWS, {
    setup: () => mkdtempSync(join(tmpdir(), 'srx-bench-scaling-')),
    async run(dir) {
      const q = await windowedCounts.start({ input, partitions: PARTITIONS, parallelism, output: join(dir, 'out'), checkpoint: join(dir, 'ckpt') })
      await q.processAllAvailable()
      await q.stop()
      const rows = await readJsonFilesSink<{ count: number }>(join(dir, 'out'))
      return rows.reduce((n, r) => n + r.count, 0)
    },
    teardown: (dir) => rmSync(dir, { recursive: true, force: true }),
  })
}

export const scalingGroup: BenchGroup = {
  name: 'scaling',
  description: `parse-heavy windowed count, ${ROWS} rows in ${PARTITIONS} partitions: 2 worker threads vs 1 thread`,
  async prepare() {
    const input = mkdtempSync(join(tmpdir(), 'srx-bench-scaling-in-'))
    await writeEvents(input, PARTITIONS, 'events.jsonl', events(), true)
    const one = run(input, 1)
    const two = run(input, 2)
    return {
      cases: [one, two],
      comparisons: [{ title: '2 worker threads vs 1', subject: two.name, baseline: one.name, target: 1.7 }],
      dispose: async () => rmSync(input, { recursive: true, force: true }),
    }
  },
}
