/** structured-rx/laws: properties that every structured-rx query must satisfy, for users' own test suites. */

export { incrementalMatchesReference } from './incrementalMatchesReference.js'
export type { IncrementalMatchesReferenceOptions } from './incrementalMatchesReference.js'
export { incrementalMatchesReferenceHolds, foldReference, finalWatermark, resultShape } from './incremental.js'
export type { ResultShape } from './incremental.js'
export { cutIntoBatches, planOf, referenceEmissions, runInMicroBatches } from './query.js'
export type { LawResult, QueryUnderTest } from './query.js'
export { splitSeeds, splitsOf } from './splits.js'
export { canonical, firstDifference, identityOf, sortByIdentity, upsertByIdentity } from './rows.js'
export { exactlyOnceUnderCrashes, exactlyOnceUnderCrashesHolds } from './exactlyOnce.js'
export type { CrashLawResult, CrashLawSink, DurableSink, InjectedFault } from './exactlyOnce.js'
export {
  checkpointUpgradeCompatible,
  checkpointUpgradeCompatibleHolds,
  codecRoundTrip,
  codecRoundTripHolds,
  migrationLaws,
  migrationLawsHold,
  arbitraryFromCodec,
} from './upgrade.js'
export type {
  AnyMigration,
  ArbitraryFromCodecOptions,
  CheckpointUpgradeCompatibleOptions,
  ExpectedAfterUpgrade,
  MigrationLawOptions,
  UpgradeCut,
  UpgradeLawEnvironment,
  UpgradeLawResult,
  ValueLawResult,
} from './upgrade.js'
