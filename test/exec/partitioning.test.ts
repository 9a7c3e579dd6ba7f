import * as t from 'io-ts'
import { describe, expect, it } from 'vitest'
import { StateStore } from '../../src/state/stateStore.js'
import { keyIdOf, partitionOf, stableHash } from '../../src/util/keys.js'

/**
 * A key's shuffle partition decides which state files hold it: if the hash ever changed, every existing checkpoint
 * would look up its keys in the wrong partition. These golden values pin it.
 */
describe('state partitioning', () => {
  it('hashes key ids with 32-bit FNV-1a (published test vectors)', () => {
    expect(stableHash('')).toBe(0x811c9dc5)
    expect(stableHash('a')).toBe(0xe40c292c)
    expect(stableHash('foobar')).toBe(0xbf9cf968)
  })

  it.each([
    ['sit', 7, 47],
    ['walk', 0, 48],
    ['stand', 3, 91],
    ['bike', 0, 24],
    ['null', 4, 20],
  ])('puts the string key %j in partition %i of 8 and %i of 200', (key, of8, of200) => {
    expect(partitionOf(keyIdOf(key), 8)).toBe(of8)
    expect(partitionOf(keyIdOf(key), 200)).toBe(of200)
  })

  it('puts a number key and an object key in fixed partitions, whatever the order of object fields', () => {
    expect(partitionOf(keyIdOf(42), 8)).toBe(1)
    expect(partitionOf(keyIdOf({ user: 'a', gt: 'sit' }), 8)).toBe(6)
    expect(partitionOf(keyIdOf({ gt: 'sit', user: 'a' }), 8)).toBe(6)
  })

  it('identifies a plain string key by itself, and any other key by NUL + its stable JSON', () => {
    expect(keyIdOf('sit')).toBe('sit')
    expect(keyIdOf(42)).toBe('\u000042')
    expect(keyIdOf('42')).not.toBe(keyIdOf(42))
  })

  it('never confuses a string key starting with NUL with a non-string key', () => {
    expect(keyIdOf('\u000042')).not.toBe(keyIdOf(42))
    expect(partitionOf(keyIdOf('\u0000x'), 8)).toBe(2)
  })

  it('places a state entry in the partition of its key id', () => {
    const store = new StateStore('count', 8, t.string, t.number)
    for (const key of ['sit', 'walk', 'stand', 'bike', 'null']) {
      expect(store.put(keyIdOf(key), key, undefined, 1).partition).toBe(partitionOf(keyIdOf(key), 8))
    }
  })
})
