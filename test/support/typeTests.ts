/** What the type tests share: the row type of a stream as an editor shows it, and a typed stream to build on. */
import { createSession, memorySource, type Stream } from '../../src/index.js'

/** A type with intersections flattened into one object type: `{ key: string } & { count: number }` reads as `{ key: string; count: number }`. */
export type Flat<R> = R extends object ? { [K in keyof R]: R[K] } : R

/** The row type of a stream, flattened (see {@link Flat}). */
export type RowOf<S> = S extends Stream<infer R> ? Flat<R> : never

/** A stream of rows of type `T` on a throwaway session (type tests only look at what its operators make of `T`). */
export function streamOf<T>(): Stream<T> {
  return createSession().readStream(memorySource<T>().source)
}
