/** Whether an encoded value is plain JSON that reads back as itself, and where it stops being so. */

/**
 * `problem` prefixed by what it is about, or undefined when there is none.
 * @example prefixed('key', 'the value is NaN') // 'key: the value is NaN'
 * @throws never.
 */
export function prefixed(what: string, problem: string | undefined): string | undefined {
  return problem === undefined ? undefined : `${what}: ${problem}`
}

/**
 * Where an encoded value stops being plain JSON that reads back as itself, or undefined when it is safe.
 * @example jsonUnsafePath({ a: [1, NaN] }, '') // '.a[1] is NaN'
 * @throws never.
 */
export function jsonUnsafePath(value: unknown, at: string): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : `${at || 'the value'} is ${value}`
    case 'object': {
      if (value === null) return undefined
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const bad = value[i] === undefined ? `${at}[${i}] is undefined` : jsonUnsafePath(value[i], `${at}[${i}]`)
          if (bad !== undefined) return bad
        }
        return undefined
      }
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue
        const bad = jsonUnsafePath(v, `${at}.${k}`)
        if (bad !== undefined) return bad
      }
      return undefined
    }
    default:
      return `${at || 'the value'} is a ${typeof value}`
  }
}
