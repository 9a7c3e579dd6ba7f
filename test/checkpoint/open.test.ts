/** Opening a checkpoint location: what a source is told, and the checkpoints a query must not start on. */
import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { prepareRescale } from '../../src/checkpoint/rescale.js'
import { count, createSession, groupBy, IncompatibleCheckpointError, memorySink, memorySource, nodeFs, type Source } from '../../src/index.js'
import { rejectionOf, useTempDir } from './tempDir.js'

const tempDir = useTempDir()
type Click = { user: string }

/** A memory source that records, per open, whether the query said it was restarting. */
function watchedSource() {
  const input = memorySource<Click>({ name: 'clicks' })
  const restarting: boolean[] = []
  const source: Source<Click> = {
    description: input.source.description,
    kind: input.source.kind,
    identity: input.source.identity,
    open: (ctx) => {
      restarting.push(ctx.restarting)
      return input.source.open(ctx)
    },
  }
  return { input, source, restarting }
}

const start = (dir: string, source: Source<Click>) =>
  createSession({ shufflePartitions: 2 })
    .readStream(source)
    .pipe(groupBy((c: Click) => c.user, t.string), count())
    .writeStream({ outputMode: 'update', checkpointLocation: dir, sink: memorySink() })
    .start()

describe('opening a checkpoint', () => {
  it('tells the source it is restarting only when the checkpoint already existed', async () => {
    const dir = tempDir()
    const { input, source, restarting } = watchedSource()
    for (let run = 0; run < 2; run++) {
      const q = await start(dir, source)
      input.addData([{ user: 'a' }])
      await q.processAllAvailable()
      await q.stop()
    }
    expect(restarting).toEqual([false, true])
  })

  it('refuses a checkpoint an interrupted rescale left its marker in, saying how to finish it', async () => {
    const dir = tempDir()
    const { input, source } = watchedSource()
    const q = await start(dir, source)
    input.addData([{ user: 'a' }])
    await q.processAllAvailable()
    await q.stop()
    await prepareRescale(nodeFs, dir, 3)
    const error = await rejectionOf(start(dir, source))
    expect(error).toBeInstanceOf(IncompatibleCheckpointError)
    expect((error as Error).message).toContain(
      `an interrupted 'structured-rx rescale' left its marker file 'rescale' in the checkpoint: finish it with ` +
        `'structured-rx rescale ${dir} --partitions N' (N: see 'structured-rx inspect ${dir}') before starting the query`,
    )
  })
})
