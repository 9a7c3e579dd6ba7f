/**
 * Every public error of structured-rx. Each has a stable `code` that never changes meaning, so callers can
 * branch on `err.code` across library versions.
 */
import { errorText } from './util/text.js'

/**
 * Base class: every library error has a stable string `code`.
 * @example catch (e) { if (e instanceof StructuredRxError && e.code === 'SRX_CONCURRENT_QUERY') retryLater() }
 */
export abstract class StructuredRxError extends Error {
  abstract readonly code: string
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/**
 * A query failed: a user function threw, a state value failed its codec, a source or sink failed.
 * `batchId` and `operator` say where; `cause` holds the original error.
 * @example
 * try { await query.awaitTermination() } catch (e) { if (e instanceof StreamingQueryError) console.log(e.batchId, e.operator) }
 */
export class StreamingQueryError extends StructuredRxError {
  readonly code = 'SRX_QUERY_FAILED'
  constructor(
    message: string,
    override readonly cause: unknown,
    readonly batchId: number | undefined,
    readonly operator: string | undefined,
  ) {
    super(message, { cause })
  }
}

/**
 * A source row that is not valid JSON or fails its codec: names the file, the 1-based line and the codec path.
 * @example if (e instanceof StreamingQueryError && e.cause instanceof BadRecordError) console.error(`${e.cause.file}:${e.cause.line}`)
 */
export class BadRecordError extends StructuredRxError {
  readonly code = 'SRX_BAD_RECORD'
  constructor(
    readonly file: string,
    readonly line: number,
    readonly codecPath: string,
    readonly reason: string,
  ) {
    super(`bad record in ${file} at line ${line}${codecPath ? ` (${codecPath})` : ''}: ${reason}`)
  }
}

/**
 * A checkpoint file fails its checksum or does not decode. `path` names the file.
 * @example await start().catch((e) => { if (e instanceof CheckpointCorruptedError) console.error(`damaged: ${e.path}`); throw e })
 */
export class CheckpointCorruptedError extends StructuredRxError {
  readonly code = 'SRX_CHECKPOINT_CORRUPTED'
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`checkpoint file ${path} is corrupted: ${reason}`)
  }
}

/**
 * A checkpoint file was written by a newer format than this library reads.
 * @example if (e instanceof CheckpointVersionError) console.error('upgrade structured-rx to read this checkpoint')
 */
export class CheckpointVersionError extends StructuredRxError {
  readonly code = 'SRX_CHECKPOINT_VERSION'
  constructor(
    readonly path: string,
    readonly foundVersion: number,
    readonly supportedVersion: number,
  ) {
    super(
      `checkpoint file ${path} has format v${foundVersion}, but this version of structured-rx reads formats up to ` +
        `v${supportedVersion}: upgrade structured-rx to read it`,
    )
  }
}

/**
 * Another running query holds the lock of this checkpoint location.
 * @example if (e instanceof ConcurrentQueryError) console.error('already running elsewhere:', e.message)
 */
export class ConcurrentQueryError extends StructuredRxError {
  readonly code = 'SRX_CONCURRENT_QUERY'
  constructor(
    readonly checkpointLocation: string,
    readonly holder: string,
  ) {
    super(
      `checkpoint ${checkpointLocation} is in use by another running query (${holder}); stop it first ` +
        '(a lock held on another host is taken over once its heartbeat stops)',
    )
  }
}

/**
 * The query does not fit its checkpoint; `reasons` lists every difference and what to do about it.
 * @example if (e instanceof IncompatibleCheckpointError) for (const r of e.reasons) console.error(`- ${r}`)
 */
export class IncompatibleCheckpointError extends StructuredRxError {
  readonly code = 'SRX_INCOMPATIBLE_CHECKPOINT'
  constructor(
    readonly checkpointLocation: string,
    readonly reasons: string[],
  ) {
    super(`query is incompatible with checkpoint ${checkpointLocation}:\n  - ${reasons.join('\n  - ')}`)
  }
}

/**
 * The query is not a valid streaming plan (e.g. an output mode the operators cannot serve). Thrown by `start()`.
 * @example await expect(stream.writeStream({ outputMode: 'append', sink }).start()).rejects.toBeInstanceOf(InvalidQueryError)
 */
export class InvalidQueryError extends StructuredRxError {
  readonly code = 'SRX_INVALID_QUERY'
}

/**
 * A user function threw inside an operator. Internal: the query turns it into a StreamingQueryError carrying the
 * batch id and `operator`, so it never reaches a caller.
 * @example throw new OperatorFailure('map #1', new TypeError('x is undefined'))
 */
export class OperatorFailure extends Error {
  constructor(
    readonly operator: string,
    override readonly cause: unknown,
  ) {
    super(`operator '${operator}' failed: ${errorText(cause)}`, { cause })
  }
}

/**
 * An offline checkpoint tool (`inspect`, `state`, `rescale`) cannot do what was asked, for a reason the user can act on (shown as `structured-rx: <reason>`).
 * @example throw new CliError(`unknown operator 'x'; known operators: count`)
 */
export class CliError extends Error {
  override readonly name = 'CliError'
}

/**
 * A message of a log source (a JetStream subject, a Redis stream key) is not valid JSON or fails its codec: names
 * where (`log`, e.g. `stream ORDERS subject orders.1`), the position (stream sequence or entry id) and the codec path.
 * @example if (e instanceof StreamingQueryError && e.cause instanceof BadMessageError) console.error(e.cause.message)
 */
export class BadMessageError extends StructuredRxError {
  readonly code = 'SRX_BAD_MESSAGE'
  constructor(
    readonly log: string,
    readonly position: number | string,
    readonly codecPath: string,
    readonly reason: string,
  ) {
    super(`bad message in ${log} at ${position}${codecPath ? ` (${codecPath})` : ''}: ${reason}`)
  }
}

/**
 * A broker or database stayed unreachable through every retry of a connector (`attempts` tries with back-off);
 * `cause` holds the last client error. The query fails; restarting it later resumes exactly where it stopped.
 * @example if (e instanceof StreamingQueryError && e.cause instanceof ConnectorUnavailableError) scheduleRestart()
 */
export class ConnectorUnavailableError extends StructuredRxError {
  readonly code = 'SRX_CONNECTOR_UNAVAILABLE'
  constructor(
    readonly connector: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(
      `${connector} is unreachable after ${attempts} attempts: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    )
  }
}

/**
 * A query over a partitioned source cannot run as tasks: the source is not partitioned by the stateful key (or a
 * row's key hashes to another partition than the one it was read from), so no task could own its keys' state alone.
 * The message names the source and what to do: write the source with the engine's stable key hash of the grouping
 * key, or read it unpartitioned.
 * @example catch (e) { if (e instanceof PartitioningMismatchError) console.error(e.message) } // says how to write the source
 */
export class PartitioningMismatchError extends StructuredRxError {
  readonly code = 'SRX_PARTITIONING_MISMATCH'
}

/**
 * A parallel or clustered query is not defined in a module its workers can import: the module cannot be loaded, the
 * export is missing, or it was not made with `defineQuery`. Names the module and the export.
 * @example catch (e) { if (e instanceof QueryModuleError) console.error(e.message) } // names module and export
 */
export class QueryModuleError extends StructuredRxError {
  readonly code = 'SRX_QUERY_MODULE'
}

/**
 * A commit was refused because the member no longer holds the task's lease at the epoch it carries (it was paused
 * or cut off past the lease TTL and another member took the task over). The member must stop the task; the new
 * owner replays the batch from the checkpoint.
 * @example if (e instanceof StreamingQueryError && e.cause instanceof FencedError) console.log(`lost task ${e.cause.task}`)
 */
export class FencedError extends StructuredRxError {
  readonly code = 'SRX_FENCED'
  constructor(readonly task: string, readonly member: string, readonly epoch: number) {
    super(`task ${task}: member ${member} lost its lease (epoch ${epoch} is no longer current); its commit is refused`)
  }
}

/**
 * A call to a cluster's coordinator got no answer in time, or failed through its retries: `call` names it (`renew(task-3)`),
 * `store` the coordinator. The member retries at its next heartbeat; a task that needed the answer stops uncommitted.
 * @example if (e instanceof CoordinatorUnavailableError) console.warn(`${e.store}: ${e.call}`)
 */
export class CoordinatorUnavailableError extends StructuredRxError {
  readonly code = 'SRX_COORDINATOR_UNAVAILABLE'
  constructor(readonly store: string, readonly call: string, why: string, cause?: unknown) {
    super(`coordinator ${store}: ${call} ${why}`, { cause })
  }
}

/**
 * A coordinator's store holds an entry where a lease or a member's heartbeat should be that this library did not
 * write (another application uses the same keys or bucket, or the entry was edited by hand). Names the store, the
 * key and what is wrong with it; pick a cluster name nobody else uses, or delete the entry.
 * @example if (e instanceof CoordinatorStateError) console.log(e.store, e.key)
 */
export class CoordinatorStateError extends StructuredRxError {
  readonly code = 'SRX_COORDINATOR_STATE'
  constructor(readonly store: string, readonly key: string, readonly reason: string) {
    super(`coordinator ${store}: entry ${key} is not a lease or heartbeat structured-rx wrote (${reason}); use a cluster name no other application uses, or delete the entry`)
  }
}

/**
 * A path the query needs does not exist: a source directory mistyped or not yet created, or an input file deleted
 * after it was logged for a batch. The message says how to proceed.
 * @example
 * try { await stream.writeStream(options).start() } catch (e) { if (e instanceof PathNotFoundError) console.log(e.path) }
 */
export class PathNotFoundError extends StructuredRxError {
  readonly code = 'SRX_PATH_NOT_FOUND'
  constructor(
    readonly path: string,
    readonly hint: string,
  ) {
    super(`path does not exist: ${path}; ${hint}`)
  }
}

/**
 * An input file changed after its size was logged for a batch, so the batch cannot be read as it was planned.
 * @example
 * if (e.cause instanceof SourceFileChangedError) console.log(e.cause.path, e.cause.loggedSize, e.cause.currentSize)
 */
export class SourceFileChangedError extends StructuredRxError {
  readonly code = 'SRX_SOURCE_FILE_CHANGED'
  constructor(
    readonly path: string,
    readonly loggedSize: number,
    readonly currentSize: number,
  ) {
    super(
      `input file ${path} changed after it was logged for a batch (${loggedSize} bytes then, ${currentSize} now): ` +
        'write input files elsewhere and rename them into the directory when complete, or set ' +
        "jsonFiles option fileChanges: 'readAppended' to read appended bytes as a new version of the file",
    )
  }
}

/**
 * This run lost the lock of its checkpoint: another run judged it stale (its process looked dead, or its heartbeat
 * stopped) and took it over with a later epoch, so this run must not commit anything more.
 * @example if (e.cause instanceof CheckpointLockLostError) console.log(e.cause.checkpointLocation, e.cause.epoch)
 */
export class CheckpointLockLostError extends StructuredRxError {
  readonly code = 'SRX_LOCK_LOST'
  constructor(
    readonly checkpointLocation: string,
    readonly epoch: number,
    readonly successor: string,
  ) {
    super(
      `this run lost the lock of checkpoint ${checkpointLocation} (epoch ${epoch}) to ${successor}: it stops without ` +
        'committing, and the batch it was running is re-run by the new holder',
    )
  }
}
