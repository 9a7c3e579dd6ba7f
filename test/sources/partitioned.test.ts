/**
 * The partitioned-source helpers of src/sources/partitioned.ts on their own: how a partitioned source describes
 * itself, which partitions it hands out, what `isPartitioned` recognises, and the checks of `partitionedBy`.
 */
import { describe, expect, it } from 'vitest'
import { isPartitioned, memorySource, partitionedSource, type Source } from '../../src/index.js'
import { checkPartitionedBy, partitionedLog } from '../../src/sources/partitioned.js'

const named = (name: string): Source<number> => memorySource<number>({ name }).source

describe('partitionedSource', () => {
  it('describes itself by its first part and the count, and its identity lists every part', () => {
    const parts = [named('a'), named('b'), named('c')]
    const p = partitionedSource(parts, { by: 'stableKeyHash' })
    expect(p.description).toBe(`Partitioned[3 × ${parts[0]!.description}]`)
    expect(p.kind).toBe(`partitioned:${parts[0]!.kind}`)
    expect(p.identity).toBe(parts.map((s) => s.identity).join(','))
    expect(p.partitioning).toEqual({ partitions: 3, by: 'stableKeyHash' })
    expect(partitionedSource(parts, { by: 'unknown' }).partitioning.by).toBe('unknown')
  })

  it('hands out each part as its partition, and refuses a partition past the last', () => {
    const parts = [named('a'), named('b')]
    const p = partitionedSource(parts, { by: 'unknown' })
    expect(p.partition(0)).toBe(parts[0])
    expect(p.partition(1)).toBe(parts[1])
    expect(() => p.partition(2)).toThrow(new RangeError('partitionedSource: no partition 2 (there are 2)'))
  })

  it('refuses no parts at all', () => {
    expect(() => partitionedSource([], { by: 'unknown' })).toThrow(new RangeError('partitionedSource: give at least one partition'))
  })
})

describe('partitionedLog', () => {
  const whole = named('whole')
  const built: number[] = []
  const log = partitionedLog(whole, 3, 'stableKeyHash', (p) => {
    built.push(p)
    return named(`part${p}`)
  })

  it('is described as the whole log', () => {
    expect(log.description).toBe(whole.description)
    expect(log.kind).toBe(whole.kind)
    expect(log.identity).toBe(whole.identity)
    expect(log.partitioning).toEqual({ partitions: 3, by: 'stableKeyHash' })
  })

  it('builds partitions 0 and partitions-1, and refuses -1, partitions and fractions', () => {
    built.length = 0
    log.partition(0)
    log.partition(2)
    expect(built).toEqual([0, 2])
    for (const p of [-1, 3, 1.5]) {
      expect(() => log.partition(p)).toThrow(new RangeError(`${whole.description}: no partition ${p} (there are 3)`))
    }
    expect(built).toEqual([0, 2])
  })
})

describe('isPartitioned', () => {
  it('is true of a partitioned source and false of a plain one', () => {
    expect(isPartitioned(partitionedSource([named('a')], { by: 'unknown' }))).toBe(true)
    expect(isPartitioned(named('a'))).toBe(false)
  })

  it('needs both a partition function and a numeric partition count', () => {
    expect(isPartitioned(undefined)).toBe(false)
    expect(isPartitioned({ partition: () => undefined })).toBe(false)
    expect(isPartitioned({ partition: () => undefined, partitioning: { partitions: '2' } })).toBe(false)
    expect(isPartitioned({ partition: 'p', partitioning: { partitions: 2 } })).toBe(false)
    expect(isPartitioned({ partitioning: { partitions: 2 } })).toBe(false)
    expect(isPartitioned({ partition: () => undefined, partitioning: { partitions: 2 } })).toBe(true)
  })
})

describe('checkPartitionedBy', () => {
  it('passes undefined through, with or without partitions', () => {
    expect(checkPartitionedBy(undefined, undefined, 'jetStream')).toBeUndefined()
    expect(checkPartitionedBy(undefined, 4, 'jetStream')).toBeUndefined()
  })

  it('accepts both values when partitions is given', () => {
    expect(checkPartitionedBy('stableKeyHash', 4, 'jetStream')).toBe('stableKeyHash')
    expect(checkPartitionedBy('unknown', 4, 'jetStream')).toBe('unknown')
  })

  it('refuses any other value, naming it', () => {
    expect(() => checkPartitionedBy('hash', 4, 'redisStream')).toThrow(
      new RangeError(`redisStream: partitionedBy must be 'stableKeyHash' or 'unknown', got "hash"`),
    )
  })

  it('refuses partitionedBy without partitions', () => {
    for (const by of ['stableKeyHash', 'unknown']) {
      expect(() => checkPartitionedBy(by, undefined, 'jetStream')).toThrow(
        new RangeError('jetStream: partitionedBy needs partitions, the number of partitions the producer wrote'),
      )
    }
  })
})
