/**
 * CPU time per thread of running processes, read from Linux's /proc: tells the threads that run a query's tasks
 * (the main thread, worker threads) from the runtime's helpers (V8's garbage-collector and compiler threads, libuv's
 * file-system pool). On a loaded machine wall-clock ratios are noisy; how much CPU the busiest thread and all threads
 * spent on the same work is not, and it bounds what more cores can give.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** Milliseconds per clock tick of /proc's utime and stime (the kernel's USER_HZ, almost always 100). */
const MS_PER_TICK = 1000 / clockTicksPerSecond()

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

/** CPU ms (user + system) of every thread of `pids`, keyed `<pid>/<tid>`; empty where /proc is not there. */
export function threadCpuMs(pids: readonly number[] = [process.pid]): Map<string, number> {
  const out = new Map<string, number>()
  for (const pid of pids) {
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
        // Fields after the command name (which may hold spaces) start at the state; utime and stime are 14 and 15.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        out.set(`${pid}/${tid}`, (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK)
      } catch {
        // The thread ended between listing and reading.
      }
    }
  }
  return out
}

/**
 * What the threads spent between two readings: the busiest thread's CPU (the critical path when one thread runs the
 * tasks; one of the workers when several do), the CPU of the `taskThreads` busiest threads (the threads that run
 * the tasks), of the others (V8's collector and compiler threads, the fs pool) and of all threads. Undefined where
 * /proc is not there.
 * @example const before = threadCpuMs(); work(); const spent = cpuSpent(before, threadCpuMs(), 1)
 */
export function cpuSpent(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, taskThreads: number): Record<string, number> | undefined {
  if (after.size === 0) return undefined
  const spent = [...after].map(([thread, ms]) => ms - (before.get(thread) ?? 0)).sort((a, b) => b - a)
  const sum = (xs: readonly number[]) => xs.reduce((n, ms) => n + ms, 0)
  return {
    'cpu of the busiest thread': spent[0]!,
    'cpu of the task threads': sum(spent.slice(0, taskThreads)),
    'cpu of the other threads': sum(spent.slice(taskThreads)),
    'cpu of all threads': sum(spent),
  }
}
