-- Limits that count requests in flight, and limits that count nothing: the core's `Concurrency`
-- (core/src/algorithm/concurrency.rs) and `Unlimited` (core/src/algorithm/unlimited.rs).
--
-- Spec: concurrency:max:hint:lease_ms (the most in flight, the retry hint in ticks, and how long
-- the count outlives its last acquire); unlimited (no fields).
-- State: a string key holding the count in flight, absent at zero.
--
-- A host that dies holding permits never releases them. In memory they die with the process; in
-- Redis the count would stay taken for ever, so the key lives for a lease after its last
-- acquire instead of until rest (a concurrency state is at rest only at zero, whatever the
-- time): a key with no new request for a lease forgets its count. The lease must outlast the
-- longest request, or a key left alone that long forgets requests still running.
--
-- Known limit (see the module docs): a count is one number, so a permit whose release is lost
-- (its host died, or its acquire timed out on the client after Redis had counted it) is only
-- given back when the whole key expires, which a key in steady use never does. Per-holder
-- entries with their own expiry would bound each lost permit to one lease.

local concurrency = {}
ALG.concurrency = concurrency

function concurrency.parse(f)
  return { max = tonumber(f[2]), hint = U.parse(f[3]), lease_ms = tonumber(f[4]) }
end

local function in_flight(key)
  local raw = redis.call('GET', key)
  if not raw then
    return 0
  end
  local n = tonumber(raw)
  if n == nil or n < 0 or n > 4294967295 or n ~= math.floor(n) then
    error_state(key, 'concurrency')
  end
  return n
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

-- Writes the count and renews the lease; the returned expiry replaces the one from the reset.
function concurrency.record(key, p, step)
  if step.after == nil or step.after == step.in_flight then
    return false
  end
  redis.call('SET', key, step.after, 'PX', p.lease_ms)
  return true, p.lease_ms
end

-- The core's `can_release`: nil when `cost` can be given back, else what is in flight.
function concurrency.can_release(key, p, cost)
  local n = in_flight(key)
  if cost > n then
    return n
  end
  return nil
end

-- A release keeps the expiry the last acquire set (a replay's floor included).
function concurrency.release(key, p, cost)
  local n = in_flight(key) - cost
  if n == 0 then
    redis.call('DEL', key)
  elseif cost > 0 then
    local ttl = redis.call('PTTL', key)
    redis.call('SET', key, n, 'PX', ttl > 0 and ttl or p.lease_ms)
  end
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
