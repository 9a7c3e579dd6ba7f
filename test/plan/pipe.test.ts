/** pipe() takes structured-rx operators only: anything else is refused at once, naming its position. */
import { map as rxMap } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { createSession, filter, memorySource, type Operator } from '../../src/index.js'

interface Click {
  readonly user: string
  readonly ts: number
}

const stream = () => createSession().readStream(memorySource<Click>().source)

describe('pipe() refuses what is not a structured-rx operator', () => {
  it('a plain RxJS operator: a TypeError naming its position and the operators to use instead', () => {
    const plain = rxMap((c: Click) => c.user) as never
    expect(() => stream().pipe(filter((c) => c.ts > 0), plain)).toThrow(
      new TypeError(
        'argument 2 of pipe() is not a structured-rx operator; plain RxJS operators cannot be compiled into an ' +
          'incremental plan (use map/filter/flatMap from structured-rx)',
      ),
    )
  })

  // An operator chosen by a condition (`debug ? filter(…) : undefined`) can be missing: the same TypeError, not a
  // failure to read a property of null or undefined.
  it.each([undefined, null])('a missing operator (%s): the same TypeError naming its position', (missing) => {
    const optional = missing as unknown as Operator<Click, Click>
    expect(() => stream().pipe(filter((c) => c.ts > 0), optional)).toThrow(
      new TypeError(
        'argument 2 of pipe() is not a structured-rx operator; plain RxJS operators cannot be compiled into an ' +
          'incremental plan (use map/filter/flatMap from structured-rx)',
      ),
    )
  })
})
