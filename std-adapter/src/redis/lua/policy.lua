-- One decision of a policy: every limit looks, all admit or none records (the core's engine,
-- core/src/policy/engine.rs). Assembled after u64.lua and the algorithms.
--
-- KEYS[i]  the state of limit i (all under one hash tag).
-- ARGV[1]  'check' (decide and record), 'peek' (decide, record nothing) or 'release' (give
--          the holder's `cost` places back in every limit that counts in flight).
-- ARGV[2]  now in nanoseconds since the Unix epoch, or '' for the server's TIME.
-- ARGV[3]  the cost.
-- ARGV[4]  the least expiry, in milliseconds, of a key written (0: a key lives until its
--          state is at rest; a replay at a trace's own times passes a floor so that keys do not
--          expire by the server's clock while the trace still needs them).
-- ARGV[5]  '1' when a test override forces a denial, else '0'.
-- ARGV[6]  the holder: an id, unique to this request, under which a check takes its places in
--          concurrency limits and a release gives them back ('' for a peek).
-- ARGV[6+i]    limit i's spec, 'kind:field:field...' (see each algorithm's file).
-- ARGV[6+n+i]  limit i's test override: '' or 'low:k', the limit lowered to `low` for this
--          request, `k` = its capacity - `low` (the core's engine: the limit also looks at
--          `cost + k`, and reports k fewer remaining).
--
-- Reply to a release: { places given back, summed over the limits that count in flight }
-- (0 when the holder held none any more: its leases had ended, or it was released before).
-- Reply to a check or a peek: { allowed (1 or 0), now, then six fields per limit: admits (1 or 0), limit,
-- remaining, reset, retry ('' when admitted), delay }, durations in nanoseconds as decimal text.

local op = ARGV[1]
local now
local server_clock = ARGV[2] == ''
if server_clock then
  now = U.server_now()
else
  now = U.parse(ARGV[2]) or error_arg('now', ARGV[2])
end
local cost = tonumber(ARGV[3])
local floor_ms = tonumber(ARGV[4])
local forced = ARGV[5] == '1'
CALL.holder = ARGV[6]
CALL.floor_ms = floor_ms
local n = #KEYS

if op == 'release' then
  local given = 0
  for i = 1, n do
    local fields = split(ARGV[6 + i])
    local alg = alg_of(fields[1]) or error_arg('limit kind', ARGV[6 + i])
    if alg.release then
      given = given + alg.release(KEYS[i], alg.parse(fields), cost)
    end
  end
  return { given }
end

local algs, specs, steps, lows, virts, admitted = {}, {}, {}, {}, {}, {}
local all = true
for i = 1, n do
  local fields = split(ARGV[6 + i])
  local alg = alg_of(fields[1]) or error_arg('limit kind', ARGV[6 + i])
  local spec = alg.parse(fields)
  algs[i], specs[i] = alg, spec
  local step = alg.look(KEYS[i], spec, now, cost)
  steps[i] = step
  admitted[i] = alg.admits(step)
  local lowered = split(ARGV[6 + n + i] or '')
  if #lowered == 2 then
    -- Lowered by a test override: also a look at `cost + k`, which must admit too.
    local low, k = tonumber(lowered[1]), tonumber(lowered[2])
    lows[i] = { low = low, k = k }
    virts[i] = alg.look(KEYS[i], spec, now, cost + k)
    if cost > 0 and not alg.admits(virts[i]) then
      admitted[i] = false
    end
  end
  if not admitted[i] then
    all = false
  end
end

-- A look ('peek') reports what a check would say, as recorded, and writes nothing. A request
-- every limit admits but a test override forces to be denied records nothing.
local recorded = all and not (forced and cost > 0)
local reply = { recorded and 1 or 0, U.str(now) }
for i = 1, n do
  local d = algs[i].report(specs[i], steps[i], recorded and admitted[i])
  if lows[i] then
    -- The core's `lower`: the lowered limit, k fewer remaining, a denial waiting for both looks.
    local low, k = lows[i].low, lows[i].k
    local virt_wait = nil
    if not admitted[i] then
      virt_wait = algs[i].report(specs[i], virts[i], false).retry
    end
    local retry = nil
    if not admitted[i] then
      retry = d.retry
      if virt_wait and (retry == nil or U.lt(retry, virt_wait)) then
        retry = virt_wait
      end
    end
    d = {
      limit = low,
      remaining = math.min(math.max(d.remaining - k, 0), low),
      reset = d.reset,
      retry = retry,
      delay = admitted[i] and d.delay or U.ZERO,
    }
  end
  local k = 2 + (i - 1) * 6
  reply[k + 1] = admitted[i] and 1 or 0
  reply[k + 2] = d.limit
  reply[k + 3] = d.remaining
  reply[k + 4] = U.str(d.reset)
  reply[k + 5] = d.retry and U.str(d.retry) or ''
  reply[k + 6] = U.str(d.delay)
  if recorded and op == 'check' then
    local wrote, expires = algs[i].record(KEYS[i], specs[i], steps[i])
    if wrote and not expires then
      expire(KEYS[i], d, floor_ms, now, server_clock)
    end
  end
end
return reply
