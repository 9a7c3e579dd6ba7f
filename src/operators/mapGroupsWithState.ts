import { Observable } from 'rxjs'
import type { Codec, ErasedMigration, Grouped, KeyOf, Operator, TimeoutKind, ValueOf } from '../plan/nodes.js'
import { withPlan } from '../plan/nodes.js'
import { keyIdOfGrouped } from './internal/referenceKeys.js'
import { GroupState } from './groupState.js'

export { GroupState }

/**
 * The definition of `mapGroupsWithState`.
 * @example
 * const sessions: MapGroupsWithStateSpec<string, Click, { clicks: number }, number, 'clicks'> = {
 *   name: 'clicks', version: 1, state: t.type({ clicks: t.number }),
 *   update: (user, rows, state) => {
 *     state.update((s) => ({ clicks: (s?.clicks ?? 0) + rows.length }))
 *     return state.get().clicks
 *   },
 * }
 */
export interface MapGroupsWithStateSpec<K, T, S, R, N extends string> {
  /** Stable name: the result column and the state operator's name in the checkpoint. */
  readonly name: N
  /** State version; raise it when `state` changes shape, with `migrations` from older versions. */
  readonly version: number
  /** Key codec; defaults to the codec of the `groupBy` before this operator. Keys cannot evolve. */
  readonly key?: Codec<K>
  /** io-ts codec of the per-group state. */
  readonly state: Codec<S>
  /**
   * Called once per group and micro-batch with that group's new rows (in arrival order), or with no rows and
   * `state.hasTimedOut` when its timeout fired. Returns the group's output value, or undefined for no output.
   */
  update(key: K, rows: T[], state: GroupState<S>): R | undefined
  readonly timeout?: TimeoutKind
  readonly migrations?: readonly ErasedMigration[]
}

/**
 * Arbitrary typed state per group (Spark's mapGroupsWithState): emits `{ key, [name]: output }` for every group
 * whose `update` returned a value. Follows `groupBy(keyOf, keyCodec)`; supports output mode `update`.
 * @example
 * groupBy((e) => e.user, t.string),
 * mapGroupsWithState({ name: 'session', version: 1, state: t.type({ events: t.array(Event), total: t.number }),
 *   update: (user, events, state) => {
 *     if (!state.exists) state.update({ events: [], total: 0 })
 *     state.update((draft) => { draft.events.push(...events); draft.total += events.length })
 *     return state.get().total
 *   } })
 * @throws RangeError when `version` is not a positive integer.
 */
export function mapGroupsWithState<
  G extends Grouped<K, T>,
  S,
  R,
  N extends string,
  K = KeyOf<G>,
  T = ValueOf<G>,
>(spec: MapGroupsWithStateSpec<K, T, S, R, N>): Operator<G & Grouped<K, T>, { key: K } & { [P in N]: R }> {
  if (!Number.isInteger(spec.version) || spec.version < 1) {
    throw new RangeError(`mapGroupsWithState '${spec.name}': version must be a positive integer, got ${spec.version}`)
  }
  const timeout = spec.timeout ?? 'none'
  const reference = (source: Observable<G & Grouped<K, T>>) =>
    new Observable<{ key: K } & { [P in N]: R }>((subscriber) => {
      const states = new Map<string, S>()
      /** Calls update for one row; returns its output. */
      const step = (g: G & Grouped<K, T>): R | undefined => {
        const id = keyIdOfGrouped(g)
        const state = new GroupState<S>(
          { exists: states.has(id), value: states.get(id) },
          false,
          { processingTimeMs: Date.now(), watermarkMs: 0, timeout },
        )
        const out = spec.update(g.key as K, [g.value as T], state)
        if (state.exists) states.set(id, state.get())
        else states.delete(id)
        return out
      }
      return source.subscribe({
        next(g) {
          let out: R | undefined
          // A throwing update (e.g. one that mutates the frozen state) errors the stream, as it fails the engine's batch.
          try {
            out = step(g)
          } catch (e) {
            subscriber.error(e)
            return
          }
          if (out !== undefined) subscriber.next({ key: g.key, [spec.name]: out } as { key: K } & { [P in N]: R })
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      })
    })
  return withPlan(reference, {
    kind: 'mapGroupsWithState',
    name: spec.name,
    version: spec.version,
    keyCodec: spec.key,
    stateCodec: spec.state,
    update: spec.update as never,
    timeout,
    migrations: spec.migrations ?? [],
  })
}
