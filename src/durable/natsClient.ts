/**
 * The NATS connection the JetStream source and sink share: reconnects forever in the background (a broker that went
 * away comes back by itself) while each call's retry bound decides when the query gives up. The client library is
 * loaded on first use, so queries that never touch NATS never load it.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'

/** A connection with its JetStream contexts. */
export interface NatsClient {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** The servers, for error messages. */
  readonly servers: string
  /** The client library's enums, loaded with it. */
  readonly AckPolicy: typeof import('@nats-io/jetstream').AckPolicy
  readonly DeliverPolicy: typeof import('@nats-io/jetstream').DeliverPolicy
}

/** How long one JetStream API call or publish may wait for its answer before it counts as a transient failure. */
const CALL_TIMEOUT_MS = 5000

/**
 * Connects to `servers` and opens JetStream.
 * @example const client = await connectNats('nats://127.0.0.1:4222')
 * @throws the client's error when no server answers (callers wrap this in their retry).
 */
export async function connectNats(servers: string | readonly string[]): Promise<NatsClient> {
  const { connect } = await import('@nats-io/transport-node')
  const { jetstreamManager, AckPolicy, DeliverPolicy } = await import('@nats-io/jetstream')
  const list = typeof servers === 'string' ? [servers] : [...servers]
  const nc = await connect({ servers: list, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: CALL_TIMEOUT_MS })
  try {
    const jsm = await jetstreamManager(nc, { timeout: CALL_TIMEOUT_MS })
    return { nc, jsm, js: jsm.jetstream(), servers: list.join(','), AckPolicy, DeliverPolicy }
  } catch (e) {
    await nc.close().catch(() => undefined)
    throw e
  }
}

const TRANSIENT = new Set([
  'TimeoutError',
  'NoRespondersError',
  'ConnectionError',
  'RequestError',
  'JetStreamNotEnabled',
  'JetStreamStatusError',
  'DrainingConnectionError',
])

/**
 * Whether a NATS error means "the broker is not there right now" (timeouts, no responders while JetStream restarts,
 * a dropped connection) rather than a refusal (a missing stream, a bad subject), which retrying cannot fix.
 */
export function isTransientNatsError(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (TRANSIENT.has(e.name)) return true
    if (e.name === 'JetStreamApiError' && /temporarily unavailable|not ready/i.test(e.message)) return true
  }
  return false
}

/** Milliseconds as the nanoseconds JetStream's API takes for durations. */
export const nanos = (ms: number): number => ms * 1_000_000

