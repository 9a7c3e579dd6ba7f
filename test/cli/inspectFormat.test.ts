/**
 * The readable form of `structured-rx inspect`, from reports built by hand: every line and heading of the text, and
 * each way the lock, a rescale left unfinished, the last offsets and the operators are written.
 */
import { describe, expect, it } from 'vitest'
import { formatInspectReport, type InspectReport, type OperatorReport } from '../../src/cli/inspect.js'

const fingerprint = {
  sources: [{ kind: 'memory', identity: 'clicks' }],
  statefulOperators: [],
  outputMode: 'append',
  watermarkDelayMs: null,
  shufflePartitions: 2,
  formatVersion: 2,
}

/** A checkpoint with two committed batches, free, without state: each test changes what it looks at. */
function report(changes: Partial<InspectReport> = {}): InspectReport {
  return {
    location: '/data/ckpt',
    id: 'q-1',
    formatVersion: 2,
    shufflePartitions: 2,
    createdAt: '2026-12-01T10:00:00.000Z',
    lock: null,
    batches: { lastCommitted: 1, commitsRetained: 2, offsetsRetained: 3, pending: [] },
    lastOffsets: { batchId: 1, start: 4, end: 9, watermarkMs: 0, batchTimestampMs: Date.UTC(2026, 11, 1, 10, 0, 5) },
    stateAtBatch: 1,
    operators: [],
    rescaleInProgress: null,
    fingerprint,
    ...changes,
  }
}

/** The line of the report that starts with a field's padded name. */
function fieldLine(text: string, name: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`  ${name.padEnd(20)}`))
}

describe('formatInspectReport', () => {
  it('writes every section of a checkpoint without state, line by line', () => {
    expect(formatInspectReport(report())).toBe(
      [
        'Checkpoint /data/ckpt',
        '  query id            q-1',
        '  format version      v2',
        '  shuffle partitions  2',
        '  created at          2026-12-01T10:00:00.000Z',
        '  lock                free',
        '',
        'Batches',
        '  last committed      1',
        '  commit files        2 retained',
        '  offset files        3 retained',
        '  pending             none',
        '',
        'Last offsets (batch 1)',
        '  start               4',
        '  end                 9',
        '  watermark           0 (none yet)',
        '  batch timestamp     2026-12-01T10:00:05.000Z',
        '',
        'State at batch 1',
        '  no stateful operators',
        '',
        'Fingerprint',
        '  {',
        '    "sources": [',
        '      {',
        '        "kind": "memory",',
        '        "identity": "clicks"',
        '      }',
        '    ],',
        '    "statefulOperators": [],',
        '    "outputMode": "append",',
        '    "watermarkDelayMs": null,',
        '    "shufflePartitions": 2,',
        '    "formatVersion": 2',
        '  }',
        '',
      ].join('\n'),
    )
  })

  it('says an older format is upgraded when a query next runs on it', () => {
    expect(fieldLine(formatInspectReport(report({ formatVersion: 1 })), 'format version')).toBe(
      '  format version      v1 (upgraded to v2 when a query next runs on it)',
    )
  })

  it('writes a checkpoint without a committed batch, without offsets, with pending batches', () => {
    const text = formatInspectReport(
      report({ batches: { lastCommitted: null, commitsRetained: 0, offsetsRetained: 2, pending: [0, 1] }, lastOffsets: null, stateAtBatch: null }),
    )
    expect(fieldLine(text, 'last committed')).toBe('  last committed      none')
    expect(fieldLine(text, 'pending')).toBe('  pending             0, 1 (offsets logged, no commit: a restart re-runs it)')
    expect(text).not.toContain('Last offsets')
    expect(text).toContain('\nState (no committed batch yet)\n  no stateful operators\n')
  })

  it('writes a watermark as milliseconds with their ISO time, and offsets as JSON', () => {
    const watermarkMs = Date.UTC(2026, 11, 1, 9, 59)
    const text = formatInspectReport(
      report({ lastOffsets: { batchId: 7, start: { p0: 3 }, end: { p0: 8, p1: 2 }, watermarkMs, batchTimestampMs: 0 } }),
    )
    expect(text).toContain(
      [
        'Last offsets (batch 7)',
        '  start               {"p0":3}',
        '  end                 {"p0":8,"p1":2}',
        `  watermark           ${watermarkMs} (2026-12-01T09:59:00.000Z)`,
        '  batch timestamp     1970-01-01T00:00:00.000Z',
      ].join('\n'),
    )
  })

  it('names the holder of the lock, with its query when the lock records one', () => {
    const held = { pid: 4242, hostname: 'box', startedAt: '2026-12-01T10:00:01.000Z' }
    expect(fieldLine(formatInspectReport(report({ lock: { ...held, queryName: 'clicks' } })), 'lock')).toBe(
      '  lock                held by query "clicks", pid 4242 on box since 2026-12-01T10:00:01.000Z (stale if that process is gone)',
    )
    expect(fieldLine(formatInspectReport(report({ lock: held })), 'lock')).toBe(
      '  lock                held by pid 4242 on box since 2026-12-01T10:00:01.000Z (stale if that process is gone)',
    )
    expect(fieldLine(formatInspectReport(report({ lock: { unreadable: true } })), 'lock')).toBe(
      '  lock                lock file present but unreadable (a restart takes it over)',
    )
  })

  it('names the command that finishes a rescale left unfinished', () => {
    const text = formatInspectReport(report({ rescaleInProgress: { from: 2, to: 5, batchId: 1, operators: ['count'] } }))
    expect(fieldLine(text, 'RESCALE UNFINISHED')).toBe(
      "  RESCALE UNFINISHED  2 → 5 partitions: run 'structured-rx rescale /data/ckpt --partitions 5' to finish it",
    )
    expect(formatInspectReport(report())).not.toContain('RESCALE')
  })

  it('writes each operator with its codecs, window and state versions, and a table of rows per partition', () => {
    const count: OperatorReport = {
      name: 'count',
      kind: 'aggregate',
      keyCodec: 'string',
      stateCodec: 'number',
      version: 3,
      timeout: 'none',
      window: '60000/60000',
      stateVersions: [2, 3],
      rows: 1234,
      bytes: 56789,
      files: 4,
      partitions: [
        { partition: 0, rows: 1200, files: 3 },
        { partition: 1, rows: 34, files: 1 },
      ],
    }
    const plain: OperatorReport = { ...count, name: 'users', window: null, stateVersions: [], rows: 0, bytes: 0, files: 0, partitions: [] }
    const text = formatInspectReport(report({ operators: [count, plain] }))
    expect(text).toContain(
      [
        'State at batch 1',
        '  count: aggregate, key string, state number, version 3, window 60000/60000 ms (files at state version 2, 3)',
        '    partition  rows  files  bytes',
        '            0  1200      3       ',
        '            1    34      1       ',
        '        total  1234      4  56789',
        '  users: aggregate, key string, state number, version 3',
        '    partition  rows  files  bytes',
        '        total     0      0      0',
        '',
        'Fingerprint',
      ].join('\n'),
    )
  })
})
