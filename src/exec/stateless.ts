import type { StatelessNode } from '../plan/nodes.js'
import { OperatorFailure } from '../errors.js'

type Fn = (row: unknown) => unknown

/**
 * Fuses consecutive map/filter/flatMap nodes into one per-batch function, like Spark's whole-stage code generation:
 * the chain is compiled once per query into a single loop over the batch array in which every user function has its
 * own call site (so V8 can inline each), with no intermediate arrays, closures or Observables per row. Only operator
 * indices go into the generated source; user functions are passed in as arguments.
 */
export function fuseStateless(nodes: readonly { node: StatelessNode; label: string }[]): (rows: unknown[]) => unknown[] {
  const fns = nodes.map((n) => n.node.fn as Fn)
  const labels = nodes.map((n) => n.label)
  const fail = (j: number, e: unknown) => (e instanceof OperatorFailure ? e : new OperatorFailure(labels[j]!, e))
  const iterable = (value: unknown): Iterable<unknown> => {
    if (value == null || typeof (value as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new TypeError(`flatMap must return an array or iterable, got ${value === null ? 'null' : typeof value}`)
    }
    return value as Iterable<unknown>
  }
  const compiled = new Function('f', 'fail', 'iterable', loopSource(nodes.map((n) => n.node.kind))) as (
    f: readonly Fn[],
    fail: (j: number, e: unknown) => unknown,
    iterable: (value: unknown) => Iterable<unknown>,
  ) => (rows: unknown[]) => unknown[]
  return compiled(fns, fail, iterable)
}

/** The source of the fused loop for a chain of operator kinds. */
function loopSource(kinds: readonly StatelessNode['kind'][]): string {
  const n = kinds.length
  let body = `out.push(v${n});`
  for (let j = n - 1; j >= 0; j--) {
    const call = `try { r${j} = f${j}(v${j}); } catch (e) { throw fail(${j}, e); }`
    switch (kinds[j]) {
      case 'map':
        body = `let r${j}; ${call} const v${j + 1} = r${j}; ${body}`
        break
      case 'filter':
        // `continue` skips to the next row, or to the next element of an enclosing flatMap: the same thing.
        body = `let r${j}; ${call} if (!r${j}) continue; const v${j + 1} = v${j}; ${body}`
        break
      case 'flatMap':
        body = `let r${j}; try { r${j} = iterable(f${j}(v${j})); } catch (e) { throw fail(${j}, e); } for (const v${j + 1} of r${j}) { ${body} }`
        break
    }
  }
  const locals = kinds.map((_, j) => `const f${j} = f[${j}];`).join(' ')
  return `${locals} return function fused(rows) { const out = []; for (let i = 0; i < rows.length; i++) { const v0 = rows[i]; ${body} } return out; };`
}
