/**
 * structured-rx/laws: properties that every structured-rx query must satisfy, for users' own test suites.
 * @module structured-rx/laws
 */

export { incrementalMatchesReference } from './incrementalMatchesReference.js'
export type { IncrementalMatchesReferenceOptions } from './incrementalMatchesReference.js'
export { incrementalMatchesReferenceHolds, foldReference, finalWatermark, resultShape } from './incremental.js'
export type { ResultShape } from './incremental.js'
export { cutIntoBatches, planOf, referenceEmissions, runInMicroBatches } from './query.js'
export type { LawResult, QueryUnderTest } from './query.js'
export { splitSeeds, splitsOf } from './splits.js'
export { canonical, identityOf, sortByIdentity, upsertByIdentity } from './rows.js'
export { comparisonFor, resultDifference } from './compare.js'
export type { Comparison } from './compare.js'
export { exactlyOnceUnderCrashes, exactlyOnceUnderCrashesHolds } from './exactlyOnce.js'
export type {
  CrashLawOptions,
  CrashLawResult,
  CrashLawSink,
  DurableSink,
  ExactlyOnceUnderCrashesOptions,
  InjectedFault,
} from './exactlyOnce.js'
export { checkpointUpgradeCompatible, checkpointUpgradeCompatibleHolds } from './upgrade.js'
export type {
  CheckpointUpgradeCompatibleOptions,
  ExpectedAfterUpgrade,
  UpgradeCut,
  UpgradeLawEnvironment,
  UpgradeLawResult,
} from './upgrade.js'
export { arbitraryFromCodec, codecRoundTrip, codecRoundTripHolds } from './codecs.js'
export type { ArbitraryFromCodecOptions, ValueLawResult } from './codecs.js'
export { migrationLaws, migrationLawsHold, migrationRestoreHolds } from './migrations.js'
export type { AnyMigration, MigrationLawOptions } from './migrations.js'
export { assertLaw } from './query.js'
