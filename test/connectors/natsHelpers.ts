/** Test helpers for JetStream: create a stream, publish rows, read back what a subject holds. */
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'

export interface NatsTestClient {
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
  addStream(name: string, subjects: string[]): Promise<void>
  publish(subject: string, rows: readonly unknown[]): Promise<number[]>
  /** Every message on subjects matching `filter`, in stream order. */
  /** Waits until the server answers JetStream requests for `stream` again (after a restart). */
  waitForStream(stream: string): Promise<void>
  read(stream: string, filter: string): Promise<{ subject: string; seq: number; text: string }[]>
  close(): Promise<void>
}

export async function natsTestClient(url: string): Promise<NatsTestClient> {
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
  const jsm = await jetstreamManager(nc)
  const js = jsm.jetstream()
  const encoder = new TextEncoder()
  return {
    nc,
    jsm,
    async addStream(name, subjects) {
      await jsm.streams.add({ name, subjects })
    },
    async publish(subject, rows) {
      const acks = await Promise.all(
        rows.map((r) => js.publish(subject, encoder.encode(typeof r === 'string' ? r : JSON.stringify(r)))),
      )
      return acks.map((a) => a.seq)
    },
    async waitForStream(stream) {
      for (let i = 0; ; i++) {
        try {
          await jsm.streams.info(stream)
          return
        } catch (e) {
          if (i >= 100) throw e
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    },
    async read(stream, filter) {
      const info = await jsm.consumers.add(stream, { filter_subject: filter, ack_policy: 'none' as never, mem_storage: true })
      const out: { subject: string; seq: number; text: string }[] = []
      let pending = info.num_pending
      const consumer = await js.consumers.get(stream, info.name)
      while (pending > 0) {
        const want = Math.min(pending, 5000)
        let got = 0
        for await (const m of await consumer.fetch({ max_messages: want, expires: 5000 })) {
          out.push({ subject: m.subject, seq: m.seq, text: m.string() })
          if (++got === want) break
        }
        pending -= got
      }
      await jsm.consumers.delete(stream, info.name)
      return out
    },
    close: () => nc.close(),
  }
}
