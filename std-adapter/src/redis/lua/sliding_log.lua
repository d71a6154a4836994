-- Sliding log: the core's `SlidingLogIn` (core/src/algorithm/sliding_log.rs), step for step.
-- Spec: sliding_log:N:W:CAP (the limit, the window in ticks, the ring's entries; CAP may be
-- below N: `Limit::sliding_log` takes any ring, and an undersized one denies on a full ring).
--
-- State: a LIST of the log's entries in time order, the oldest at the head (index 0), each
-- 'stamp:through:cost' in decimal: the entry's instant (u64 nanoseconds), the running total of
-- admitted cost through it modulo 2^32 (the core's `totals`), and its own cost. An admission
-- merges into the newest entry (LSET -1) or is appended (RPUSH); expired entries are popped from
-- the head (LTRIM) at the next admission, as the core drops them lazily.
--
-- Why a list: a sorted set's scores are doubles, and instants past 2^53 would round there; the
-- log is only ever appended at the newest end and cut at the oldest, which is what a list does
-- in O(1), in less memory than a sorted set (a listpack, no skiplist and dict per entry). The
-- running totals make the cost in the window one subtraction, as in the core (a policy may keep
-- 8,800 entries an hour: nothing here sums or scans the window): a look reads the newest entry,
-- finds the expired ones by a galloping search from the head and the entry a denial waits for
-- by another, each probe one LINDEX, O(log k) of them. Each entry carries its own cost instead
-- of the core's separate `before` (the total before the oldest entry), so the whole state is the
-- list and nothing else: total_before(i) = through(i) - cost(i).
--
-- The list holds at most min(CAP, N) entries (each holds a cost of one or more, and the window's
-- entries at most N), so the key is bounded; it expires when the newest entry leaves the window.

local sliding_log = {}
ALG.sliding_log = sliding_log

-- Running totals wrap as the core's u32 totals; differences of them are exact (below N).
local TOTAL = 4294967296

function sliding_log.parse(f)
  return { limit = tonumber(f[2]), window = U.parse(f[3]), entries = tonumber(f[4]) }
end

-- Entry `i` (0 is the oldest) of the log being looked at, read once per call and kept. Entries in
-- the newer half are read from the tail (a negative index), so a read walks the shorter way.
local function entry(log, i)
  local e = log.seen[i]
  if e then
    return e
  end
  local index = i
  if i >= log.len / 2 then
    index = i - log.len
  end
  local raw = redis.call('LINDEX', log.key, index)
  local stamp, through, cost
  if raw then
    stamp, through, cost = string.match(raw, '^(%d+):(%d+):(%d+)$')
  end
  stamp, through, cost = U.parse(stamp), tonumber(through), tonumber(cost)
  if not (stamp and through and cost) or through >= TOTAL or cost < 1 or cost >= TOTAL then
    error_state(log.key, 'sliding_log')
  end
  e = { stamp = stamp, through = through, cost = cost }
  log.seen[i] = e
  return e
end

-- How many ticks entry `i` lies behind the newest one: the core's `Ring::age`.
local function age(log, i)
  return U.sat_sub(log.newest, entry(log, i).stamp)
end

-- The running total through entry `i`, and just before it (`i` may be the length): the core's
-- `Ring::total` and `Ring::total_before`.
local function total(log, i)
  return entry(log, i).through
end

local function total_before(log, i)
  if i == log.len then
    return total(log, i - 1)
  end
  local e = entry(log, i)
  return (e.through - e.cost) % TOTAL
end

-- The number of leading indices in 0 .. n - 1 for which `pred` holds, assuming it holds on a
-- prefix: the core's galloping search `leading` (1, 2, 4, ... from the start, then a binary
-- search in the last step).
local function leading(n, pred)
  local lo, step, hi = 0, 1, n
  while true do
    local probe = lo + step - 1
    if probe >= n then
      break
    end
    if pred(probe) then
      lo = probe + 1
      step = step * 2
    else
      hi = probe
      break
    end
  end
  while lo < hi do
    local mid = lo + math.floor((hi - lo) / 2)
    if pred(mid) then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo
end

-- The exact wait before a request of `cost`, denied as seen in `v`: the core's `wait`.
local function wait(p, v)
  local log = v.log
  local excess = math.max(v.used + v.cost - p.limit, 0)
  -- The live entry whose expiry frees enough: the oldest one when only room is missing, else
  -- the first whose running total (from the oldest live one) reaches the excess.
  local j
  if excess == 0 then
    j = v.expired
  else
    local base = total_before(log, v.expired)
    j = v.expired + leading(v.live, function(k)
      return (total(log, v.expired + k) - base) % TOTAL < excess
    end)
  end
  j = math.min(j, log.len - 1)
  -- Entry j leaves the window W ticks after its instant, newest - age(j).
  return U.sat_add(U.sat_sub(p.window, U.sat_add(v.gap, age(log, j))), v.back)
end

-- The core's `view` then `step`: the window as seen from the request's instant, and whether the
-- request fits. A denial's wait is found here too (the core's `decision` finds it), so that the
-- report reads nothing.
function sliding_log.look(key, p, now, cost)
  local len = redis.pcall('LLEN', key)
  if type(len) ~= 'number' then
    error_state(key, 'sliding_log')
  end
  local log = { key = key, len = len, seen = {} }
  local v = { log = log, cost = cost }
  if len == 0 then
    v.t, v.back, v.gap = now, U.ZERO, U.ZERO
    v.expired, v.live, v.used, v.merge = 0, 0, 0, false
  else
    local last = entry(log, len - 1)
    log.newest = last.stamp
    -- A clock that went back is decided, and recorded, at the newest entry's instant.
    v.t = U.max(now, log.newest)
    v.gap = U.sub(v.t, log.newest)
    v.back = U.sat_sub(log.newest, now)
    -- Entry i has expired at t iff its age behind the newest entry plus `gap` reaches W.
    local left = U.sub(p.window, v.gap)
    if left and not U.is_zero(left) then
      v.expired = leading(len, function(i)
        return U.le(left, age(log, i))
      end)
    else
      v.expired = len
    end
    v.used = (last.through - total_before(log, v.expired)) % TOTAL
    v.live = len - v.expired
    v.merge = v.live > 0 and U.is_zero(v.gap)
  end
  v.admitted = cost == 0 or (v.live < p.entries and v.used + cost <= p.limit)
  if not v.admitted then
    v.wait = wait(p, v)
  end
  return v
end

function sliding_log.admits(v)
  return v.admitted
end

-- The decision for `used` cost in `live` entries (`merge`: one of them is at this instant): the
-- core's `answer`.
local function answer(p, used, live, merge, reset, retry)
  local left = math.max(p.limit - used, 0)
  local remaining
  if live >= p.entries then
    remaining = 0
  elseif merge or live + 1 < p.entries then
    -- Every further unit joins one entry at this instant.
    remaining = left
  else
    -- The first takes the last free entry; after it the ring is full.
    remaining = math.min(left, 1)
  end
  return { limit = p.limit, remaining = remaining, reset = reset, retry = retry, delay = U.ZERO }
end

-- The core's `figures`.
function sliding_log.report(p, v, recorded)
  -- Until the newest entry expires, counted from the caller's `now`.
  local reset = U.ZERO
  if v.live > 0 then
    reset = U.sat_add(U.sat_sub(p.window, v.gap), v.back)
  end
  if v.cost == 0 or (v.admitted and not recorded) then
    return answer(p, v.used, v.live, v.merge, reset, nil)
  end
  if v.admitted then
    local live = v.merge and v.live or v.live + 1
    -- The newest entry is now at t, so the reset is a whole window from t.
    return answer(p, v.used + v.cost, live, true, U.sat_add(p.window, v.back), nil)
  end
  return answer(p, v.used, v.live, v.merge, reset, v.wait)
end

-- The core's `record_view`: drops the expired entries, then adds the cost to the newest entry
-- (same tick) or appends one at t. An admission always finds room (it saw live < CAP), so the
-- core's check for a free slot has nothing to refuse here.
function sliding_log.record(key, p, v)
  if not v.admitted or v.cost == 0 then
    return false
  end
  local log = v.log
  local last = log.len > 0 and entry(log, log.len - 1) or nil
  if v.expired > 0 then
    -- Every entry when all have expired (the key goes, and the push below makes it again).
    redis.call('LTRIM', key, v.expired, -1)
  end
  if v.merge then
    redis.call('LSET', key, -1, string.format('%s:%d:%d', U.str(last.stamp),
      (last.through + v.cost) % TOTAL, last.cost + v.cost))
  else
    local through = last and last.through or 0
    redis.call('RPUSH', key, string.format('%s:%d:%d', U.str(v.t), (through + v.cost) % TOTAL,
      v.cost))
  end
  return true
end
