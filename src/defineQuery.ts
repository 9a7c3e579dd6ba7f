/**
 * Queries defined in a module, so that worker threads (and, later, other processes) can import and run their tasks.
 */
import { DEFINED_QUERY, type DefinedQueryHandle } from './exec/workerProtocol.js'
import type { StreamingQuery } from './exec/streamingQuery.js'
import { QueryModuleError } from './errors.js'
import { Session, type SessionOptions } from './session.js'
import type { DataStreamWriter } from './stream.js'

/**
 * A query defined in a module, so that worker threads can import it: what `defineQuery` returns.
 * @example const query: StreamingQuery = await counts.start({ out: '/data/out' })
 */
export interface DefinedQuery<P> extends DefinedQueryHandle {
  /**
   * Starts the query in a new session with `params` (plain data: every worker gets a copy); with `parallelism: n`
   * in its `writeStream`, on n worker threads.
   * @throws QueryModuleError when the module does not export this query under the name given to `defineQuery`.
   */
  start(params: P, options?: SessionOptions): Promise<StreamingQuery>
}

/**
 * Defines a query in a module that exports it, so worker threads can import and run its tasks: `module` is the
 * module's `import.meta.url`, `exportName` the name it is exported under, and `build` writes the query from a session
 * and the parameters given to `start` (the same on every worker).
 * @example
 * export const counts = defineQuery(import.meta.url, 'counts', (session, p: { out: string }) =>
 *   session.readStream(events).pipe(groupBy((e) => e.user, t.string), count())
 *     .writeStream({ outputMode: 'update', sink: jsonFilesSink(p.out), checkpointLocation: 'ckpt', parallelism: 2 }))
 * await counts.start({ out: '/data/out' })
 * @throws nothing itself; `start()` throws QueryModuleError when the export is missing or is another value.
 */
export function defineQuery<P = undefined>(
  module: string,
  exportName: string,
  build: (session: Session, params: P) => DataStreamWriter,
): DefinedQuery<P> {
  const defined: DefinedQuery<P> = {
    [DEFINED_QUERY]: true,
    async start(params, options = {}) {
      const exported = ((await import(module)) as Record<string, unknown>)[exportName]
      if (exported !== defined) {
        throw new QueryModuleError(
          `defineQuery: ${module} must export this query as '${exportName}' (export const ${exportName} = defineQuery(…)); ` +
            `found ${exported === undefined ? 'no such export' : 'another value'}`,
        )
      }
      const session = new Session(options)
      session.scaling = { definedIn: { module, exportName, params } }
      return build(session, params).start()
    },
    async startTasks(tasks, options, params) {
      const session = new Session(options)
      session.scaling = { definedIn: { module, exportName, params }, tasks }
      return build(session, params as P).start()
    },
  }
  return defined
}
