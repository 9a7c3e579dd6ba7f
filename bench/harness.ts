/**
 * The benchmark harness: times cases in interleaved rounds (warm-up rounds first), takes the median, and compares
 * cases of the same run as ratios, paired round by round. Absolute figures depend on the machine; ratios against a
 * baseline timed in the same process, on the same rows, in the same rounds, are what a report (or a test) may rely on.
 */
/** One timed repetition: how long the timed part took and a checksum of its result. */
export interface Sample {
  readonly ms: number
  /** A number derived from the result (e.g. the sum of counts): keeps the work observable and lets cases be checked. */
  readonly checksum: number
  /**
   * Other durations, by name: measured outside the timed part (a query's start-up before its steady state is timed)
   * or beside it (the CPU its threads spent).
   */
  readonly extraMs?: Readonly<Record<string, number>>
}

/** Something to time: one repetition is an untimed setup, the timed part, and an untimed teardown. */
export interface BenchCase {
  readonly name: string
  /** Input rows per repetition, for rows/s. */
  readonly rows: number
  once(): Promise<Sample>
}

/** A claim checked on the measured figures: `subject` runs at ≥ `target` × the rows/s of `baseline`. */
export interface Comparison {
  readonly title: string
  readonly subject: string
  readonly baseline: string
  readonly target: number
}

/** What a group hands the harness once its inputs exist. */
export interface PreparedGroup {
  readonly cases: readonly BenchCase[]
  readonly comparisons: readonly Comparison[]
  /** Releases what `prepare` started (e.g. a database server), after the last round. */
  dispose?(): Promise<void>
}

/**
 * A benchmark group: one file under `bench/`, registered in `bench/index.ts`. `prepare` builds the inputs (untimed)
 * and returns the cases; the harness times them and checks the comparisons.
 * @example export const checkpointGroup: BenchGroup = { name: 'checkpoint', description: '…', prepare: () => ({ cases, comparisons }) }
 */
export interface BenchGroup {
  readonly name: string
  readonly description: string
  prepare(): PreparedGroup | Promise<PreparedGroup>
}

/** How many rounds to run. */
export interface RunOptions {
  readonly warmups: number
  readonly repetitions: number
}

/** The measured figures of one case. */
export interface CaseResult {
  readonly name: string
  readonly rows: number
  readonly samplesMs: readonly number[]
  readonly medianMs: number
  readonly rowsPerSec: number
  readonly checksum: number
  /** The median of each of the samples' `extraMs`, by name. */
  readonly extraMs: Readonly<Record<string, number>>
  /** Each of the samples' `extraMs` by name, one per timed round (NaN where a sample had none). */
  readonly extraSamplesMs: Readonly<Record<string, readonly number[]>>
}

/** One comparison with its measured ratio. */
export interface ComparisonResult extends Comparison {
  readonly subjectRowsPerSec: number
  readonly baselineRowsPerSec: number
  /** The median over timed rounds of (subject rows/s) / (baseline rows/s) within the round. */
  readonly ratio: number
  /** The lowest and highest per-round ratio. */
  readonly ratioRange: readonly [number, number]
  /** PASS/MISS on the ratio; ERROR when the two cases did not compute the same checksum. */
  readonly verdict: 'PASS' | 'MISS' | 'ERROR'
  /**
   * For each CPU time both cases report (an `extraMs` whose name ends in 'CPU'): the subject's CPU per row as a
   * multiple of the baseline's, paired by round like the ratio (median and range); lower is better.
   */
  readonly cpuMultiples: readonly { readonly name: string; readonly multiple: number; readonly range: readonly [number, number] }[]
}

export interface GroupResult {
  readonly group: string
  readonly cases: readonly CaseResult[]
  readonly comparisons: readonly ComparisonResult[]
}

/** A case whose whole body is timed (no setup), e.g. a hand-written baseline loop. */
export function simpleCase(name: string, rows: number, run: () => number): BenchCase {
  return {
    name,
    rows,
    async once() {
      const t0 = performance.now()
      const checksum = run()
      return { ms: performance.now() - t0, checksum }
    },
  }
}

/**
 * A case with an untimed setup and teardown around the timed `run` (e.g. start a query, feed it, stop it). `run`
 * returns the checksum, or `check` computes it untimed after `run`; `extraMs` reports durations measured in setup.
 */
export function phasedCase<C>(
  name: string,
  rows: number,
  phases: {
    setup(): C | Promise<C>
    run(ctx: C): number | void | Promise<number | void>
    check?(ctx: C): number | Promise<number>
    extraMs?(ctx: C): Record<string, number>
    teardown?(ctx: C): void | Promise<void>
  },
): BenchCase {
  return {
    name,
    rows,
    async once() {
      const ctx = await phases.setup()
      try {
        const t0 = performance.now()
        const result = await phases.run(ctx)
        const ms = performance.now() - t0
        const checksum = phases.check === undefined ? result : await phases.check(ctx)
        if (typeof checksum !== 'number') throw new Error(`bench case '${name}': run returned no checksum and there is no check`)
        return { ms, checksum, extraMs: phases.extraMs?.(ctx) }
      } finally {
        await phases.teardown?.(ctx)
      }
    },
  }
}

/**
 * Times every case of a group: `warmups` untimed rounds, then `repetitions` timed rounds. Each round runs every case
 * once, starting one case later than the round before, so drift (heat, heap growth) falls on all cases alike.
 * No garbage collection is forced between repetitions: a forced full GC shrinks the young generation, and the cases
 * that allocate (the engine, RxJS) then pay inside their timed part for growing it again, which is not their
 * steady-state cost (it made the engine's group-by-count ~40% slower while the hand loop was unchanged).
 */
export async function runGroup(group: BenchGroup, options: RunOptions): Promise<GroupResult> {
  const prepared = await group.prepare()
  const { cases, comparisons } = prepared
  const samples = cases.map(() => [] as Sample[])
  const rounds = options.warmups + options.repetitions
  try {
    for (let round = 0; round < rounds; round++) {
      for (let j = 0; j < cases.length; j++) {
        const i = (round + j) % cases.length
        const sample = await cases[i]!.once()
        if (round >= options.warmups) samples[i]!.push(sample)
      }
    }
  } finally {
    await prepared.dispose?.()
  }
  const results = cases.map((c, i) => caseResult(c, samples[i]!))
  const byName = new Map(results.map((r) => [r.name, r]))
  const find = (name: string) => {
    const r = byName.get(name)
    if (r === undefined) throw new Error(`bench group '${group.name}': comparison names unknown case '${name}'`)
    return r
  }
  return {
    group: group.name,
    cases: results,
    comparisons: comparisons.map((c) => {
      const s = find(c.subject)
      const b = find(c.baseline)
      // Paired by round: the two cases ran moments apart, so a slowdown of the whole machine (another process, a
      // background GC) that hits one round hits both and cancels out of that round's ratio.
      const perRound = s.samplesMs.map((ms, r) => (s.rows / ms) / (b.rows / b.samplesMs[r]!))
      const ratio = median(perRound)
      const ratioRange: [number, number] = [Math.min(...perRound), Math.max(...perRound)]
      const verdict = !Number.isFinite(s.checksum) || s.checksum !== b.checksum ? 'ERROR' : ratio >= c.target ? 'PASS' : 'MISS'
      const cpuMultiples = Object.keys(s.extraSamplesMs)
        .filter((name) => name.endsWith('CPU') && b.extraSamplesMs[name] !== undefined)
        .map((name) => {
          const per = s.extraSamplesMs[name]!.map((ms, r) => (ms / s.rows) / (b.extraSamplesMs[name]![r]! / b.rows)).filter(Number.isFinite)
          return { name, multiple: median(per), range: [Math.min(...per), Math.max(...per)] as const }
        })
        .filter((m) => Number.isFinite(m.multiple))
      return { ...c, subjectRowsPerSec: s.rowsPerSec, baselineRowsPerSec: b.rowsPerSec, ratio, ratioRange, verdict, cpuMultiples }
    }),
  }
}

function caseResult(c: BenchCase, samples: readonly Sample[]): CaseResult {
  const ms = samples.map((s) => s.ms)
  const medianMs = median(ms)
  // A case that computes different results on different repetitions is broken: NaN turns its comparisons into ERROR.
  const checksum = samples.every((s) => s.checksum === samples[0]!.checksum) ? samples[0]!.checksum : Number.NaN
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.extraMs ?? {})))]
  const extraMs = Object.fromEntries(names.map((n) => [n, median(samples.flatMap((s) => s.extraMs?.[n] ?? []))]))
  const extraSamplesMs = Object.fromEntries(names.map((n) => [n, samples.map((s) => s.extraMs?.[n] ?? Number.NaN)]))
  return { name: c.name, rows: c.rows, samplesMs: ms, medianMs, rowsPerSec: (c.rows * 1000) / medianMs, checksum, extraMs, extraSamplesMs }
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

// ---- printing ----

/** Formats rows/s as e.g. `12.3 M`. */
export function formatRate(rowsPerSec: number): string {
  if (rowsPerSec >= 1e6) return `${(rowsPerSec / 1e6).toFixed(2)} M`
  if (rowsPerSec >= 1e3) return `${(rowsPerSec / 1e3).toFixed(1)} k`
  return rowsPerSec.toFixed(0)
}

/** A plain-text table with a header row, columns padded to their widest cell (numbers right-aligned). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)))
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => /^[\d.,\s×%kM±–-]+$/.test(r[c]!)))
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** The per-case table of a group: median time, rows/s and the spread of the repetitions. */
export function formatCases(result: GroupResult): string {
  return table(
    ['case', 'median ms', 'rows/s', 'spread (min–max)', 'checksum'],
    result.cases.map((c) => {
      const lo = Math.min(...c.samplesMs)
      const hi = Math.max(...c.samplesMs)
      return [
        c.name,
        c.medianMs.toFixed(1),
        formatRate(c.rowsPerSec),
        `${lo.toFixed(1)}–${hi.toFixed(1)} ms`,
        Number.isNaN(c.checksum) ? 'varies!' : String(c.checksum),
      ]
    }),
  ) + formatExtras(result)
}

/** The other durations some cases report (start-up, CPU), as median lines under the table; empty when none. */
function formatExtras(result: GroupResult): string {
  const lines = result.cases.flatMap((c) => Object.entries(c.extraMs).map(([what, ms]) => `${c.name}: ${what} ${ms.toFixed(0)} ms (median)`))
  return lines.length === 0 ? '' : `\n${lines.join('\n')}`
}

/** The CPU multiples of the comparisons that have them, one line each; empty when none has. */
export function formatCpuMultiples(results: readonly GroupResult[]): string {
  return results
    .flatMap((g) => g.comparisons.flatMap((c) => c.cpuMultiples.map((m) =>
      `${c.title}: ${m.name} per row ${m.multiple.toFixed(2)}× the baseline's (${m.range[0].toFixed(2)}–${m.range[1].toFixed(2)} per round; lower is better)`)))
    .join('\n')
}

/** The comparison table of all groups: subject and baseline rows/s, ratio, target, verdict. */
export function formatComparisons(results: readonly GroupResult[]): string {
  return table(
    ['comparison', 'engine rows/s', 'baseline', 'baseline rows/s', 'ratio', 'per round', 'target', 'result'],
    results.flatMap((g) =>
      g.comparisons.map((c) => [
        c.title,
        formatRate(c.subjectRowsPerSec),
        c.baseline,
        formatRate(c.baselineRowsPerSec),
        `${c.ratio.toFixed(2)}×`,
        `${c.ratioRange[0].toFixed(2)}–${c.ratioRange[1].toFixed(2)}`,
        `≥ ${c.target}×`,
        c.verdict === 'ERROR' ? 'ERROR (results differ)' : c.verdict === 'MISS' ? '*** MISS ***' : 'PASS',
      ]),
    ),
  )
}
