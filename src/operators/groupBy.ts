import { mergeMap } from 'rxjs'
import {
  type Codec,
  type Grouped,
  type GroupByNode,
  type Operator,
  type WindowGrouped,
  type WindowSpec,
  withPlan,
} from '../plan/nodes.js'
import { parseDuration } from '../util/duration.js'
import { KEY_ID, referenceKeyId } from './internal/referenceKeys.js'
import { windowsOf } from './internal/windows.js'

/**
 * Groups rows by a key (and optionally by event-time window) for the aggregation that follows it: `count()`,
 * `sum(f)`, `avg(f)`, `min(f)`, `max(f)`, `agg({...})` or `aggregate({...})`. The key is persisted in state through
 * `keyCodec`, which also decides the shuffle partition (a stable hash of the encoded key).
 * @example stream.pipe(groupBy((r) => r.gt, t.string), count())
 * @example stream.pipe(groupBy((r) => r.user, t.string, { window: { time: (r) => r.ts, size: '10 minutes', slide: '5 minutes' } }), count())
 * @throws RangeError when the window size or slide is not a positive duration, or slide > size.
 */
export function groupBy<T, K>(keyOf: (row: T) => K, keyCodec: Codec<K>): Operator<T, Grouped<K, T>>
export function groupBy<T, K>(
  keyOf: (row: T) => K,
  keyCodec: Codec<K>,
  options: { window: WindowSpec<T> },
): Operator<T, WindowGrouped<K, T>>
export function groupBy<T, K>(
  keyOf: (row: T) => K,
  keyCodec: Codec<K>,
  options?: { window?: WindowSpec<T> },
): Operator<T, Grouped<K, T>> {
  const spec = options?.window
  if (spec === undefined) {
    const node: GroupByNode = { kind: 'groupBy', keyOf: keyOf as (row: never) => unknown, keyCodec }
    return withPlan(
      mergeMap((value: T) => {
        const key = keyOf(value)
        return [{ key, value, [KEY_ID]: referenceKeyId(key, keyCodec, 'groupBy') }]
      }),
      node,
    )
  }
  const sizeMs = parseDuration(spec.size, 'groupBy window size')
  const slideMs = spec.slide === undefined ? sizeMs : parseDuration(spec.slide, 'groupBy window slide')
  if (sizeMs <= 0 || slideMs <= 0 || slideMs > sizeMs) {
    throw new RangeError(`groupBy window: size (${sizeMs} ms) and slide (${slideMs} ms) must be positive, slide ≤ size`)
  }
  const node: GroupByNode = {
    kind: 'groupBy',
    keyOf: keyOf as (row: never) => unknown,
    keyCodec,
    window: { time: spec.time as (row: never) => unknown, sizeMs, slideMs },
  }
  return withPlan(
    mergeMap((value: T) => {
      const key = keyOf(value)
      const id = referenceKeyId(key, keyCodec, 'groupBy')
      return windowsOf(spec.time(value), sizeMs, slideMs).map((window) => ({ key, window, value, [KEY_ID]: id }))
    }),
    node,
  )
}
