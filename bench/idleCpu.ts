/**
 * `npx tsx bench/idleCpu.ts`: what an idle file query costs. A query over 5,000 processed files (default trigger,
 * with a checkpoint) sits idle for 10 s while this process's CPU time is measured; then one new file is written and
 * the time until it is committed is reported. Prints the share of one core used while idle and the pickup latency.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts'
import { createSession, foreachBatch, jsonFiles } from '../src/index.js'

const FILES = 5_000
const IDLE_MS = 10_000

const root = mkdtempSync(join(tmpdir(), 'srx-idle-'))
const data = join(root, 'data')
try {
  const { mkdirSync } = await import('node:fs')
  mkdirSync(data)
  for (let i = 0; i < FILES; i++) writeFileSync(join(data, `f-${String(i).padStart(5, '0')}.json`), `{"id":${i}}\n`)
  let rows = 0
  let arrived: (() => void) | undefined
  const q = await createSession()
    .readStream(jsonFiles(data, { codec: t.type({ id: t.number }) }))
    .writeStream({
      outputMode: 'append',
      sink: foreachBatch((batch) => {
        rows += batch.length
        if (rows > FILES) arrived?.()
      }),
      checkpointLocation: join(root, 'ckpt'),
    })
    .start()
  await q.processAllAvailable()
  // Let the poll back-off settle, then measure.
  await new Promise((r) => setTimeout(r, 2_000))
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, IDLE_MS))
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - t0
  const share = (cpu.user + cpu.system) / 1000 / wallMs
  const picked = new Promise<void>((resolve) => (arrived = resolve))
  const w0 = performance.now()
  writeFileSync(join(data, 'new.json'), `{"id":${FILES}}\n`)
  await picked
  const pickupMs = performance.now() - w0
  await q.stop()
  console.log(`idle over ${FILES} processed files: ${(share * 100).toFixed(2)}% of one core (${Math.round(wallMs)} ms measured)`)
  console.log(`a new file was committed ${Math.round(pickupMs)} ms after it was written`)
} finally {
  rmSync(root, { recursive: true, force: true })
}
