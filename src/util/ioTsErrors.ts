/**
 * Turns io-ts validation errors into one short, human sentence with a data path, for the errors that name a codec
 * path (`CheckpointCorruptedError`, `BadRecordError`).
 */
import type * as t from 'io-ts'
import { safeJson } from './text.js'

/** Where a value failed its codec (`.a.b[2]`, '' for the root) and why (`expected number, got "x"`). */
export interface IoTsErrorDescription {
  readonly path: string
  readonly message: string
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/
const INDEX = /^(0|[1-9]\d*)$/
const MAX_VALUE_CHARS = 60

/** Union and intersection members are appended to the context by index, but they are not steps into the data. */
function isMemberStep(parent: t.ContextEntry): boolean {
  const tag = (parent.type as { _tag?: unknown })._tag
  return tag === 'UnionType' || tag === 'IntersectionType'
}

function pathOf(context: t.Context): string {
  let path = ''
  for (let i = 1; i < context.length; i++) {
    if (isMemberStep(context[i - 1])) continue
    const key = context[i].key
    if (INDEX.test(key)) path += `[${key}]`
    else if (IDENTIFIER.test(key)) path += `.${key}`
    else path += `[${JSON.stringify(key)}]`
  }
  return path
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  const text = safeJson(value)
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text
}

/** The type the value had to match: a failed union member stands for its whole union ("string | null"). */
function expectedName(context: t.Context): string {
  let i = context.length - 1
  while (i > 0 && isMemberStep(context[i - 1])) i--
  return context[i]?.type.name ?? 'a valid value'
}

/**
 * Describes the first io-ts error as a data path and a message, and counts the other failing paths. io-ts reports
 * one error per failed union branch; the first is where the value first went wrong, which is what a person fixing
 * the data needs.
 * @example
 * const result = t.type({ batchWatermarkMs: t.number }).decode({ batchWatermarkMs: 'x' })
 * if (isLeft(result)) describeIoTsErrors(result.left) // { path: '.batchWatermarkMs', message: 'expected number, got "x"' }
 * @throws never.
 */
export function describeIoTsErrors(errors: t.Errors): IoTsErrorDescription {
  const first = errors[0]
  if (first === undefined) return { path: '', message: 'invalid value' }
  const path = pathOf(first.context)
  const others = new Set(errors.map((error) => pathOf(error.context)).filter((other) => other !== path)).size
  const more = others > 0 ? ` (and ${others} more invalid field${others > 1 ? 's' : ''})` : ''
  const message = first.message ?? `expected ${expectedName(first.context)}, got ${show(first.value)}`
  return { path, message: message + more }
}
