/**
 * The Lua scripts of the Redis coordinator. Each runs atomically on the server and reads the time with TIME, so
 * lease expiry is decided by the server's clock alone. A lease is a hash (member, epoch, revision, expiresAt in ms);
 * revisions come from one counter per cluster, so a revision names one write of one lease forever.
 */

/** Server time in ms, and a check that turns a lease hash someone else wrote into a readable error. */
const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function field(v, name)
  if v == false then return nil end
  local n = tonumber(v)
  if n == nil then error({ err = 'SRX_BAD_ENTRY ' .. name .. ' is not a number' }) end
  return n
end
`

/** KEYS: lease, revision counter, task set. ARGV: task, member, ttl. Returns {epoch, revision, expiresAt} or nil. */
export const ACQUIRE = `${PRELUDE}
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'expiresAt')
local epoch, expires = field(cur[1], 'epoch'), field(cur[2], 'expiresAt')
if expires ~= nil and expires > now then return nil end
local revision = redis.call('INCR', KEYS[2])
local exp = now + tonumber(ARGV[3])
epoch = (epoch or 0) + 1
redis.call('HSET', KEYS[1], 'member', ARGV[2], 'epoch', epoch, 'revision', revision, 'expiresAt', exp)
redis.call('SADD', KEYS[3], ARGV[1])
return { epoch, revision, exp }
`

/** KEYS: lease, revision counter. ARGV: revision, ttl. Returns {revision, expiresAt} or nil when lost or expired. */
export const RENEW = `${PRELUDE}
local cur = redis.call('HMGET', KEYS[1], 'revision', 'expiresAt')
local rev, expires = field(cur[1], 'revision'), field(cur[2], 'expiresAt')
if rev ~= tonumber(ARGV[1]) or expires == nil or expires <= now then return nil end
local revision = redis.call('INCR', KEYS[2])
local exp = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'revision', revision, 'expiresAt', exp)
return { revision, exp }
`

/** KEYS: lease, revision counter. ARGV: revision. Expires the lease at once (epoch kept); 1 when it was held. */
export const RELEASE = `${PRELUDE}
local cur = redis.call('HMGET', KEYS[1], 'revision', 'expiresAt')
local rev, expires = field(cur[1], 'revision'), field(cur[2], 'expiresAt')
if rev ~= tonumber(ARGV[1]) or expires == nil or expires <= now then return 0 end
redis.call('HSET', KEYS[1], 'revision', redis.call('INCR', KEYS[2]), 'expiresAt', 0)
return 1
`

/** KEYS: lease. ARGV: member, epoch. 1 when the member holds the lease at that epoch and it has not expired. */
export const HOLDS = `${PRELUDE}
local cur = redis.call('HMGET', KEYS[1], 'member', 'epoch', 'expiresAt')
local epoch, expires = field(cur[2], 'epoch'), field(cur[3], 'expiresAt')
if cur[1] == ARGV[1] and epoch == tonumber(ARGV[2]) and expires ~= nil and expires > now then return 1 end
return 0
`

/** KEYS: members. ARGV: member, ttl. Records the heartbeat and forgets members whose heartbeat ran out. */
export const HEARTBEAT = `${PRELUDE}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
return 1
`

/** KEYS: members. The members whose heartbeat has not run out. */
export const MEMBERS = `${PRELUDE}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now), '+inf')
`
