/**
 * Who a process is, beyond its pid: pids are reused, so a lock records the process's start time (and the boot it
 * belongs to) from `/proc` where the platform has it, and a pid whose start time differs is another process.
 */
import { readFileSync } from 'node:fs'

/** A process's start time since boot (clock ticks) and the boot id, or nulls where `/proc` does not tell. */
export interface ProcessIdentity {
  readonly procStart: string | null
  readonly bootId: string | null
}

/**
 * The identity of process `pid` on this host, from `/proc/<pid>/stat` and `/proc/sys/kernel/random/boot_id`.
 * @example processIdentity(process.pid) // { procStart: '123456', bootId: '6f1c…' } on Linux
 * @returns nulls where unavailable (not Linux, or the process is gone).
 * @throws never.
 */
export function processIdentity(pid: number): ProcessIdentity {
  return { procStart: startTimeOf(pid), bootId: bootId() }
}

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses; the fields after its closing ')' start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[22 - 3] ?? null
  } catch {
    return null
  }
}

let cachedBootId: string | null | undefined

function bootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    } catch {
      cachedBootId = null
    }
  }
  return cachedBootId
}
