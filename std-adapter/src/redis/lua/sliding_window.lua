-- The sliding window counter: the core's `SlidingWindowIn` (core/src/algorithm/sliding_window.rs),
-- step for step.
--
-- Spec: sliding_window:N:g:B:S (the limit per window, the bucket length g in ticks, the bucket
-- count B, and the span S = B·g in ticks, validated by the core to fit a u64).
--
-- State: a hash, the core's `WindowStateIn` field for field:
--   start  the start of the current bucket (decimal nanoseconds, a multiple of g);
--   head   the ring position of the current bucket, 0 .. B - 1;
--   total  the sum of the counts;
--   0 .. B - 1  the count of each ring slot, present only while it is not zero.
-- Why a hash: a decision needs the header and, at most, the few slots it crosses or scans; a
-- hash reads and writes exactly those fields (HMGET, HINCRBY, HDEL), where a string of all B
-- counts would be read and rewritten whole on every check (1,440 slots for a daily limit of
-- one-minute buckets). Zero slots are left out (a cleared slot is deleted), so an idle or
-- sparse ring is small, HLEN counts its non-empty slots, and every stored slot counts in the
-- total.
--
-- Fields read per decision follow the core's own loops, never the whole ring for its own sake:
-- the header (three fields); on crossing into a later bucket, the slots that expire (or those that
-- survive, when fewer: one slot in steady use); for a denial, a zero cost or a request another
-- limit denies, the core's `reset_instant` (the current slot, in practice) and `retry_instant`
-- (from the oldest counted slot until enough expire, in chunks of 16 that double). A read of
-- more than 16 slots asks HLEN first and reads the whole hash instead (HGETALL) when it holds
-- no more slots than the read would ask for. A check that admits, in the current or the next
-- bucket, reads three or four fields and writes with two or three commands, whatever B.
--
-- In form (not in result) the port differs in three places: the scans run in `report` rather
-- than in `look`, since an admission that is recorded needs none (policy.lua reports a limit
-- before it records it, so the state is still the one looked at); a crossing of more than half
-- the ring adds the surviving slots up rather than subtracting the expired ones from the total
-- (the same figure, since the counts add up to the total); and a gap of the whole ring deletes
-- the key's slots rather than zeroing an array (its head stays, as the core's).

local sliding_window = {}
ALG.sliding_window = sliding_window

-- Fields per HMGET or HDEL (Lua 5.1's `unpack` takes a few thousand values at most), and the
-- first chunk of a scan.
local CHUNK = 512
local FIRST = 16
local U32_MAX = 4294967295

function sliding_window.parse(f)
  return { limit = tonumber(f[2]), g = U.parse(f[3]), b = tonumber(f[4]), span = U.parse(f[5]) }
end

local function bad(key)
  error_state(key, 'sliding_window')
end

-- A stored count: absent is zero.
local function count_of(key, v)
  if not v then
    return 0
  end
  local c = tonumber(v)
  if c == nil or c < 0 or c > U32_MAX or c ~= math.floor(c) then
    bad(key)
  end
  return c
end

-- The header of the state at `key`; a missing key is the fresh state.
local function header(key, p)
  local r = redis.pcall('HMGET', key, 'start', 'head', 'total')
  if r.err then
    bad(key)
  end
  if not (r[1] or r[2] or r[3]) then
    if redis.call('EXISTS', key) == 1 then
      bad(key)
    end
    return { start = U.ZERO, head = 0, total = 0, fresh = true }
  end
  local start, head = U.parse(r[1]), tonumber(r[2])
  if not start or not head or head < 0 or head >= p.b or head ~= math.floor(head) then
    bad(key)
  end
  return { start = start, head = head, total = count_of(key, r[3]) }
end

-- The whole hash's slots, { [slot] = count }.
local function read_all(key, st)
  local kv = redis.call('HGETALL', key)
  local all = {}
  for i = 1, #kv, 2 do
    local slot = tonumber(kv[i]) -- nil for the header's fields
    if slot then
      all[slot] = count_of(key, kv[i + 1])
    end
  end
  st.all = all
end

-- The counts of the ring slots `slots`, in order; `upto` is how many the caller may ask for in
-- all (the rest of a scan), to weigh against the hash's size.
local function read_slots(key, st, slots, upto)
  local n = #slots
  if not st.all and n > FIRST then
    if st.held == nil then
      st.held = redis.call('HLEN', key) - 3
    end
    if st.held <= upto then
      read_all(key, st)
    end
  end
  local out = {}
  if st.all then
    for i = 1, n do
      out[i] = st.all[slots[i]] or 0
    end
    return out
  end
  for first = 1, n, CHUNK do
    local last = math.min(first + CHUNK - 1, n)
    local r = redis.call('HMGET', key, unpack(slots, first, last))
    for i = first, last do
      out[i] = count_of(key, r[i - first + 1])
    end
  end
  return out
end

-- The ring slot `back` buckets before the state's current one.
local function slot_back(st, b, back)
  return (st.head - back) % b
end

-- Visits the counts of the buckets `from`, `from + dir`, ... `to` buckets before the state's
-- current one, in chunks of `size` that double, until `visit(back, count)` returns true.
local function scan(key, st, b, from, to, dir, size, visit)
  local back = from
  while (to - back) * dir >= 0 do
    local left = (to - back) * dir + 1
    local n = math.min(size, left)
    local slots = {}
    for i = 1, n do
      slots[i] = slot_back(st, b, back + (i - 1) * dir)
    end
    local counts = read_slots(key, st, slots, left)
    for i = 1, n do
      if visit(back + (i - 1) * dir, counts[i]) then
        return
      end
    end
    back = back + n * dir
    size = math.min(size * 2, CHUNK)
  end
end

local function sum(counts)
  local s = 0
  for i = 1, #counts do
    s = s + counts[i]
  end
  return s
end

-- `position`: the start of the bucket of max(t, start) and how many buckets past the state's
-- current one it is (a double: exact below B, which is all that is compared).
local function position(p, start, t)
  local d = U.sat_sub(t, start)
  if U.lt(d, p.g) then
    return start, 0
  end
  if U.lt(U.sat_sub(d, p.g), p.g) then
    return U.sat_add(start, p.g), 1
  end
  local moved = U.div(d, p.g)
  -- moved·g ≤ d, so this is at most t.
  return U.sat_add(start, U.sat_mul(moved, p.g)), U.approx(moved)
end

-- `counted`: everything except the `moved` oldest buckets.
local function counted(key, p, st, moved)
  if moved == 0 then
    return st.total
  end
  local b = p.b
  if moved >= b or st.total == 0 then
    return 0
  end
  local slots = {}
  if moved <= b - moved then
    -- The expired buckets: the `moved` slots after the head.
    for i = 1, moved do
      slots[i] = (st.head + i) % b
    end
    return math.max(st.total - sum(read_slots(key, st, slots, moved)), 0)
  end
  -- The surviving buckets, fewer than the expired ones.
  for back = 0, b - 1 - moved do
    slots[back + 1] = slot_back(st, b, back)
  end
  return sum(read_slots(key, st, slots, b - moved))
end

function sliding_window.look(key, p, now, cost)
  local st = header(key, p)
  local start, moved = position(p, st.start, now)
  local c = counted(key, p, st, moved)
  return {
    key = key,
    st = st,
    t = now,
    start = start,
    moved = moved,
    counted = c,
    cost = cost,
    admitted = cost == 0 or c + cost <= p.limit,
  }
end

function sliding_window.admits(step)
  return step.admitted
end

-- `after_buckets`: the instant `j` buckets after the step's bucket starts, saturating.
local function after_buckets(p, step, j)
  return U.sat_add(step.start, U.sat_mul(U.of(j), p.g))
end

-- `reset_instant`: when the newest non-empty counted bucket expires (0 if none).
local function reset_instant(p, step)
  if step.counted == 0 then
    return U.ZERO
  end
  local b, moved, found = p.b, step.moved, nil
  -- The bucket `back` before the state's current one is `back + moved` before the step's. The
  -- state's current bucket is never empty in a state this script wrote (a record puts a cost
  -- there), so one field is read first.
  scan(step.key, step.st, b, 0, b - 1 - moved, 1, 1, function(back, c)
    if c > 0 then
      found = back
      return true
    end
  end)
  if found then
    return after_buckets(p, step, b - moved - found)
  end
  return U.ZERO
end

-- `retry_instant`: the first instant at which enough of the oldest counted buckets have expired
-- for the cost to fit.
local function retry_instant(p, step)
  local b, moved, cost, limit = p.b, step.moved, step.cost, p.limit
  local left, j = step.counted, nil
  -- j buckets later, the bucket B − j before the step's (B − j − moved before the state's)
  -- has expired.
  scan(step.key, step.st, b, b - 1 - moved, 0, -1, FIRST, function(back, c)
    left = math.max(left - c, 0)
    if left + cost <= limit then
      j = b - moved - back
      return true
    end
  end)
  if j then
    return after_buckets(p, step, j)
  end
  -- The buckets newer than the state's current one are empty: the first of them to expire
  -- frees nothing more, so it fits then or never.
  if moved > 0 and left + cost <= limit then
    return after_buckets(p, step, math.max(b - moved, 0) + 1)
  end
  return U.MAX
end

-- `figures`.
local function figures(p, c, reset, t, retry)
  return {
    limit = p.limit,
    remaining = math.max(p.limit - c, 0),
    reset = U.sat_sub(reset, t),
    retry = retry and U.sat_sub(retry, t),
    delay = U.ZERO,
  }
end

-- `decision`. Reads the slots it scans: see the header.
function sliding_window.report(p, step, recorded)
  if step.admitted and recorded and step.cost > 0 then
    -- The current bucket is about to be non-empty: it expires last.
    return figures(p, step.counted + step.cost, U.sat_add(step.start, p.span), step.t, nil)
  end
  local reset = reset_instant(p, step)
  local retry = nil
  if not step.admitted then
    retry = retry_instant(p, step)
  end
  return figures(p, step.counted, reset, step.t, retry)
end

-- Deletes the slots `slots` (chunked).
local function hdel(key, slots)
  for first = 1, #slots, CHUNK do
    redis.call('HDEL', key, unpack(slots, first, math.min(first + CHUNK - 1, #slots)))
  end
end

-- `record` and `record_at`: moves the state to the step's bucket (clearing the buckets that
-- expired) and records the cost in the current bucket.
function sliding_window.record(key, p, step)
  if not (step.admitted and step.cost > 0) then
    return false
  end
  local st, b, moved, cost = step.st, p.b, step.moved, step.cost
  local head = st.head
  if moved >= b then
    -- A gap of the whole ring or more: everything expired.
    if st.total > 0 then
      redis.call('DEL', key)
    end
  elseif moved > 0 then
    -- Only a slot that held a count is stored: none to delete if nothing expired.
    if st.total > step.counted then
      local slots = {}
      for i = 1, moved do
        local slot = (head + i) % b
        if not st.all or st.all[slot] then
          slots[#slots + 1] = slot
        end
      end
      hdel(key, slots)
    end
    head = (head + moved) % b
  else
    -- The current bucket (its start and head unchanged, unless the key is new): add to what it
    -- holds.
    redis.call('HINCRBY', key, head, cost)
    if st.fresh then
      redis.call('HSET', key, 'start', U.str(step.start), 'head', head, 'total', cost)
    else
      redis.call('HSET', key, 'total', st.total + cost)
    end
    return true
  end
  -- The new current bucket was cleared (or never held anything).
  redis.call('HSET', key, 'start', U.str(step.start), 'head', head,
    'total', step.counted + cost, head, cost)
  return true
end
