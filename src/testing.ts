/**
 * structured-rx/testing: what tests and laws need beside the public API — file systems that inject faults or count
 * checkpoint I/O, the crash they simulate, and the engine's own choice of migration chain and codec-error text, so a
 * law checks exactly what a running query does.
 * @module structured-rx/testing
 */
export { faultyFs, countingFs, SimulatedCrash } from './durable/faultFs.js'
export type { Fault, FaultKind, FaultyFs, CountingFs, FaultFsOptions } from './durable/faultFs.js'
export { migrationPath } from './plan/migrations.js'
export { describeIoTsErrors } from './util/ioTsErrors.js'
