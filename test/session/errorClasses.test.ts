/** Every error class of src/errors.ts built directly: its code, name, message and the fields it carries. */
import { describe, expect, it } from 'vitest'
import {
  BadMessageError,
  BadRecordError,
  CheckpointCorruptedError,
  CheckpointLockLostError,
  CheckpointVersionError,
  CliError,
  ConcurrentQueryError,
  ConnectorUnavailableError,
  CoordinatorStateError,
  CoordinatorUnavailableError,
  FencedError,
  IncompatibleCheckpointError,
  InvalidQueryError,
  OperatorFailure,
  PartitioningMismatchError,
  PathNotFoundError,
  QueryModuleError,
  SourceFileChangedError,
  StreamingQueryError,
  StructuredRxError,
} from '../../src/errors.js'

describe('error classes', () => {
  const cause = new Error('socket closed')
  // Each error is built inside its test, so that per-test coverage (mutation testing) ties its message to the test.
  const cases: [() => StructuredRxError, string, string, string][] = [
    [() => new StreamingQueryError('query failed', cause, 3, 'count'), 'StreamingQueryError', 'SRX_QUERY_FAILED', 'query failed'],
    [() => new BadRecordError('/in/a.json', 7, 'user.id', 'expected string'), 'BadRecordError', 'SRX_BAD_RECORD', 'bad record in /in/a.json at line 7 (user.id): expected string'],
    [() => new BadRecordError('/in/a.json', 7, '', 'not JSON'), 'BadRecordError', 'SRX_BAD_RECORD', 'bad record in /in/a.json at line 7: not JSON'],
    [() => new CheckpointCorruptedError('/ckpt/offsets/3', 'truncated'), 'CheckpointCorruptedError', 'SRX_CHECKPOINT_CORRUPTED', 'checkpoint file /ckpt/offsets/3 is corrupted: truncated'],
    [
      () => new CheckpointVersionError('/ckpt/metadata', 5, 2),
      'CheckpointVersionError',
      'SRX_CHECKPOINT_VERSION',
      'checkpoint file /ckpt/metadata has format v5, but this version of structured-rx reads formats up to v2: upgrade structured-rx to read it',
    ],
    [
      () => new ConcurrentQueryError('/ckpt', 'pid 12 on host-a'),
      'ConcurrentQueryError',
      'SRX_CONCURRENT_QUERY',
      'checkpoint /ckpt is in use by another running query (pid 12 on host-a); stop it first (a lock held on another host is taken over once its heartbeat stops)',
    ],
    [
      () => new IncompatibleCheckpointError('/ckpt', ['operators changed', 'partitions 4 → 8']),
      'IncompatibleCheckpointError',
      'SRX_INCOMPATIBLE_CHECKPOINT',
      'query is incompatible with checkpoint /ckpt:\n  - operators changed\n  - partitions 4 → 8',
    ],
    [() => new InvalidQueryError('bad plan'), 'InvalidQueryError', 'SRX_INVALID_QUERY', 'bad plan'],
    [() => new BadMessageError('events', 42, 'ts', 'expected number'), 'BadMessageError', 'SRX_BAD_MESSAGE', 'bad message in events at 42 (ts): expected number'],
    [() => new BadMessageError('events', '1-0', '', 'not JSON'), 'BadMessageError', 'SRX_BAD_MESSAGE', 'bad message in events at 1-0: not JSON'],
    [() => new ConnectorUnavailableError('redis 127.0.0.1:6379', 3, cause), 'ConnectorUnavailableError', 'SRX_CONNECTOR_UNAVAILABLE', 'redis 127.0.0.1:6379 is unreachable after 3 attempts: socket closed'],
    [() => new ConnectorUnavailableError('nats', 1, 'ECONNREFUSED'), 'ConnectorUnavailableError', 'SRX_CONNECTOR_UNAVAILABLE', 'nats is unreachable after 1 attempts: ECONNREFUSED'],
    [() => new PartitioningMismatchError('partitions differ'), 'PartitioningMismatchError', 'SRX_PARTITIONING_MISMATCH', 'partitions differ'],
    [() => new QueryModuleError('no export'), 'QueryModuleError', 'SRX_QUERY_MODULE', 'no export'],
    [() => new FencedError('t3', 'm1', 9), 'FencedError', 'SRX_FENCED', 'task t3: member m1 lost its lease (epoch 9 is no longer current); its commit is refused'],
    [() => new CoordinatorUnavailableError('redis', 'renew', 'timed out', cause), 'CoordinatorUnavailableError', 'SRX_COORDINATOR_UNAVAILABLE', 'coordinator redis: renew timed out'],
    [
      () => new CoordinatorStateError('redis', 'srx:lease:1', 'not JSON'),
      'CoordinatorStateError',
      'SRX_COORDINATOR_STATE',
      'coordinator redis: entry srx:lease:1 is not a lease or heartbeat structured-rx wrote (not JSON); use a cluster name no other application uses, or delete the entry',
    ],
    [() => new PathNotFoundError('/in', 'create it first'), 'PathNotFoundError', 'SRX_PATH_NOT_FOUND', 'path does not exist: /in; create it first'],
    [
      () => new SourceFileChangedError('/in/a.json', 10, 20),
      'SourceFileChangedError',
      'SRX_SOURCE_FILE_CHANGED',
      "input file /in/a.json changed after it was logged for a batch (10 bytes then, 20 now): write input files elsewhere and rename them into the directory when complete, or set jsonFiles option fileChanges: 'readAppended' to read appended bytes as a new version of the file",
    ],
    [
      () => new CheckpointLockLostError('/ckpt', 4, 'pid 9 on host-b'),
      'CheckpointLockLostError',
      'SRX_LOCK_LOST',
      'this run lost the lock of checkpoint /ckpt (epoch 4) to pid 9 on host-b: it stops without committing, and the batch it was running is re-run by the new holder',
    ],
  ]

  it.each(cases)('#%# (%2$s) has its name, code and message', (make, name, code, message) => {
    const error = make()
    expect(error).toBeInstanceOf(StructuredRxError)
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe(name)
    expect(error.code).toBe(code)
    expect(error.message).toBe(message)
  })

  it('keep the fields they name', () => {
    expect(new StreamingQueryError('m', cause, 3, 'count')).toMatchObject({ cause, batchId: 3, operator: 'count' })
    expect(new BadRecordError('f', 1, 'p', 'r')).toMatchObject({ file: 'f', line: 1, codecPath: 'p', reason: 'r' })
    expect(new CheckpointVersionError('p', 5, 2)).toMatchObject({ path: 'p', foundVersion: 5, supportedVersion: 2 })
    expect(new ConcurrentQueryError('c', 'h')).toMatchObject({ checkpointLocation: 'c', holder: 'h' })
    expect(new IncompatibleCheckpointError('c', ['r'])).toMatchObject({ checkpointLocation: 'c', reasons: ['r'] })
    expect(new ConnectorUnavailableError('x', 2, cause)).toMatchObject({ connector: 'x', attempts: 2, cause })
    expect(new CoordinatorUnavailableError('s', 'get', 'failed', cause)).toMatchObject({ store: 's', call: 'get', cause })
    expect(new FencedError('t', 'm', 1)).toMatchObject({ task: 't', member: 'm', epoch: 1 })
    expect(new SourceFileChangedError('p', 1, 2)).toMatchObject({ path: 'p', loggedSize: 1, currentSize: 2 })
    expect(new CheckpointLockLostError('c', 4, 's')).toMatchObject({ checkpointLocation: 'c', epoch: 4, successor: 's' })
    expect(new QueryModuleError('m', { cause }).cause).toBe(cause)
  })

  it('OperatorFailure and CliError, which are not library errors with codes', () => {
    const f = new OperatorFailure('map', cause)
    expect(f.message).toBe("operator 'map' failed: socket closed")
    expect(f.operator).toBe('map')
    expect(f.cause).toBe(cause)
    expect(new OperatorFailure('map', 42).message).toBe("operator 'map' failed: 42")
    expect(f).not.toBeInstanceOf(StructuredRxError)
    const c = new CliError('bad flag')
    expect(c.name).toBe('CliError')
    expect(c.message).toBe('bad flag')
  })
})
