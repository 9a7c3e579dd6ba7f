/**
 * Idle cost: a `jsonFiles` query with a processing-time trigger over a directory of already processed files, measured
 * with `process.cpuUsage()` while nothing arrives, and the time it then takes to pick up one new file. Shared by
 * `npm run bench` (which prints it) and the test that checks it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { createSession, foreachBatch, jsonFiles, trigger } from '../src/index.js'

/** What {@link measureIdleCpu} found. */
export interface IdleMeasurement {
  /** Processed files in the watched directory. */
  readonly files: number
  readonly intervalMs: number
  /** How long the idle CPU time was measured. */
  readonly idleMs: number
  /** User + system CPU time of the process over the idle period, as a fraction of one core. */
  readonly cpuFraction: number
  /** From writing a new file to the end of the batch that delivered its row. */
  readonly pickupMs: number
}

const Line = t.type({ n: t.number })

/**
 * Starts the query over `files` files, waits until all are processed, measures CPU over `idleMs` of idleness, then
 * writes one more file and measures until its row reaches the sink.
 * @example const { cpuFraction } = await measureIdleCpu({ files: 5000, intervalMs: 500, idleMs: 3000 })
 * @throws Error when the new file's row never arrives, or the query fails.
 */
export async function measureIdleCpu(options: { files: number; intervalMs: number; idleMs: number }): Promise<IdleMeasurement> {
  const root = mkdtempSync(join(tmpdir(), 'srx-idle-'))
  try {
    const input = join(root, 'input')
    mkdirSync(input)
    for (let i = 0; i < options.files; i++) writeFileSync(join(input, `f-${String(i).padStart(6, '0')}.json`), `{"n":${i}}\n`)
    let rows = 0
    let arrived: (() => void) | undefined
    const query = await createSession()
      .readStream(jsonFiles(input, { codec: Line }))
      .writeStream({
        outputMode: 'append',
        sink: foreachBatch((batch) => {
          rows += batch.length
          if (rows > options.files) arrived?.()
        }),
        checkpointLocation: join(root, 'checkpoint'),
        trigger: trigger.processingTime(options.intervalMs),
      })
      .start()
    try {
      await query.processAllAvailable()
      if (rows !== options.files) throw new Error(`idle bench: ${rows} of ${options.files} rows before idling`)
      // Let the last batch's background writes finish before measuring.
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs * 2))
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      await new Promise((resolve) => setTimeout(resolve, options.idleMs))
      const cpu = process.cpuUsage(cpu0)
      const idleMs = performance.now() - t0
      const delivered = new Promise<void>((resolve) => (arrived = resolve))
      const t1 = performance.now()
      writeFileSync(join(input, 'new.json'), '{"n":-1}\n')
      await delivered
      const pickupMs = performance.now() - t1
      return { files: options.files, intervalMs: options.intervalMs, idleMs, cpuFraction: (cpu.user + cpu.system) / 1000 / idleMs, pickupMs }
    } finally {
      await query.stop()
      if (query.exception) throw query.exception
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
