/** Runs operators as plain RxJS: the reference semantics every structured-rx operator must have. */
import { from, type Observable, type OperatorFunction } from 'rxjs'

/** Everything `from(rows).pipe(...operators)` emits, synchronously, in order. */
export function emitted<R>(rows: readonly unknown[], ...operators: OperatorFunction<never, unknown>[]): R[] {
  const out: R[] = []
  let failure: { readonly error: unknown } | undefined
  operators
    .reduce<Observable<unknown>>((obs, op) => (op as OperatorFunction<unknown, unknown>)(obs), from(rows))
    .subscribe({ next: (row) => out.push(row as R), error: (error: unknown) => (failure = { error }) })
  if (failure !== undefined) throw failure.error
  return out
}
