import { OperatorFailure, StreamingQueryError } from '../errors.js'
import { errorText } from '../util/text.js'

/**
 * The StreamingQueryError for a failure in `batchId`, naming the query and the operator that failed (or
 * `fallbackOperator`, such as the source or sink, when the failure carries none).
 * @example throw queryError(e, { id, runId, name: 'counts' }, 7, 'MemorySink')
 * @throws never.
 */
export function queryError(
  e: unknown,
  query: { readonly id: string; readonly runId: string; readonly name: string | undefined },
  batchId: number,
  fallbackOperator: string | undefined,
): StreamingQueryError {
  if (e instanceof StreamingQueryError) return e
  const operator = e instanceof OperatorFailure ? e.operator : fallbackOperator
  const cause = e instanceof OperatorFailure ? e.cause : e
  return new StreamingQueryError(
    `query ${query.name ? `'${query.name}' ` : ''}[id = ${query.id}, runId = ${query.runId}] failed in batch ${batchId}` +
      `${operator ? ` at ${operator}` : ''}: ${errorText(cause)}`,
    cause,
    batchId,
    operator,
  )
}
