/**
 * The codec law: state survives being persisted (encode, JSON, decode), and arbitraries derived from the io-ts codecs
 * that define state. Plain predicate first (`codecRoundTripHolds`), then the fast-check property.
 */
import fc from 'fast-check'
import * as t from 'io-ts'
import type { Codec } from '../src/index.js'
import { describeIoTsErrors } from '../src/testing.js'
import { canonical } from './rows.js'

/* ------------------------------------------------------------------------------------------------------------------
 * codecRoundTrip
 * ---------------------------------------------------------------------------------------------------------------- */

/**
 * The verdict of a codec or migration law on one value.
 * @example const verdict: ValueLawResult = codecRoundTripHolds(t.type({ n: t.number }), { n: 1 }) // { holds: true }
 */
export interface ValueLawResult {
  readonly holds: boolean
  readonly message?: string
}

/**
 * The codec law on one value, as state is persisted: `codec.is(a)`; `decode(encode(a))` equals `a`; and the encoded
 * form survives JSON, `decode(JSON.parse(JSON.stringify(encode(a))))` equals `a`. Equality is canonical (object key
 * order does not matter, -0 equals 0; NaN and ±Infinity are not JSON, so a codec that accepts them fails).
 * @example codecRoundTripHolds(t.type({ n: t.number }), { n: 1 }).holds // true
 * @example codecRoundTripHolds(t.number, NaN).holds // false: JSON turns NaN into null
 */
export function codecRoundTripHolds<A>(codec: Codec<A>, value: A): ValueLawResult {
  const fail = (what: string): ValueLawResult => ({
    holds: false,
    message: `codecRoundTrip does not hold for codec ${codec.name} on ${canonical(value)}: ${what}`,
  })
  if (!codec.is(value)) return fail('is(a) is false')
  let encoded: unknown
  try {
    encoded = codec.encode(value)
  } catch (error) {
    return fail(`encode threw ${errorText(error)}`)
  }
  const direct = codec.decode(encoded)
  if (direct._tag === 'Left') return fail(`decode(encode(a)) failed: ${decodeErrors(direct.left)}`)
  if (canonical(direct.right) !== canonical(value)) return fail(`decode(encode(a)) is ${canonical(direct.right)}`)
  const json = JSON.stringify(encoded) as string | undefined
  if (json === undefined) return fail('encode(a) has no JSON form')
  const persisted = codec.decode(JSON.parse(json))
  if (persisted._tag === 'Left') return fail(`the JSON of encode(a), ${json}, does not decode: ${decodeErrors(persisted.left)}`)
  if (canonical(persisted.right) !== canonical(value)) {
    return fail(`the JSON of encode(a), ${json}, decodes to ${canonical(persisted.right)}`)
  }
  return { holds: true }
}

/**
 * The law `codecRoundTrip` as a fast-check property: every generated value survives being persisted through the
 * codec (see `codecRoundTripHolds`). Derive the values from the codec itself with `arbitraryFromCodec`.
 * @example fc.assert(codecRoundTrip(StateV2, arbitraryFromCodec(StateV2)), { numRuns: 200 })
 * @throws (when run) an Error naming the codec, the value and the step that lost it.
 */
export function codecRoundTrip<A>(codec: Codec<A>, arbitrary: fc.Arbitrary<A>): fc.IProperty<[A]> {
  return fc.property(arbitrary, (value) => {
    const result = codecRoundTripHolds(codec, value)
    if (!result.holds) throw new Error(result.message)
  })
}
/* ------------------------------------------------------------------------------------------------------------------
 * arbitraryFromCodec
 * ---------------------------------------------------------------------------------------------------------------- */

/**
 * Options of `arbitraryFromCodec`.
 * @example arbitraryFromCodec(t.type({ total: t.number, user: t.string }), { number: fc.integer({ min: 0, max: 1000 }), string: fc.constantFrom('a', 'b') })
 */
export interface ArbitraryFromCodecOptions {
  /**
   * Numbers for `t.number` (default: finite doubles, -0 included). NaN and ±Infinity satisfy `t.number` but have no
   * JSON form, so persisted state cannot hold them: pass e.g. `fc.constantFrom(NaN, Infinity)` to see what your
   * state would do with them.
   */
  readonly number?: fc.Arbitrary<number>
  /** Strings for `t.string` (default `fc.string()`). */
  readonly string?: fc.Arbitrary<string>
  /** Longest generated arrays (default 5). */
  readonly maxLength?: number
}

/**
 * Values of an io-ts codec's type, derived from the codec (the single source of truth for state): `t.number`,
 * `t.string`, `t.boolean`, `t.null`, `t.undefined`, `t.literal`, `t.keyof`, `t.type`, `t.partial`, `t.exact`/`t.strict`,
 * `t.readonly`, `t.union`, `t.intersection` of records, `t.array`, `t.readonlyArray`, `t.tuple`, `t.record` with string
 * keys, and refinements/brands such as `t.Int` (generated from the base codec, filtered by `is`).
 * @example fc.sample(arbitraryFromCodec(t.type({ n: t.number, tags: t.array(t.string) })), 1) // [{ n: -0.5, tags: ['x'] }]
 * @throws TypeError naming a codec it cannot derive values for (give an arbitrary of your own).
 */
export function arbitraryFromCodec<A>(codec: Codec<A>, options: ArbitraryFromCodecOptions = {}): fc.Arbitrary<A> {
  return derive(codec as unknown as t.Mixed, options) as fc.Arbitrary<A>
}

/**
 * The io-ts codec classes `derive` understands. They are told apart by their `_tag`, never by `instanceof`: an app's
 * io-ts may be another copy than the one this module imports (another version, a linked install), and its classes
 * are then other classes.
 */
type KnownCodec =
  | t.NumberType
  | t.StringType
  | t.BooleanType
  | t.NullType
  | t.UndefinedType
  | t.VoidType
  | t.LiteralType<string | number | boolean>
  | t.KeyofType<Record<string, unknown>>
  | t.InterfaceType<t.Props>
  | t.PartialType<t.Props>
  | t.ExactType<t.Mixed>
  | t.ReadonlyType<t.Mixed>
  | t.UnionType<t.Mixed[]>
  | t.IntersectionType<t.Mixed[]>
  | t.ArrayType<t.Mixed>
  | t.ReadonlyArrayType<t.Mixed>
  | t.TupleType<t.Mixed[]>
  | t.DictionaryType<t.Mixed, t.Mixed>
  | t.RefinementType<t.Mixed>

function derive(mixed: t.Mixed, options: ArbitraryFromCodecOptions): fc.Arbitrary<unknown> {
  const maxLength = options.maxLength ?? 5
  const codec = mixed as KnownCodec
  switch (codec._tag) {
    case 'NumberType':
      return options.number ?? fc.double({ noNaN: true, noDefaultInfinity: true })
    case 'StringType':
      return options.string ?? fc.string()
    case 'BooleanType':
      return fc.boolean()
    case 'NullType':
      return fc.constant(null)
    case 'UndefinedType':
    case 'VoidType':
      return fc.constant(undefined)
    case 'LiteralType':
      return fc.constant(codec.value)
    case 'KeyofType':
      return fc.constantFrom(...Object.keys(codec.keys))
    case 'InterfaceType':
      return fc.record(mapProps(codec.props, options))
    case 'PartialType':
      return fc.record(mapProps(codec.props, options), { requiredKeys: [] })
    case 'ExactType':
    case 'ReadonlyType':
      return derive(codec.type, options)
    case 'UnionType':
      return fc.oneof(...codec.types.map((c) => derive(c, options)))
    case 'IntersectionType':
      return fc
        .tuple(...codec.types.map((c) => derive(c, options)))
        .map((parts) => Object.assign({}, ...parts) as unknown)
        .filter((v) => codec.is(v))
    case 'ArrayType':
    case 'ReadonlyArrayType':
      return fc.array(derive(codec.type, options), { maxLength })
    case 'TupleType':
      return fc.tuple(...codec.types.map((c) => derive(c, options)))
    case 'DictionaryType':
      if ((codec.domain as KnownCodec)._tag !== 'StringType') break
      return fc.dictionary(fc.string(), derive(codec.codomain, options), { maxKeys: maxLength })
    case 'RefinementType': {
      // t.Int would almost never come out of doubles filtered by is().
      const overNumber = (codec.type as KnownCodec)._tag === 'NumberType'
      const base = codec.name === 'Int' && overNumber ? fc.integer() : derive(codec.type, options)
      return base.filter((v) => codec.is(v))
    }
  }
  throw new TypeError(`arbitraryFromCodec: cannot derive values for the codec ${mixed.name}; pass an arbitrary of your own`)
}

function mapProps(props: t.Props, options: ArbitraryFromCodecOptions): Record<string, fc.Arbitrary<unknown>> {
  return Object.fromEntries(Object.entries(props).map(([k, c]) => [k, derive(c, options)]))
}

/** io-ts errors as one line, for law messages. */
export function decodeErrors(errors: t.Errors): string {
  const { path, message } = describeIoTsErrors(errors)
  return path === '' ? message : `${path}: ${message}`
}

/** An error as one line, for law messages. */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
