-- Shared by the algorithms: the table they register in, argument and state errors, and expiry.

local ALG = {}

-- Each algorithm's file is wrapped in a loader (see script.rs) that registers it in ALG: a call
-- defines only the algorithms its limits use (defining every one on every call cost more than a
-- GCRA decision itself).
local LOAD = {}

-- The algorithm of `kind`, loaded at its first use in this call; nil when there is none.
local function alg_of(kind)
  local alg = ALG[kind]
  if not alg and LOAD[kind] then
    LOAD[kind]()
    alg = ALG[kind]
  end
  return alg
end

-- What one call passes to every limit: the holder of the places a check takes in concurrency
-- limits (or gives back in a release), the least lease of a key written (a replay's floor), and
-- the server's clock once read.
local CALL = {}

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

-- A written key expires once its state is at rest, never before. At the server's clock that
-- is the instant `now + reset`, rounded up to a whole millisecond and given as that instant
-- (PEXPIREAT): a relative expiry would count from the clock Redis froze when the script
-- started, up to a millisecond before `now`, and a key could expire before its state rested.
-- At a passed instant (a replay) the server's clock is not the trace's: the key lives at least
-- `floor_ms` from now, by the server's clock.
local function expire(key, d, floor_ms, now, server_clock)
  local ms_ns = U.of(1000000)
  if server_clock then
    local at = U.div(U.sat_add(U.sat_add(now, d.reset), U.of(999999)), ms_ns)
    redis.call('PEXPIREAT', key, U.str(at))
  else
    local ms = U.div(U.sat_add(d.reset, U.of(999999)), ms_ns)
    redis.call('PEXPIRE', key, math.max(U.approx(ms), floor_ms, 1))
  end
end
