import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { activityRows, ACTIVITIES, Activity } from '../../src/cli/activityData.js'
import { runCli } from '../../src/cli/cli.js'
import { inspectCheckpoint } from '../../src/cli/inspect.js'
import { captureIo } from './support.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-demo-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('structured-rx demo', () => {
  it('drains the data in batches of 10 files, prints progress, the table and the plan, then restarts and continues', async () => {
    const io = captureIo()
    expect(await runCli(['demo', '--rows', '2500', '--files', '25', '--dir', dir], io)).toBe(0)
    const out = io.stdout()
    expect(io.stderr()).toBe('')
    const batches = [...out.matchAll(/^batch (\d+): (\d+) rows, \d+ rows\/s in, \d+ rows\/s processed, \d+ ms \(latestOffset \d+, getBatch \d+, addBatch \d+, walCommit \d+, commitOffsets \d+\); state: count \d+ rows/gm)]
    expect(batches.map((m) => [Number(m[1]), Number(m[2])])).toEqual([[0, 1000], [1, 1000], [2, 500], [3, 900]])
    expect(out).toContain('|       key|count|')
    expect(out).toMatch(/\|      bike\| *\d+\|\n\| *sit\|/)
    expect(out).toContain('== Incremental Plan ==\nWriteToSink MemorySink [outputMode=complete]\n+- StatefulAggregate count [key string] [state number, partitions=8]')
    expect(out).toContain('(same query id)')
    expect(out).toContain("counts match the generated data: 3400 rows")
    expect(out).not.toContain('|      null|')

    const report = await inspectCheckpoint(join(dir, 'checkpoint'))
    expect(report.batches.lastCommitted).toBe(3)
    expect(report.operators[0]!.rows).toBe(6)
  })

  it('removes its temporary directory unless --dir is given', async () => {
    const savedTmp = process.env.TMPDIR
    process.env.TMPDIR = dir
    try {
      const io = captureIo()
      expect(await runCli(['demo', '--rows', '20', '--files', '2'], io)).toBe(0)
      expect(io.stdout()).toContain(`checkpoint  ${dir}/srx-demo-`)
      expect(io.stdout()).toContain('(temporary, removed at the end; pass --dir D to keep it)')
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = savedTmp
    }
    expect(await readdir(dir)).toEqual([])
  })

  it('refuses a --dir that is not empty', async () => {
    await writeFile(join(dir, 'precious.txt'), 'keep me')
    const io = captureIo()
    expect(await runCli(['demo', '--dir', dir], io)).toBe(2)
    expect(io.stderr()).toContain(`structured-rx: --dir ${dir} is not empty; give an empty or new directory\n`)
  })
})

describe('generated activity data', () => {
  it('is deterministic, decodes with the Activity codec and uses every activity label', () => {
    const rows = activityRows(3, 500, 42)
    expect(activityRows(3, 500, 42)).toEqual(rows)
    expect(activityRows(4, 500, 42)).not.toEqual(rows)
    expect(rows.every((r) => Activity.is(r))).toBe(true)
    expect(new Set(rows.map((r) => r.gt))).toEqual(new Set(ACTIVITIES))
  })
})
