/**
 * `npm run bench`: runs every benchmark group and prints rows/s and ratios against baselines measured in the same
 * run. A MISS is reported, not raised: the exit code is 0 unless a benchmark fails or computes a wrong result.
 *
 * Options (after `npm run bench --`): `--only <group>` (repeatable), `--reps <n>`, `--warmups <n>`, `--json <file>`.
 * A new group is one file exporting a `BenchGroup`, added to GROUPS below.
 */
import { writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { checkpointOverheadGroup, jsonFilesGroup } from './checkpoint.js'
import { groupByCountGroup } from './groupByCount.js'
import { type BenchGroup, formatCases, formatComparisons, formatCpuMultiples, type GroupResult, runGroup } from './harness.js'
import { measureIdleCpu } from './idle.js'
import { jetStreamSourceGroup, redisStreamSourceGroup } from './logConnectors.js'
import { mapLiteralFilterGroup, mapSpreadFilterGroup } from './mapFilter.js'
import { multiOperatorCheckpointGroup } from './multiOperator.js'
import { CURRENT_FORMAT_VERSION } from '../src/durable/format.js'
import { monitoringGroup } from './monitoring.js'
import { postgresSinkGroup } from './postgresSink.js'
import { restartGroup } from './restart.js'
import { scalingGroup, scalingParseGroup, scalingProcessesGroup } from './scaling.js'
import { statePatchesGroup } from './statePatches.js'

const GROUPS: readonly BenchGroup[] = [
  groupByCountGroup,
  mapSpreadFilterGroup,
  mapLiteralFilterGroup,
  checkpointOverheadGroup,
  multiOperatorCheckpointGroup,
  jsonFilesGroup,
  restartGroup,
  monitoringGroup,
  postgresSinkGroup,
  jetStreamSourceGroup,
  redisStreamSourceGroup,
  scalingGroup,
  scalingParseGroup,
  scalingProcessesGroup,
  statePatchesGroup,
]

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    reps: { type: 'string', default: '7' },
    warmups: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
})
const repetitions = positiveInt(values.reps!, '--reps')
const warmups = nonNegativeInt(values.warmups!, '--warmups')
/** Not a ratio but a figure of its own: the idle query's share of a core. */
const IDLE = 'idle-cpu'
const selected = values.only === undefined ? GROUPS : GROUPS.filter((g) => values.only!.includes(g.name))
const idleSelected = values.only === undefined || values.only.includes(IDLE)
if (selected.length === 0 && !idleSelected) {
  console.error(`no benchmark group matches ${values.only!.join(', ')}; groups: ${[...GROUPS.map((g) => g.name), IDLE].join(', ')}`)
  process.exit(2)
}

console.log(
  `structured-rx bench — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB; ${warmups} warm-up + ${repetitions} timed rounds per group, median\n`,
)
const started = performance.now()
const results: GroupResult[] = []
const loads: number[] = [loadavg()[0]!]
for (const group of selected) {
  console.log(`## ${group.name}: ${group.description}`)
  const result = await runGroup(group, { warmups, repetitions })
  results.push(result)
  loads.push(loadavg()[0]!)
  console.log(`${formatCases(result)}\n`)
}
let idleMiss = 0
if (idleSelected) {
  console.log(`## ${IDLE}: jsonFiles query, processingTime 1 s, 5,000 processed files, idle for 5 s (process.cpuUsage)`)
  const idle = await measureIdleCpu({ files: 5_000, intervalMs: 1_000, idleMs: 5_000 })
  const percent = idle.cpuFraction * 100
  if (percent >= 2) idleMiss = 1
  console.log(
    `idle CPU ${percent.toFixed(2)}% of a core (target < 2%: ${percent < 2 ? 'PASS' : '*** MISS ***'}); ` +
      `a new file was delivered ${idle.pickupMs.toFixed(0)} ms after it was written (trigger interval ${idle.intervalMs} ms)\n`,
  )
  loads.push(loadavg()[0]!)
}
console.log(formatComparisons(results))
const cpuMultiples = formatCpuMultiples(results)
if (cpuMultiples !== '') console.log(`\n${cpuMultiples}`)
const verdicts = results.flatMap((r) => r.comparisons.map((c) => c.verdict))
const misses = verdicts.filter((v) => v === 'MISS').length + idleMiss
const errors = verdicts.filter((v) => v === 'ERROR').length
console.log(
  `\n${verdicts.length + (idleSelected ? 1 : 0) - misses - errors} PASS, ${misses} MISS, ${errors} ERROR in ${((performance.now() - started) / 1000).toFixed(1)} s` +
    (misses > 0 ? ' — MISS: a target ratio was not reached (reported, not a failure)' : ''),
)
// The bench alone shows a load average of about 1.5 (its GC and compiler threads); more than half a CPU above the
// CPU count means other processes competed for the CPUs.
const busiest = Math.max(...loads)
console.log(
  `load average (1 min) during the run: ${loads.map((l) => l.toFixed(1)).join(' → ')} on ${availableParallelism()} CPUs` +
    (busiest > availableParallelism() + 0.5 ? ' — the machine was busy: expect wider spreads and noisier ratios' : ''),
)
if (values.json !== undefined) {
  const report = { node: process.version, cpus: availableParallelism(), loadAverages: loads, results }
  writeFileSync(values.json, JSON.stringify(report, null, 2))
}
if (errors > 0) process.exitCode = 1

function positiveInt(text: string, flag: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${flag} must be a positive integer, got '${text}'`)
  return n
}

function nonNegativeInt(text: string, flag: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${flag} must be a non-negative integer, got '${text}'`)
  return n
}
