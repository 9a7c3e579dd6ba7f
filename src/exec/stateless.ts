import type { StatelessNode } from '../plan/nodes.js'
import { OperatorFailure } from './batch.js'

type Push = (row: unknown) => void

/**
 * Fuses consecutive map/filter/flatMap nodes into one per-batch function: one pass over the batch array, each row
 * pushed through a chain of small closures, no intermediate arrays and no Observable per row.
 */
export function fuseStateless(nodes: readonly { node: StatelessNode; label: string }[]): (rows: unknown[]) => unknown[] {
  return (rows) => {
    const out: unknown[] = []
    let head: Push = (row) => {
      out.push(row)
    }
    for (let i = nodes.length - 1; i >= 0; i--) head = link(nodes[i]!.node, nodes[i]!.label, head)
    for (let i = 0; i < rows.length; i++) head(rows[i])
    return out
  }
}

function link(node: StatelessNode, label: string, next: Push): Push {
  const fn = node.fn as (row: unknown) => unknown
  switch (node.kind) {
    case 'map':
      return (row) => {
        let value: unknown
        try {
          value = fn(row)
        } catch (e) {
          throw new OperatorFailure(label, e)
        }
        next(value)
      }
    case 'filter':
      return (row) => {
        let keep: unknown
        try {
          keep = fn(row)
        } catch (e) {
          throw new OperatorFailure(label, e)
        }
        if (keep) next(row)
      }
    case 'flatMap':
      return (row) => {
        let values: Iterable<unknown>
        try {
          values = fn(row) as Iterable<unknown>
          if (values == null || typeof (values as Iterable<unknown>)[Symbol.iterator] !== 'function') {
            throw new TypeError(`flatMap must return an array or iterable, got ${values === null ? 'null' : typeof values}`)
          }
        } catch (e) {
          throw new OperatorFailure(label, e)
        }
        for (const v of values) next(v)
      }
  }
}
