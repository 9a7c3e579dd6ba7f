import { afterEach, describe, expect, it } from 'vitest'
import { QueryModuleError, type StreamingQuery } from '../../src/index.js'
import { DEFINED_QUERY } from '../../src/exec/workerProtocol.js'
import { built, counts, elsewhere, misnamed } from './fixtures/definedQueries.js'

const moduleUrl = new URL('./fixtures/definedQueries.ts', import.meta.url).href
const running: StreamingQuery[] = []

afterEach(async () => {
  for (const q of running.splice(0)) await q.stop()
  built.length = 0
})

describe('defineQuery', () => {
  it('marks what it returns as a defined query (what a worker thread checks for)', () => {
    expect(counts[DEFINED_QUERY]).toBe(true)
    expect(misnamed[DEFINED_QUERY]).toBe(true)
  })

  it('start() builds the query in a new session that knows the module, export name and params, and starts it', async () => {
    const q = await counts.start({ out: '/data/out' }, { shufflePartitions: 3 })
    running.push(q)
    expect(q.isActive).toBe(true)
    expect(built).toHaveLength(1)
    expect(built[0]!.params).toEqual({ out: '/data/out' })
    expect(built[0]!.scaling).toEqual({ definedIn: { module: moduleUrl, exportName: 'counts', params: { out: '/data/out' } } })
    expect(built[0]!.session.options.shufflePartitions).toBe(3)
    expect(built[0]!.session.streams.active).toEqual([q])
    const second = await counts.start({ out: '/b' })
    running.push(second)
    expect(built[1]!.session).not.toBe(built[0]!.session)
    expect(built[1]!.session.options.shufflePartitions).toBe(8)
  })

  it('startTasks() builds in a new session with the tasks beside the module reference', async () => {
    const q = await counts.startTasks([1, 3], { shufflePartitions: 2, numRecentProgressUpdates: 5, snapshotInterval: 10, minBatchesToRetain: 100, stateDeltas: 'whole' }, { out: '/t' })
    running.push(q)
    expect(built).toHaveLength(1)
    expect(built[0]!.params).toEqual({ out: '/t' })
    expect(built[0]!.scaling).toEqual({ definedIn: { module: moduleUrl, exportName: 'counts', params: { out: '/t' } }, tasks: [1, 3] })
    expect(built[0]!.session.options).toMatchObject({ shufflePartitions: 2, numRecentProgressUpdates: 5, stateDeltas: 'whole' })
  })

  it('start() refuses a query its module does not export under the given name, saying how to export it', async () => {
    const e = await misnamed.start(undefined).then(() => undefined, (err: unknown) => err)
    expect(e).toBeInstanceOf(QueryModuleError)
    expect((e as Error).message).toBe(
      `defineQuery: ${moduleUrl} must export this query as 'missing' (export const missing = defineQuery(…)); found no such export`,
    )
    expect(built).toEqual([])
  })

  it('start() refuses a query whose export name holds another value', async () => {
    await expect(elsewhere.start(undefined)).rejects.toThrow(
      new QueryModuleError(`defineQuery: ${moduleUrl} must export this query as 'other' (export const other = defineQuery(…)); found another value`),
    )
    expect(built).toEqual([])
  })
})
