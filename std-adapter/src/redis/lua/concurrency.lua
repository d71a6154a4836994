-- Limits that count requests in flight, and limits that count nothing: the core's `Concurrency`
-- (core/src/algorithm/concurrency.rs) and `Unlimited` (core/src/algorithm/unlimited.rs).
--
-- Spec: concurrency:max:hint:lease_ms (the most in flight, the retry hint in ticks, and how long
-- a place taken is kept without a release); unlimited (no fields).
-- State: a sorted set of the places taken, absent when none is. A request of cost c that holder
-- H (an id the client makes, CALL.holder) is admitted takes c members, H.1 ... H.c, each scored
-- by the instant its lease ends (milliseconds of the server's clock). The count in flight is the
-- members whose lease has not ended; a release removes its holder's members.
--
-- In memory a host's permits die with it. In Redis a place whose release never comes (its host
-- died, or its call timed out on the client after Redis had counted it) is given back when its
-- own lease ends, however busy the key: each loss costs one place for at most one lease. The
-- lease must outlast the longest request, or a place still in use is counted free again.
-- Leases are on the server's clock even when a decision is at a passed instant (a replay), where
-- a lease is at least the replay's floor.

local concurrency = {}
ALG.concurrency = concurrency

function concurrency.parse(f)
  return { max = tonumber(f[2]), hint = U.parse(f[3]), lease_ms = tonumber(f[4]) }
end

-- The server's clock in milliseconds, read once per call.
local function clock_ms()
  if not CALL.clock_ms then
    local t = redis.call('TIME')
    CALL.clock_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return CALL.clock_ms
end

-- The places whose lease has not ended.
local function in_flight(key)
  local n = redis.pcall('ZCOUNT', key, '(' .. clock_ms(), '+inf')
  if type(n) ~= 'number' then
    error_state(key, 'concurrency')
  end
  return n
end

-- `command key <what member>...` for the members H.1 ... H.c (with `score` before each when
-- given), in chunks that Lua's unpack takes; the sum of the replies.
local function each_member(command, key, c, score)
  local total, args = 0, {}
  for j = 1, c do
    if score then
      args[#args + 1] = score
    end
    args[#args + 1] = CALL.holder .. '.' .. j
    if #args >= 1000 or j == c then
      total = total + redis.call(command, key, unpack(args))
      args = {}
    end
  end
  return total
end

function concurrency.look(key, p, now, cost)
  local n = in_flight(key)
  local step = { in_flight = n }
  if cost == 0 then
    step.after = n -- asks for the figures only
  elseif n + cost <= p.max then
    step.after = n + cost
  end
  return step
end

function concurrency.admits(step)
  return step.after ~= nil
end

local function figures(p, n, denied)
  return {
    limit = p.max,
    remaining = math.max(p.max - n, 0),
    reset = n == 0 and U.ZERO or p.hint,
    retry = denied and p.hint or nil,
    delay = U.ZERO,
  }
end

function concurrency.report(p, step, recorded)
  if step.after == nil then
    return figures(p, step.in_flight, true)
  elseif recorded then
    return figures(p, step.after, false)
  end
  return figures(p, step.in_flight, false)
end

-- Takes the places for CALL.holder, drops the ones whose lease ended, and keeps the key until
-- its last lease ends; returns that the key's expiry is set here.
function concurrency.record(key, p, step)
  local c = (step.after or step.in_flight) - step.in_flight
  if c == 0 then
    return false
  end
  if CALL.holder == '' then
    error_arg('holder', '(none)')
  end
  local lease = math.max(p.lease_ms, CALL.floor_ms)
  local now_ms = clock_ms()
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
  each_member('ZADD', key, c, now_ms + lease)
  if redis.call('PTTL', key) < lease then
    redis.call('PEXPIRE', key, lease)
  end
  return true, true
end

-- Gives back CALL.holder's `cost` places, whatever is left of them (none when their lease
-- ended and they were dropped); how many it removed.
function concurrency.release(key, p, cost)
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'zset' and kind ~= 'none' then
    error_state(key, 'concurrency')
  end
  return each_member('ZREM', key, cost)
end

local unlimited = {}
ALG.unlimited = unlimited

function unlimited.parse(f)
  return {}
end

function unlimited.look(key, p, now, cost)
  return {}
end

function unlimited.admits(step)
  return true
end

function unlimited.report(p, step, recorded)
  return { limit = 4294967295, remaining = 4294967295, reset = U.ZERO, retry = nil, delay = U.ZERO }
end

function unlimited.record(key, p, step)
  return false
end
