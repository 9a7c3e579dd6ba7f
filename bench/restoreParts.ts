/**
 * `npx tsx bench/restoreParts.ts`: what keeping restored state costs on top of decoding it. The same 1,000,000
 * snapshot lines (`{"k":"user-i","s":n}`) are parsed four ways in interleaved rounds: parse and check only (what the
 * restart benchmark's baseline does), and parse while keeping the keys in an array, in a `Map` of counts, and in a
 * `Map` of entry objects shaped like the state store's. Prints each as a multiple of the first (medians of 7 rounds).
 */
import { availableParallelism, loadavg } from 'node:os'

const KEYS = 1_000_000
const body = Array.from({ length: KEYS }, (_, i) => `{"k":"user-${i}","s":${1 + (i % 7)}}`).join('\n')

type Line = { k: string; s: number }

function eachLine(visit: (line: Line) => void): void {
  let start = 0
  for (let end = body.indexOf('\n'); ; end = body.indexOf('\n', start)) {
    visit(JSON.parse(body.slice(start, end < 0 ? body.length : end)) as Line)
    if (end < 0) return
    start = end + 1
  }
}

let kept: unknown
const ways: Record<string, () => number> = {
  'parse + check (the baseline)': () => {
    let n = 0
    eachLine((e) => void (typeof e.k === 'string' && typeof e.s === 'number' && n++))
    return n
  },
  'parse + keep the keys in an array': () => {
    const keys: string[] = []
    eachLine((e) => void keys.push(e.k))
    kept = keys
    return keys.length
  },
  'parse + Map.set(key, count)': () => {
    const m = new Map<string, number>()
    eachLine((e) => void m.set(e.k, e.s))
    kept = m
    return m.size
  },
  'parse + Map.set(key, entry object)': () => {
    const m = new Map<string, object>()
    eachLine((e) => void m.set(e.k, { id: e.k, key: e.k, window: undefined, partition: 1, value: e.s, changedIn: 0, durable: e.s }))
    kept = m
    return m.size
  },
}

const names = Object.keys(ways)
const times = new Map(names.map((n) => [n, [] as number[]]))
const loadBefore = loadavg()[0]!
for (let round = 0; round < 7; round++) {
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + round) % names.length]!
    kept = undefined
    const t0 = performance.now()
    if (ways[name]!() !== KEYS) throw new Error(`${name}: wrong count`)
    times.get(name)!.push(performance.now() - t0)
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const base = median(times.get(names[0]!)!)
for (const name of names) {
  const xs = times.get(name)!
  console.log(`${name.padEnd(36)} ${median(xs).toFixed(0).padStart(6)} ms  ${(median(xs) / base).toFixed(2)}×  (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} ms)`)
}
console.log(`load average (1 min): ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs; kept ${kept === undefined ? 'nothing' : 'the last structure'}`)
