-- Limits that count requests in flight, and limits that count nothing: the core's `Concurrency`
-- (core/src/algorithm/concurrency.rs) and `Unlimited` (core/src/algorithm/unlimited.rs).
--
-- Spec: concurrency:max:hint:lease_ms (the most in flight, the retry hint in ticks, and how long
-- a place taken is kept without a release); unlimited (no fields).
-- State: one sorted set, absent when nothing is held. Each admitted request is a member `H:c`
-- (H the id the client made for the request, CALL.holder, and c its cost), scored by the instant
-- its lease ends (milliseconds of the server's clock, rounded up), and the member `#` is scored
-- by minus the sum of the requests' costs, ended leases included until they are dropped (in the
-- same key, so that nothing, eviction included, can part the sum from the holds). In flight is
-- that sum less the costs of the holds whose lease has ended: a look reads only those (few)
-- members, whatever the number of places or their costs.
--
-- In memory a host's permits die with it. In Redis a place whose release never comes (its host
-- died, or its call timed out on the client after Redis had counted it) is given back when its
-- own lease ends, however busy the key: each loss costs its request's places for at most one
-- lease. The lease must outlast the longest request, or a place still in use is counted free
-- again. Leases are on the server's clock even when a decision is at a passed instant (a
-- replay), where a lease is at least the replay's floor.

local concurrency = {}
ALG.concurrency = concurrency

function concurrency.parse(f)
  return { max = tonumber(f[2]), hint = U.parse(f[3]), lease_ms = tonumber(f[4]) }
end

-- The server's clock in milliseconds, rounded down and up, read once per call.
local function clock_ms()
  if not CALL.clock_ms then
    local t = redis.call('TIME')
    local us = tonumber(t[2])
    CALL.clock_ms = tonumber(t[1]) * 1000 + math.floor(us / 1000)
    CALL.clock_ms_up = CALL.clock_ms + ((us % 1000 > 0) and 1 or 0)
  end
  return CALL.clock_ms, CALL.clock_ms_up
end

-- The sum of the holds' costs (minus the score of `#`), checking that the key is ours.
local function total_of(key)
  local score = redis.pcall('ZSCORE', key, '#')
  if score == false then
    if redis.call('EXISTS', key) == 1 then
      error_state(key, 'concurrency')
    end
    return 0
  end
  local n = type(score) == 'string' and tonumber(score)
  if not n or n > 0 or n ~= math.floor(n) then
    error_state(key, 'concurrency')
  end
  return -n
end

-- The cost of member `m` (`H:c`).
local function cost_of(key, m)
  local c = tonumber(string.match(m, ':(%d+)$') or '')
  if c == nil then
    error_state(key, 'concurrency')
  end
  return c
end

-- The sum of the costs of the holds whose lease has ended (scored after 0, at or before now).
local function ended(key)
  local gone = redis.call('ZRANGEBYSCORE', key, '(0', (clock_ms()))
  local sum = 0
  for _, m in ipairs(gone) do
    sum = sum + cost_of(key, m)
  end
  return sum
end

function concurrency.look(key, p, now, cost)
  local total = total_of(key)
  local gone = total > 0 and ended(key) or 0
  local n = total - gone
  local step = { in_flight = n, total = total, gone = gone }
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

-- Takes the request's places under CALL.holder, drops the holds whose lease has ended, and keeps
-- the key until the last lease ends; returns that the key's expiry is set here.
function concurrency.record(key, p, step)
  local c = (step.after or step.in_flight) - step.in_flight
  if c == 0 then
    return false
  end
  if CALL.holder == '' then
    error_arg('holder', '(none)')
  end
  local now, now_up = clock_ms()
  if step.gone > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '(0', now)
  end
  redis.call('ZADD', key, now_up + math.max(p.lease_ms, CALL.floor_ms), CALL.holder .. ':' .. c)
  redis.call('ZINCRBY', key, step.gone - c, '#')
  -- Until the latest lease ends: the highest score.
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', key, last[2])
  return true, true
end

-- Gives back CALL.holder's hold of `cost`: the places it still held (0 when it had been given
-- back, or its lease had ended: it is dropped then too).
function concurrency.release(key, p, cost)
  local total = total_of(key)
  local member = CALL.holder .. ':' .. cost
  local score = redis.call('ZSCORE', key, member)
  if not score then
    return 0
  end
  if total <= cost then
    redis.call('DEL', key)
  else
    redis.call('ZREM', key, member)
    redis.call('ZINCRBY', key, cost, '#')
  end
  if tonumber(score) <= clock_ms() then
    return 0
  end
  return cost
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
