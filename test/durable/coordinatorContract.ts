/**
 * The contract every `Coordinator` keeps, run against each implementation (in memory, Redis, NATS KV): leases
 * change hands only by compare-and-set, of racing members exactly one wins, an expired lease is taken over with a
 * raised epoch and fences its old holder, heartbeats make the live members, and under random interleavings (a
 * property test against the real store) no task is ever held by two members in one epoch.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Coordinator, fairShares, type Lease } from '../../src/durable/lease.js'

/** An implementation under test. */
export interface CoordinatorSubject {
  /** A coordinator of `cluster` with lease TTL `ttlMs`, on a connection of its own as another member would have. */
  open(cluster: string, ttlMs: number): Coordinator
  /** Closes every coordinator opened and stops the store. */
  close(): Promise<void>
}

/** Long enough that a loaded machine never lets a lease lapse inside one test step. */
const LONG = 10_000
/** Short, for the tests of expiry; they wait twice this, a lower bound that load cannot break. */
const SHORT = 250
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let clusters = 0
const freshCluster = (): string => `c${process.pid}-${Date.now().toString(36)}-${clusters++}`

/** Declares the contract's tests for the subject `start` makes (once for the file). */
export function coordinatorContract(name: string, start: () => Promise<CoordinatorSubject>): void {
  describe(`${name} keeps the coordinator contract`, () => {
    let subject: CoordinatorSubject
    beforeAll(async () => {
      subject = await start()
    }, 60_000)
    afterAll(() => subject?.close())
    /** Members of one fresh cluster, each on its own connection, with the lease TTLs given (LONG by default). */
    const members = (n: number, ...ttls: number[]): Coordinator[] => {
      const cluster = freshCluster()
      return Array.from({ length: n }, (_, i) => subject.open(cluster, ttls[i] ?? ttls[0] ?? LONG))
    }

    it('acquires a free task at epoch 1; while the lease is fresh neither another member nor its holder acquires it', async () => {
      const [a, b] = members(2)
      const lease = await a!.acquire('t', 'A')
      expect(lease).toMatchObject({ task: 't', member: 'A', epoch: 1 })
      expect(await b!.acquire('t', 'B')).toBeUndefined()
      expect(await a!.acquire('t', 'A')).toBeUndefined()
      expect(await b!.holds('t', 'A', 1)).toBe(true)
    })

    it('renews a lease at its current revision with a new revision and the same epoch; a stale revision is refused', async () => {
      const [a, b] = members(2)
      const lease = (await a!.acquire('t', 'A'))!
      const renewed = (await b!.renew(lease))!
      expect(renewed).toMatchObject({ task: 't', member: 'A', epoch: 1 })
      expect(renewed.revision).not.toBe(lease.revision)
      expect(renewed.expiresAt).toBeGreaterThanOrEqual(lease.expiresAt)
      expect(await a!.renew(lease)).toBeUndefined()
      expect(await a!.release(lease)).toBe(false)
      expect(await a!.holds('t', 'A', 1)).toBe(true)
      expect(await a!.renew(renewed)).toBeDefined()
    })

    it('releases a lease: holds turns false, a second release fails, and the next owner gets a raised epoch', async () => {
      const [a, b] = members(2)
      const lease = (await a!.acquire('t', 'A'))!
      expect(await a!.release(lease)).toBe(true)
      expect(await b!.holds('t', 'A', 1)).toBe(false)
      expect(await a!.release(lease)).toBe(false)
      expect(await a!.renew(lease)).toBeUndefined()
      expect(await b!.acquire('t', 'B')).toMatchObject({ member: 'B', epoch: 2 })
    })

    it('lets exactly one of four members racing for a task win it, in each of 40 parallel trials, twice over', async () => {
      const racers = members(4)
      const tasks = Array.from({ length: 40 }, (_, i) => `task-${i}`)
      for (const round of [1, 2]) {
        const results = await Promise.all(tasks.map((task) => Promise.all(racers.map((c, m) => c.acquire(task, `m${m}`)))))
        const winners = results.map((r) => r.filter((l): l is Lease => l !== undefined))
        expect(winners.map((w) => w.length)).toEqual(tasks.map(() => 1))
        expect(winners.every(([w]) => w!.epoch === round)).toBe(true)
        await Promise.all(winners.map(([w]) => racers[0]!.release(w!)))
      }
    })

    it('lets another member take over an expired lease with a raised epoch, and fences the old holder', async () => {
      const [a, b] = members(2, SHORT, LONG)
      const old = (await a!.acquire('t', 'A'))!
      await sleep(2 * SHORT)
      expect(await a!.holds('t', 'A', 1)).toBe(false)
      const taken = (await b!.acquire('t', 'B'))!
      expect(taken).toMatchObject({ member: 'B', epoch: 2 })
      expect(taken.revision).not.toBe(old.revision)
      expect(await a!.holds('t', 'A', 1)).toBe(false)
      expect(await a!.holds('t', 'B', 2)).toBe(true)
      expect(await a!.renew(old)).toBeUndefined()
      expect(await a!.release(old)).toBe(false)
      expect(await a!.acquire('t', 'A')).toBeUndefined()
    })

    it('refuses to renew or release an expired lease nobody took, and raises the epoch when its holder takes it again', async () => {
      const [a] = members(1, SHORT)
      const old = (await a!.acquire('t', 'A'))!
      await sleep(2 * SHORT)
      expect(await a!.renew(old)).toBeUndefined()
      expect(await a!.release(old)).toBe(false)
      expect(await a!.holds('t', 'A', 1)).toBe(false)
      expect(await a!.acquire('t', 'A')).toMatchObject({ member: 'A', epoch: 2 })
    })

    it('holds is false for another member, another epoch, or a task never leased', async () => {
      const [a] = members(1)
      await a!.acquire('t', 'A')
      expect(await a!.holds('t', 'B', 1)).toBe(false)
      expect(await a!.holds('t', 'A', 2)).toBe(false)
      expect(await a!.holds('never', 'A', 1)).toBe(false)
    })

    it('counts members by heartbeat, sorted, and leave removes one at once', async () => {
      const [a, b] = members(2)
      await Promise.all([a!.heartbeat('m-b'), b!.heartbeat('m-a'), b!.heartbeat('m-c')])
      expect(await a!.members()).toEqual(['m-a', 'm-b', 'm-c'])
      await b!.leave('m-b')
      expect(await b!.members()).toEqual(['m-a', 'm-c'])
      await a!.heartbeat('m-b')
      expect(await b!.members()).toEqual(['m-a', 'm-b', 'm-c'])
    })

    it('drops a member whose heartbeat is older than the TTL, and counts it again once it beats', async () => {
      const [silent, other] = members(2, SHORT, LONG)
      await silent!.heartbeat('m-silent')
      await sleep(2 * SHORT)
      expect(await other!.members()).toEqual([])
      await other!.heartbeat('m-other')
      expect(await silent!.members()).toEqual(['m-other'])
    })

    it('gives fair shares over the live members that differ by at most one, and follows members as they come and go', async () => {
      const [a] = members(1)
      await Promise.all(['x', 'y', 'z'].map((m) => a!.heartbeat(m)))
      expect([...fairShares(await a!.members(), 8)]).toEqual([['x', 3], ['y', 3], ['z', 2]])
      await a!.leave('y')
      expect([...fairShares(await a!.members(), 8)]).toEqual([['x', 4], ['z', 4]])
      await a!.heartbeat('w')
      expect([...fairShares(await a!.members(), 8)]).toEqual([['w', 3], ['x', 3], ['z', 2]])
    })

    it('lists each leased task with its stored lease, expired and released ones included', async () => {
      const [a] = members(1)
      const l1 = (await a!.acquire('t1', 'A'))!
      const l2 = (await a!.acquire('t2', 'B'))!
      await a!.release(l2)
      const listed = (await a!.leases()).sort((x, y) => x.task.localeCompare(y.task))
      expect(listed).toHaveLength(2)
      expect(listed[0]).toEqual(l1)
      expect(listed[1]).toMatchObject({ task: 't2', member: 'B', epoch: 1 })
      expect(listed[1]!.revision).not.toBe(l2.revision)
    })

    it('takes task and member names with any characters: dots, slashes, colons, spaces, equals signs, non-ASCII', async () => {
      const [a, b] = members(2)
      const names = ['orders.3', 'a/b', 'host:4242@x.y', 'with space', '=3D', 'zürich-東京', '']
      for (const name of names) {
        const lease = await a!.acquire(name, name)
        expect(lease).toMatchObject({ task: name, member: name, epoch: 1 })
        expect(await b!.holds(name, name, 1)).toBe(true)
        await a!.heartbeat(name)
      }
      expect((await b!.leases()).map((l) => l.task).sort()).toEqual([...names].sort())
      expect(await b!.members()).toEqual([...names].sort())
    })

    it('keeps clusters apart: the same task in two clusters has an owner in each', async () => {
      const [one] = members(1)
      const [two] = members(1)
      expect(await one!.acquire('t', 'A')).toMatchObject({ epoch: 1 })
      expect(await two!.acquire('t', 'B')).toMatchObject({ epoch: 1 })
      expect(await one!.holds('t', 'B', 1)).toBe(false)
    })

    it('never lets two members hold one task in one epoch nor takes a fresh lease, over random interleavings of acquire, renew, release, holds, pauses', async () => {
      await fc.assert(fc.asyncProperty(schedules, (schedule) => runSchedule(members(schedule.length, PROPERTY_TTL), schedule)), {
        numRuns: 30,
      })
    }, 120_000)
  })
}

const PROPERTY_TTL = 50
type Step = { kind: 'acquire' | 'renew' | 'release' | 'holds'; task: number } | { kind: 'pause'; ms: number }
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('acquire', 'acquire', 'renew', 'release', 'holds'), task: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 0, max: 2 * PROPERTY_TTL }) }) },
)
/** One list of steps per member; the members run their lists at the same time. */
const schedules = fc.array(fc.array(step, { minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 3 })

/** What the store granted or confirmed: a lease from acquire or renew, or a `holds` answered true. */
interface Observation {
  readonly task: string
  readonly member: string
  readonly epoch: number
  readonly revision?: number
  readonly expiresAt?: number
}

async function runSchedule(coordinators: Coordinator[], schedule: Step[][]): Promise<void> {
  const seen: Observation[] = []
  const released = new Set<number>()
  await Promise.all(
    schedule.map(async (steps, m) => {
      const c = coordinators[m]!
      const member = `m${m}`
      const held = new Map<string, Lease>()
      for (const s of steps) {
        if (s.kind === 'pause') {
          await sleep(s.ms)
          continue
        }
        const task = `t${s.task}`
        const lease = held.get(task)
        if (s.kind === 'acquire' && lease === undefined) {
          const got = await c.acquire(task, member)
          if (got !== undefined) held.set(task, got)
        } else if (s.kind === 'renew' && lease !== undefined) {
          const got = await c.renew(lease)
          if (got === undefined) held.delete(task)
          else held.set(task, got)
        } else if (s.kind === 'release' && lease !== undefined) {
          if (await c.release(lease)) released.add(lease.revision)
          held.delete(task)
        } else if (s.kind === 'holds' && lease !== undefined) {
          if (await c.holds(task, member, lease.epoch)) seen.push({ task, member, epoch: lease.epoch })
          continue
        } else continue
        const now = held.get(task)
        if (now !== undefined && now !== lease) seen.push(now)
      }
    }),
  )
  const owners = new Map<string, string>()
  for (const o of seen) {
    const key = `${o.task}@${o.epoch}`
    expect(owners.get(key) ?? o.member, `task ${o.task} epoch ${o.epoch} seen held by two members`).toBe(o.member)
    owners.set(key, o.member)
  }
  for (const task of new Set(seen.map((o) => o.task))) {
    const grants = seen.filter((o) => o.task === task && o.revision !== undefined).sort((x, y) => x.revision! - y.revision!)
    expect(new Set(grants.map((g) => g.revision)).size, `task ${task}: a revision granted twice`).toBe(grants.length)
    const epochs = grants.map((g) => g.epoch)
    expect(epochs, `task ${task}: epochs must never go down as revisions go up`).toEqual([...epochs].sort((x, y) => x - y))
    // A new owner's lease starts (expiresAt - TTL, by the store's clock) no earlier than the old one ran out, unless
    // the old one was released.
    for (let i = 1; i < grants.length; i++) {
      const [before, after] = [grants[i - 1]!, grants[i]!]
      if (after.epoch === before.epoch || released.has(before.revision!)) continue
      expect(after.expiresAt! - PROPERTY_TTL, `task ${task}: epoch ${after.epoch} taken while epoch ${before.epoch} was fresh`).toBeGreaterThanOrEqual(before.expiresAt!)
    }
  }
}
