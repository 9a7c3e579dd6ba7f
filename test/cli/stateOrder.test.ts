/** `structured-rx state`: the order of its rows within a partition, its header line's details, and option errors. */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/cli.js'
import { readCheckpointFile, writeCheckpointFile } from '../../src/durable/format.js'
import { nodeFs } from '../../src/index.js'
import { keyIdOf } from '../../src/util/keys.js'
import { captureIo, countQuery, runOn, runStateCommand } from './support.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srx-cli-state-order-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const state = (...args: string[]) => runStateCommand(dir, ...args)

describe('structured-rx state, row order and header', () => {
  it('sorts the rows of a partition by key, whatever order the keys arrived in', async () => {
    const query = countQuery(dir)
    const arrival = ['zed', 'mia', 'amy', 'zed', 'bob', 'kim', 'amy', 'amy', 'Zoe', 'ann']
    await runOn(query, 1, [arrival.slice(0, 5), arrival.slice(5)])
    const { code, rows, out } = await state('--operator', 'count')
    expect(code).toBe(0)
    expect(rows.map((r) => r.key)).toEqual(['Zoe', 'amy', 'ann', 'bob', 'kim', 'mia', 'zed'])
    expect(rows.map((r) => r.key)).toEqual([...new Set(arrival)].sort((a, b) => (keyIdOf(a) < keyIdOf(b) ? -1 : 1)))
    expect(rows.map((r) => r.state)).toEqual([1, 3, 1, 1, 1, 1, 2])
    expect(out.split('\n')[0]).toBe('{"partition":0,"key":"Zoe","state":1}')
    expect((await state('--operator', 'count', '--limit', '2')).rows.map((r) => r.key)).toEqual(['Zoe', 'amy'])
    expect((await state('--operator', 'count', '--limit', '0')).out).toBe('')
    expect((await state('-o', 'count', '--partition', '0', '--limit', '7')).rows).toEqual(rows)
  })

  it('names the state versions of files not yet migrated, and refuses a bad --limit or --partition', async () => {
    const query = countQuery(dir)
    await runOn(query, 2, [['a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd']])
    const files = (await readdir(join(dir, 'state', 'count'))).sort()
    expect(files).toEqual(['0.delta', '1.delta'])
    for (const [i, file] of files.entries()) {
      const path = join(dir, 'state', 'count', file)
      const body = await readCheckpointFile(nodeFs, path)
      await writeCheckpointFile(nodeFs, path, body.replace('{"stateVersion":1,', `{"stateVersion":${i + 2},`))
    }
    const { code, err } = await state('--operator', 'count')
    expect(code).toBe(0)
    expect(err).toBe(
      '# operator count (aggregate): key codec string, state codec number, state version 1 ' +
        '(some files at version 2, 3, not yet migrated); batch 1, 2 partitions\n',
    )
    for (const [args, reason] of [
      [['--limit', '-1'], "--limit must be an integer ≥ 0, got '-1'"],
      [['--limit', 'many'], "--limit must be an integer ≥ 0, got 'many'"],
      [['--partition', 'x'], "--partition must be an integer ≥ 0, got 'x'"],
      [['--partition', '2'], "--partition must be below the checkpoint's 2 shuffle partitions, got 2"],
    ] as const) {
      const io = captureIo()
      expect(await runCli(['state', dir, '--operator', 'count', ...(args[1].startsWith('-') ? [`${args[0]}=${args[1]}`] : args)], io)).toBe(2)
      expect(io.stderr()).toBe(`structured-rx: ${reason}\nRun 'structured-rx state --help' for usage.\n`)
      expect(io.stdout()).toBe('')
    }
    const missing = captureIo()
    expect(await runCli(['state', dir], missing)).toBe(2)
    expect(missing.stderr()).toBe("structured-rx: state: --operator NAME is required\nRun 'structured-rx state --help' for usage.\n")
    expect((await state('--operator', 'count', '--partition', '1')).rows.every((r) => r.partition === 1)).toBe(true)
  })

  it('says when no batch has committed yet', async () => {
    const query = countQuery(dir)
    await runOn(query, 3, [])
    const { code, out, err } = await state('--operator', 'count')
    expect(code).toBe(0)
    expect(out).toBe('')
    expect(err).toBe(
      '# operator count (aggregate): key codec string, state codec number, state version 1; batch none committed, 3 partitions\n',
    )
  })
})

describe('structured-rx errors on one line', () => {
  it('joins the lines of a reason with single spaces', async () => {
    for (const [name, shown] of [
      ['odd\nname', 'odd name'],
      ['odd \n\t name', 'odd name'],
      ['odd\n\nname', 'odd name'],
    ] as const) {
      const root = join(dir, name)
      await mkdir(root, { recursive: true })
      await writeFile(join(root, 'precious.txt'), '')
      const io = captureIo()
      expect(await runCli(['demo', '--dir', root], io)).toBe(2)
      expect(io.stderr()).toBe(
        `structured-rx: --dir ${join(dir, shown)} holds files that are not the demo's; give a new directory or one a demo wrote\n` +
          "Run 'structured-rx demo --help' for usage.\n",
      )
    }
  })
})
