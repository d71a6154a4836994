-- The leaky bucket: the core's `Meter` and `Shaper` (core/src/algorithm/leaky_bucket.rs), step
-- for step.
--
-- Meter.  Spec: meter:T:cap:burst (the emission interval and the capacity b·T in ticks, the
--         burst). State: a string key holding 'level:last' (decimal nanoseconds: the water level
--         and the instant it was measured at, the order of `MeterState::to_raw`).
-- Shaper. Spec: shaper:T:bT:max_delay:horizon:limit (ticks, horizon = b·T + max_delay, and
--         limit = b + ⌊max_delay / T⌋). State: a string key holding the queue's drain instant
--         `tat` (decimal nanoseconds), as gcra.lua keeps its own.
--
-- Why one string for the meter's two u64s, not a hash: the pair is always read and written
-- whole, so one GET and one SET do it (a hash needs HMGET and HSET of two fields); a short
-- string is the smallest thing Redis stores; and its form 'level:last' is told apart from the
-- single number that GCRA and the shaper keep, so a key of another kind is refused, not misread.

local function meter_state(key)
  local raw = redis.call('GET', key)
  if not raw then
    return U.ZERO, U.ZERO
  end
  local l, s = string.match(raw, '^(%d+):(%d+)$')
  local level, last = U.parse(l), U.parse(s)
  -- As the core's codec: a level that drains after the end of time is no state the meter makes.
  if not (level and last and U.add(last, level)) then
    error_state(key, 'meter')
  end
  return level, last
end

local meter = {}
ALG.meter = meter

function meter.parse(f)
  return { t = U.parse(f[2]), cap = U.parse(f[3]), burst = tonumber(f[4]) }
end

-- `MeterState::level_at`: drained by the ticks since `last`, or, before `last`, extrapolated
-- backwards (never saturates: `last + level` fits).
local function level_at(level, last, now)
  local drained = U.sub(now, last)
  if drained then
    return U.sat_sub(level, drained)
  end
  return U.sat_add(level, U.sub(last, now))
end

function meter.look(key, p, now, cost)
  local level0, last = meter_state(key)
  local level = level_at(level0, last, now)
  local step = { now = now, level = level }
  if cost == 0 then
    step.go = 'free'
    return step
  end
  local pour = U.sat_mul(p.t, U.of(cost))
  if U.le(pour, U.sat_sub(p.cap, level)) then
    local filled = U.sat_add(level, pour)
    -- The bucket must be empty again by the end of time.
    if U.add(now, filled) then
      step.go, step.filled = 'admit', filled
      return step
    end
  end
  step.go = 'deny'
  local f = U.add(level, pour)
  if f and U.add(now, f) then
    step.wait = U.sat_sub(f, p.cap)
  else
    -- A pour that would drain past the end of time can never be admitted: wait for the end.
    step.wait = U.sat_sub(U.MAX, now)
  end
  return step
end

function meter.admits(step)
  return step.go ~= 'deny'
end

function meter.report(p, step, recorded)
  local level = step.level
  if step.go == 'admit' and recorded then
    level = step.filled
  end
  return {
    limit = p.burst,
    remaining = U.units_that_fit(p.cap, level, step.now, p.t),
    reset = level,
    retry = step.wait,
    delay = U.ZERO,
  }
end

function meter.record(key, p, step)
  if step.go == 'admit' then
    redis.call('SET', key, U.str(step.filled) .. ':' .. U.str(step.now))
    return true
  end
  return false
end

local shaper = {}
ALG.shaper = shaper

function shaper.parse(f)
  return {
    t = U.parse(f[2]),
    bt = U.parse(f[3]),
    max_delay = U.parse(f[4]),
    horizon = U.parse(f[5]),
    limit = tonumber(f[6]),
  }
end

-- `Shaper::look`, with `t` the arrival instant.
function shaper.look(key, p, t, cost)
  local raw = redis.call('GET', key)
  local tat = U.ZERO
  if raw then
    tat = U.parse(raw) or error_state(key, 'shaper')
  end
  local backlog = U.sat_sub(tat, t)
  local step = { t = t, backlog = backlog, delay = U.ZERO }
  if cost == 0 then
    step.go = 'free'
    return step
  end
  local charge = U.sat_mul(p.t, U.of(cost))
  -- proceed_at − t = max(tat + c·T − b·T − t, 0), exact since c·T ≤ b·T.
  local delay = U.sat_sub(backlog, U.sat_sub(p.bt, charge))
  step.delay = delay
  -- The queue's drain instant, max(tat, t), moves by c·T; it must not pass the end of time.
  if U.add(U.sat_add(t, backlog), charge) then
    if U.le(delay, p.max_delay) then
      step.go, step.after = 'admit', U.sat_add(backlog, charge)
    else
      step.go, step.wait = 'deny', U.sat_sub(delay, p.max_delay)
    end
  else
    -- As GCRA: a request whose queue would drain past the end of time can never be accepted.
    step.go, step.wait = 'deny', U.sat_sub(U.MAX, t)
  end
  return step
end

function shaper.admits(step)
  return step.go ~= 'deny'
end

-- `Shaper::reservation`'s decision.
function shaper.report(p, step, recorded)
  local delay, backlog = step.delay, step.backlog
  if step.go == 'admit' then
    if recorded then
      backlog = step.after
    else
      delay = U.ZERO
    end
  end
  return {
    limit = p.limit,
    remaining = U.units_that_fit(p.horizon, backlog, step.t, p.t),
    reset = backlog,
    retry = step.wait,
    -- A denial proceeds nowhere.
    delay = step.wait and U.ZERO or delay,
  }
end

function shaper.record(key, p, step)
  if step.go == 'admit' then
    redis.call('SET', key, U.str(U.sat_add(step.t, step.after)))
    return true
  end
  return false
end
