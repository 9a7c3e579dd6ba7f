/**
 * One repetition of a restart benchmark case in a fresh process, the way a real restart runs, started by
 * `bench/restart.ts`:
 *
 *   node .bench-build/bench/restartChild.js restart <checkpoint> <committedOffset> <keys> [shared|distinct]
 *   node .bench-build/bench/restartChild.js decode <stateDir> <keys>
 *
 * It loads the modules and runs the untimed setup, times the part (`bench/restartWork.ts`) and prints one JSON line
 * `{ ms, checksum, extraMs }`. Process start-up and module loading are outside the timed part on both sides.
 */
import { type PlaceholderRows, timedDecode, timedRestart } from './restartWork.js'

const [mode, where, ...rest] = process.argv.slice(2)
const rows = (rest[2] ?? 'shared') as PlaceholderRows
const numbers = rest.slice(0, 2).map(Number)
let part
if (mode === 'restart' && where !== undefined && numbers.length === 2 && numbers.every(Number.isInteger) && ['shared', 'distinct'].includes(rows)) {
  part = await timedRestart(where, numbers[0]!, numbers[1]!, rows)
} else if (mode === 'decode' && where !== undefined && rest.length === 1 && Number.isInteger(Number(rest[0]))) {
  part = await timedDecode(where, Number(rest[0]))
} else {
  throw new Error(`usage: restartChild.js restart <checkpoint> <committedOffset> <keys> [shared|distinct] | decode <stateDir> <keys>; got ${process.argv.slice(2).join(' ')}`)
}
process.stdout.write(`${JSON.stringify(part)}\n`)
