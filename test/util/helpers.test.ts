/**
 * The small helpers of src/util as their callers rely on them: durations as users write them, partition counts and
 * numeric options refused naming the option, a bounded map that keeps order and stops after a failure, key text
 * that is the same for equal keys and different for distinct ones, and error text that never throws.
 */
import { describe, expect, it } from 'vitest'
import { parseDuration } from '../../src/util/duration.js'
import { stableStringify } from '../../src/util/keys.js'
import { mapLimit } from '../../src/util/mapLimit.js'
import { positiveInteger } from '../../src/util/options.js'
import { checkPartitions } from '../../src/util/partitions.js'
import { safeJson } from '../../src/util/text.js'

describe('parseDuration', () => {
  it('reads numbers of milliseconds and text with a unit, decimals and spaces around', () => {
    expect(parseDuration(1500, 'x')).toBe(1500)
    expect(parseDuration('10 seconds', 'x')).toBe(10_000)
    expect(parseDuration('1.25s', 'x')).toBe(1250)
    expect(parseDuration('  2  Minutes  ', 'x')).toBe(120_000)
    expect(parseDuration('1h', 'x')).toBe(3_600_000)
  })

  it('refuses a negative or non-finite number, naming the option', () => {
    expect(() => parseDuration(-1, 'trigger.processingTime')).toThrow(new RangeError('trigger.processingTime: expected a non-negative duration, got -1'))
    expect(() => parseDuration(Number.NaN, 'delay')).toThrow(new RangeError('delay: expected a non-negative duration, got NaN'))
  })

  it('refuses text with anything before or after the duration, or an unknown unit, naming the option and what it reads', () => {
    const refused = (text: string) => new RangeError(`watermark: cannot read duration '${text}' (try '10 seconds', '5 minutes' or a number of ms)`)
    for (const text of ['about 5 minutes', '5 minutes ago', '5 minutes!', '1.x5 s', '1. s', '5 fortnights', 'minutes', '']) {
      expect(() => parseDuration(text, 'watermark'), text).toThrow(refused(text))
    }
  })
})

describe('checkPartitions and positiveInteger', () => {
  it('accept no count or a positive integer', () => {
    expect(checkPartitions(undefined, 'jetStream')).toBeUndefined()
    expect(checkPartitions(1, 'jetStream')).toBe(1)
    expect(checkPartitions(12, 'jetStream')).toBe(12)
    expect(positiveInteger('shufflePartitions', undefined, 8)).toBe(8)
    expect(positiveInteger('shufflePartitions', 1, 8)).toBe(1)
  })

  it('refuse zero, negatives and fractions, naming the connector or option', () => {
    for (const bad of [0, -2, 1.5, Number.NaN]) {
      expect(() => checkPartitions(bad, 'redisStream')).toThrow(new RangeError(`redisStream: partitions must be a positive integer, got ${bad}`))
      expect(() => positiveInteger('maxBatchRows', bad, 8)).toThrow(new RangeError(`createSession: maxBatchRows must be a positive integer, got ${bad}`))
    }
  })
})

describe('mapLimit', () => {
  it('keeps results in input order with at most limit calls in flight, and at least one', async () => {
    let inFlight = 0
    let most = 0
    const run = (limit: number) =>
      mapLimit([30, 10, 20, 0, 5], limit, async (ms, i) => {
        most = Math.max(most, ++inFlight)
        await new Promise((r) => setTimeout(r, ms))
        inFlight--
        return `${i}:${ms}`
      })
    expect(await run(2)).toEqual(['0:30', '1:10', '2:20', '3:0', '4:5'])
    expect(most).toBe(2)
    most = 0
    expect(await run(0)).toEqual(['0:30', '1:10', '2:20', '3:0', '4:5'])
    expect(most).toBe(1)
    most = 0
    await run(50)
    expect(most).toBe(5)
  })

  it('rejects with the first error and starts no more calls after it', async () => {
    const started: number[] = []
    const error = await mapLimit([0, 1, 2, 3, 4, 5], 2, async (i) => {
      started.push(i)
      await new Promise((r) => setTimeout(r, i === 0 ? 20 : 1))
      if (i === 1) throw new Error('item 1 failed')
      return i
    }).then(() => undefined, (e: unknown) => e)
    expect(error).toEqual(new Error('item 1 failed'))
    expect(started).toEqual([0, 1])
  })
})

describe('stableStringify', () => {
  it('gives equal values one text, whatever their key order, leaving out undefined fields', () => {
    expect(stableStringify({ b: 1, a: { d: [1, 'x'], c: null } })).toBe('{"a":{"c":null,"d":[1,"x"]},"b":1}')
    expect(stableStringify({ a: 1, gone: undefined })).toBe(stableStringify({ a: 1 }))
  })

  it('spells out the numbers JSON cannot hold, and honours toJSON of objects only', () => {
    expect([Number.NaN, Infinity, -Infinity].map(stableStringify)).toEqual(['NaN', 'Infinity', '-Infinity'])
    expect(stableStringify({ at: new Date(0) })).toBe('{"at":"1970-01-01T00:00:00.000Z"}')
    expect(stableStringify(['a', { toJSON: () => 'b' }])).toBe('["a","b"]')
    expect(stableStringify([1, [2]])).not.toBe(stableStringify({ 0: 1, 1: [2] }))
  })
})

describe('safeJson', () => {
  it('falls back to the value as text when JSON cannot carry it', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(safeJson(cyclic)).toBe('[object Object]')
    expect(safeJson(10n)).toBe('10')
    expect(safeJson(undefined)).toBe('undefined')
  })
})
