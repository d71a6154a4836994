-- Shared by the algorithms: the table they register in, argument and state errors, and expiry.

local ALG = {}

local function error_arg(what, value)
  return error({ err = 'ERR tollgate: bad ' .. what .. ': ' .. tostring(value) })
end

local function error_state(key, kind)
  return error({ err = 'WRONGTYPE tollgate: ' .. key .. ' holds no ' .. kind .. ' state' })
end

-- 'a:b:c' into { 'a', 'b', 'c' }.
local function split(s)
  local out = {}
  for field in string.gmatch(s, '[^:]+') do
    out[#out + 1] = field
  end
  return out
end

-- A written key expires once its state is at rest (the decision's reset, rounded up to whole
-- milliseconds), and never sooner than `floor_ms`.
local function expire(key, d, floor_ms)
  local ms = U.div(U.sat_add(d.reset, U.of(999999)), U.of(1000000))
  ms = math.max(U.approx(ms), floor_ms, 1)
  redis.call('PEXPIRE', key, ms)
end
