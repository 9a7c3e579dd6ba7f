import type { Operator, PlanNode } from './plan/nodes.js'
import { planNodeOf } from './plan/nodes.js'
import type { WriteStreamOptions } from './exec/queryRun.js'
import { workerResourceLimits } from './exec/workerLimits.js'
import type { StreamingQuery } from './exec/streamingQuery.js'
import type { PartitionedSource } from './sources/partitioned.js'
import type { Source } from './sources/source.js'

export type { WriteStreamOptions }

/**
 * Starts a configured streaming query.
 * @example
 * const writer: DataStreamWriter = stream.writeStream({ outputMode: 'update', sink: memorySink() })
 * const query = await writer.start()
 */
export interface DataStreamWriter {
  /**
   * Compiles the plan, checks it against the output mode and the checkpoint, and starts the query.
   * @throws InvalidQueryError for an invalid plan or output mode, or for invalid `workerResourceLimits`; checkpoint errors
   * when the checkpoint cannot be used.
   */
  start(): Promise<StreamingQuery>
}

/** What a session needs to start a stream's query. */
export interface QueryStarter {
  startQuery(source: Source<unknown> | PartitionedSource<unknown>, nodes: readonly PlanNode[], options: WriteStreamOptions<unknown>): Promise<StreamingQuery>
}

/**
 * A streaming query under construction: a source and the operators piped after it. `pipe` takes the same operators
 * that work in plain RxJS; here they are compiled into an incremental plan.
 * @example session.readStream(input.source).pipe(filter((r) => r.ok), groupBy((r) => r.user, t.string), count())
 */
export class Stream<T> {
  constructor(
    private readonly starter: QueryStarter,
    private readonly source: Source<unknown> | PartitionedSource<unknown>,
    private readonly nodes: readonly PlanNode[],
    private readonly ops: readonly Operator<unknown, unknown>[] = [],
  ) {}

  pipe(): Stream<T>
  pipe<A>(op1: Operator<T, A>): Stream<A>
  pipe<A, B>(op1: Operator<T, A>, op2: Operator<A, B>): Stream<B>
  pipe<A, B, C>(op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>): Stream<C>
  pipe<A, B, C, D>(op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>, op4: Operator<C, D>): Stream<D>
  pipe<A, B, C, D, E>(
    op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>, op4: Operator<C, D>, op5: Operator<D, E>,
  ): Stream<E>
  pipe<A, B, C, D, E, F>(
    op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>, op4: Operator<C, D>, op5: Operator<D, E>,
    op6: Operator<E, F>,
  ): Stream<F>
  pipe<A, B, C, D, E, F, G>(
    op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>, op4: Operator<C, D>, op5: Operator<D, E>,
    op6: Operator<E, F>, op7: Operator<F, G>,
  ): Stream<G>
  pipe<A, B, C, D, E, F, G, H>(
    op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>, op4: Operator<C, D>, op5: Operator<D, E>,
    op6: Operator<E, F>, op7: Operator<F, G>, op8: Operator<G, H>,
  ): Stream<H>
  pipe<A, B, C, D, E, F, G, H, I>(
    op1: Operator<T, A>, op2: Operator<A, B>, op3: Operator<B, C>, op4: Operator<C, D>, op5: Operator<D, E>,
    op6: Operator<E, F>, op7: Operator<F, G>, op8: Operator<G, H>, op9: Operator<H, I>,
  ): Stream<I>
  pipe(...operators: Operator<unknown, unknown>[]): Stream<unknown> {
    const offset = this.nodes.length
    return new Stream(
      this.starter,
      this.source,
      [...this.nodes, ...operators.map((op, i) => planNodeOf(op, offset + i))],
      [...this.ops, ...operators],
    )
  }

  /** Configures the sink, output mode, trigger and checkpoint of the query. */
  writeStream(options: WriteStreamOptions<T>): DataStreamWriter {
    return {
      start: async () => {
        // Checked for every query, so that limits given without worker threads (or misspelt) are refused, not ignored.
        workerResourceLimits(options)
        return this.starter.startQuery(this.source, this.nodes, options as WriteStreamOptions<unknown>)
      },
    }
  }

  /** The plan nodes piped so far (for laws and tools). */
  get planNodes(): readonly PlanNode[] {
    return this.nodes
  }

  /** The operators piped so far: `from(rows).pipe(...stream.operators)` is the query's RxJS reference semantics. */
  get operators(): readonly Operator<unknown, unknown>[] {
    return this.ops
  }

  /** The source this stream reads. */
  get sourceOf(): Source<unknown> | PartitionedSource<unknown> {
    return this.source
  }
}
