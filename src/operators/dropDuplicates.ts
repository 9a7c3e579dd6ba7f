import { filter as rxFilter } from 'rxjs'
import type { Codec, Operator } from '../plan/nodes.js'
import { withPlan } from '../plan/nodes.js'
import { referenceKeyId } from './internal/referenceKeys.js'

/**
 * Emits each row whose key was not seen before (Spark's dropDuplicates). Without `within`, keys are kept in state
 * forever; with `within: (row) => eventTimeMs` (and a `withWatermark` before it), a key is forgotten once the
 * watermark passes its first event time plus the watermark delay, and rows behind the watermark are dropped
 * (Spark's dropDuplicatesWithinWatermark).
 * @example stream.pipe(withWatermark((e) => e.ts, '1 hour'), dropDuplicates((e) => e.eventId, t.string, { within: (e) => e.ts }))
 */
export function dropDuplicates<T, K>(
  keyOf: (row: T) => K,
  keyCodec: Codec<K>,
  options: { within?: (row: T) => number; name?: string } = {},
): Operator<T, T> {
  const reference = () => {
    const seen = new Set<string>()
    return rxFilter((row: T) => {
      const id = referenceKeyId(keyOf(row), keyCodec, 'dropDuplicates')
      if (seen.has(id)) return false
      seen.add(id)
      return true
    })
  }
  return withPlan((source) => reference()(source), {
    kind: 'dropDuplicates',
    keyOf: keyOf as (row: never) => unknown,
    keyCodec,
    within: options.within as ((row: never) => unknown) | undefined,
    name: options.name ?? 'dropDuplicates',
    version: 1,
  })
}
