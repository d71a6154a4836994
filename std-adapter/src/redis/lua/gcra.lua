-- GCRA: the core's `Gcra` (core/src/algorithm/gcra.rs), step for step.
-- Spec: gcra:T:bT:burst (the emission interval and b·T in ticks, the burst).
-- State: a string key holding the theoretical arrival time (decimal nanoseconds).

local gcra = {}
ALG.gcra = gcra

function gcra.parse(f)
  return { t = U.parse(f[2]), bt = U.parse(f[3]), burst = tonumber(f[4]) }
end

function gcra.look(key, p, now, cost)
  local raw = redis.call('GET', key)
  local tat = U.ZERO
  if raw then
    tat = U.parse(raw) or error_state(key, 'gcra')
  end
  local ahead = U.sat_sub(tat, now)
  local charge = U.sat_mul(p.t, U.of(cost))
  local step = { now = now, ahead = ahead }
  if cost == 0 then
    step.go = 'free'
    return step
  end
  local after = U.add(ahead, charge)
  if after and U.le(after, p.bt) and U.add(now, after) then
    step.go, step.after = 'admit', after
  else
    step.go = 'deny'
    if after and U.add(now, after) then
      step.wait = U.sat_sub(U.sat_add(ahead, charge), p.bt)
    else
      step.wait = U.sat_sub(U.MAX, now)
    end
  end
  return step
end

function gcra.admits(step)
  return step.go ~= 'deny'
end

function gcra.report(p, step, recorded)
  local ahead = step.ahead
  if step.go == 'admit' and recorded then
    ahead = step.after
  end
  return {
    limit = p.burst,
    remaining = U.units_that_fit(p.bt, ahead, step.now, p.t),
    reset = ahead,
    retry = step.wait,
    delay = U.ZERO,
  }
end

function gcra.record(key, p, step)
  if step.go == 'admit' then
    redis.call('SET', key, U.str(U.sat_add(step.now, step.after)))
    return true
  end
  return false
end
