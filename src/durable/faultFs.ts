/**
 * Fault injection for checkpoint I/O: wraps a {@link CheckpointFs} and fails its n-th mutating operation the way a
 * machine fails (a crash before or after the step, a torn write, a full or broken disk). Tests and the
 * `exactlyOnceUnderCrashes` law use it to crash a query at every checkpoint step in turn.
 */
import { dirname, relative } from 'node:path'
import { type CheckpointFs, tempPathFor } from './fs.js'

/**
 * How the chosen operation fails.
 * @example const kinds: FaultKind[] = ['crashBefore', 'crashAfter', 'tornWrite', 'ENOSPC', 'EIO']
 */
export type FaultKind = 'crashBefore' | 'crashAfter' | 'tornWrite' | 'ENOSPC' | 'EIO'

/**
 * Which mutating operation fails (0-based, counted over `writeFileAtomic`, `appendFileDurable`, `mkdirp`, `remove`,
 * `renameDurable`, `createExclusive`) and how. `{ at: Infinity }` injects nothing.
 * @example
 * const fault: Fault = { at: 7, kind: 'tornWrite' } // { at: Infinity } injects nothing
 * const fs = faultyFs(nodeFs, fault, { root: checkpointLocation })
 */
export type Fault = { readonly at: number; readonly kind: FaultKind } | { readonly at: number; readonly kind?: undefined }

/**
 * Options of {@link faultyFs} and {@link countingFs}.
 * @example countingFs(nodeFs, { root: '/ckpt/q1' }).ops // paths shown as 'offsets/0', not '/ckpt/q1/offsets/0'
 */
export interface FaultFsOptions {
  /** Paths in `ops` are shown relative to this directory (usually the checkpoint location), e.g. `offsets/3`. */
  readonly root?: string
}

/**
 * Thrown by a {@link FaultyFs} at the injected crash and by every call after it: the simulated process is dead.
 * @example
 * try { await runQuery(faultyFs(nodeFs, { at: 3, kind: 'crashAfter' })) } catch (e) { if (!(e instanceof SimulatedCrash)) throw e }
 */
export class SimulatedCrash extends Error {
  readonly code = 'SRX_SIMULATED_CRASH'
  constructor(readonly op: string) {
    super(`simulated crash at ${op}`)
    this.name = 'SimulatedCrash'
  }
}

/**
 * A {@link CheckpointFs} that records the mutating operations it sees.
 * @example
 * const fs = countingFs(nodeFs, { root: checkpointLocation })
 * createSession({ fs }) // run a query on it …
 * console.log(fs.opCount, fs.ops) // e.g. 6, ['mkdirp offsets', 'writeFileAtomic offsets/0', …]
 */
export interface CountingFs extends CheckpointFs {
  /** Mutating operations attempted so far, including the faulted one. */
  readonly opCount: number
  /** One readable line per mutating operation, e.g. `writeFileAtomic offsets/3`; a faulted one ends `[tornWrite]`. */
  readonly ops: readonly string[]
}

/**
 * A {@link CountingFs} with an injected fault.
 * @example
 * const fs = faultyFs(nodeFs, { at: 2, kind: 'crashAfter' })
 * createSession({ fs }) // run a query on it …
 * fs.crashed // true once the simulated crash happened
 */
export interface FaultyFs extends CountingFs {
  /** True once a simulated crash happened: every later call rejects with {@link SimulatedCrash}. */
  readonly crashed: boolean
}

type MutatingOp = 'writeFileAtomic' | 'appendFileDurable' | 'mkdirp' | 'remove' | 'renameDurable' | 'createExclusive'

const ERRNO: Record<'ENOSPC' | 'EIO', { errno: number; text: string }> = {
  ENOSPC: { errno: -28, text: 'no space left on device' },
  EIO: { errno: -5, text: 'i/o error' },
}

function ioError(code: 'ENOSPC' | 'EIO', op: MutatingOp, path: string): Error {
  const { errno, text } = ERRNO[code]
  return Object.assign(new Error(`${code}: ${text}, ${op} '${path}'`), { code, errno, syscall: op, path })
}

/** Deterministic, so a failing run replays byte for byte: the first half of the bytes. */
function firstHalf(data: string | Uint8Array): Uint8Array {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  return bytes.subarray(0, Math.floor(bytes.length / 2))
}

/**
 * Wraps `inner` so that its `fault.at`-th mutating operation fails with `fault.kind`:
 * - `crashBefore`: the operation does not happen, then {@link SimulatedCrash}.
 * - `crashAfter`: the operation completes, then {@link SimulatedCrash}.
 * - `tornWrite`: `writeFileAtomic` leaves half the bytes in its temp file and never renames it; `appendFileDurable`
 *   and `createExclusive` write half the bytes; then {@link SimulatedCrash}. For `mkdirp`, `remove` and
 *   `renameDurable`, which write no data, it is `crashBefore`.
 * - `ENOSPC` / `EIO`: rejects with a Node-style error of that `code`, the operation not done; the fs stays usable.
 * After a simulated crash every call, reads included, rejects with {@link SimulatedCrash}.
 * @example
 * const fs = faultyFs(nodeFs, { at: 2, kind: 'tornWrite' }, { root: checkpointDir })
 * await expect(runQuery(fs)).rejects.toBeInstanceOf(SimulatedCrash)
 * fs.ops // ['mkdirp .', 'writeFileAtomic metadata', 'writeFileAtomic offsets/0 [tornWrite]']
 * @throws TypeError if `fault.at` is finite and `fault.kind` is missing.
 */
export function faultyFs(inner: CheckpointFs, fault: Fault, options: FaultFsOptions = {}): FaultyFs {
  if (Number.isFinite(fault.at) && fault.kind === undefined) {
    throw new TypeError(`fault at op ${fault.at} needs a kind`)
  }
  let crashed = false
  let opCount = 0
  const ops: string[] = []
  const show = (path: string): string => (options.root === undefined ? path : relative(options.root, path) || '.')

  const alive = (what: string): void => {
    if (crashed) throw new SimulatedCrash(`${what} after the crash`)
  }
  const crash = (line: string): never => {
    crashed = true
    throw new SimulatedCrash(line)
  }

  /** Runs one mutating op, or its faulty variant when it is the chosen one. `torn` writes the partial data. */
  const mutate = async <R>(
    op: MutatingOp,
    path: string,
    run: () => Promise<R>,
    torn?: (index: number) => Promise<unknown>,
  ): Promise<R> => {
    alive(`${op} ${show(path)}`)
    const index = opCount++
    const kind = index === fault.at ? fault.kind : undefined
    const line = `${op} ${show(path)}${kind === undefined ? '' : ` [${kind}]`}`
    ops.push(line)
    switch (kind) {
      case undefined:
        return run()
      case 'crashBefore':
        return crash(line)
      case 'crashAfter':
        await run()
        return crash(line)
      case 'tornWrite':
        if (torn !== undefined) await torn(index)
        return crash(line)
      case 'ENOSPC':
      case 'EIO':
        throw ioError(kind, op, path)
    }
  }

  const read = async <R>(what: string, run: () => Promise<R>): Promise<R> => {
    alive(what)
    return run()
  }

  return {
    get crashed() {
      return crashed
    },
    get opCount() {
      return opCount
    },
    get ops() {
      return ops
    },
    readFile: (path) => read(`readFile ${show(path)}`, () => inner.readFile(path)),
    readChunks: inner.readChunks === undefined ? undefined : (path) => {
      alive(`readChunks ${show(path)}`)
      return inner.readChunks!(path)
    },
    exists: (path) => read(`exists ${show(path)}`, () => inner.exists(path)),
    // A pinned file answers nothing once the simulated process is dead, like every other call.
    pinFile: inner.pinFile === undefined ? undefined : async (path) => {
      const pin = await read(`pinFile ${show(path)}`, () => inner.pinFile!(path))
      return {
        read: () => read(`read pinned ${show(path)}`, () => pin.read()),
        stillAt: () => read(`stillAt ${show(path)}`, () => pin.stillAt()),
        release: () => pin.release(),
      }
    },
    readdir: (path) => read(`readdir ${show(path)}`, () => inner.readdir(path)),
    size: (path) => read(`size ${show(path)}`, () => inner.size(path)),
    writeFileAtomic: (path, data, beforeReplace) =>
      mutate(
        'writeFileAtomic',
        path,
        () => inner.writeFileAtomic(path, data, beforeReplace),
        // The temp file is as far as a torn atomic write gets: the target keeps its old content.
        async (index) => {
          await inner.mkdirp(dirname(path))
          await inner.createExclusive(tempPathFor(path, `torn${index}`), firstHalf(data))
        },
      ),
    appendFileDurable: (path, data) =>
      mutate(
        'appendFileDurable',
        path,
        () => inner.appendFileDurable(path, data),
        () => inner.appendFileDurable(path, firstHalf(data)),
      ),
    mkdirp: (path) => mutate('mkdirp', path, () => inner.mkdirp(path)),
    remove: (path) => mutate('remove', path, () => inner.remove(path)),
    renameDurable: (from, to) => mutate('renameDurable', from, () => inner.renameDurable(from, to)),
    createExclusive: (path, data) =>
      mutate(
        'createExclusive',
        path,
        () => inner.createExclusive(path, data),
        () => inner.createExclusive(path, firstHalf(data)),
      ),
  }
}

/**
 * Wraps `inner` to count and trace its mutating operations without injecting anything. A law runs a query once
 * through it to learn how many crash points (`opCount`) the run has.
 * @example
 * const fs = countingFs(nodeFs, { root: checkpointDir })
 * await runQuery(fs)
 * for (let at = 0; at < fs.opCount; at++) await runQuery(faultyFs(nodeFs, { at, kind: 'crashAfter' }))
 * @throws never itself; rejects with whatever `inner` rejects with.
 */
export function countingFs(inner: CheckpointFs, options: FaultFsOptions = {}): CountingFs {
  const counted = faultyFs(inner, { at: Infinity }, options)
  return {
    get opCount() {
      return counted.opCount
    },
    get ops() {
      return counted.ops
    },
    readFile: counted.readFile,
    writeFileAtomic: counted.writeFileAtomic,
    appendFileDurable: counted.appendFileDurable,
    exists: counted.exists,
    pinFile: counted.pinFile,
    readdir: counted.readdir,
    mkdirp: counted.mkdirp,
    remove: counted.remove,
    renameDurable: counted.renameDurable,
    size: counted.size,
    createExclusive: counted.createExclusive,
  }
}
