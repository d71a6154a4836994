-- u64: exact unsigned 64-bit integers for the scripts.
--
-- Redis runs Lua 5.1, whose only number is a double: exact below 2^53, while tollgate's instants
-- are nanoseconds (1.8e18 today). A u64 here is a table of three base-10^7 limbs {l0, l1, l2}
-- (value = l0 + l1 * 10^7 + l2 * 10^14), so that a product of two limbs (< 10^14) and a sum of
-- three of them stay exact, and decimal text is the limbs side by side. Every operation is
-- checked: one that leaves 0 .. 2^64 - 1 returns nil (the `sat_` forms saturate instead), as
-- Rust's checked and saturating arithmetic do in the core.

local BASE = 10000000
local U = {}
U.BASE = BASE
-- 2^64 - 1 = 184467 4407370 9551615
U.MAX = { 9551615, 4407370, 184467 }
U.ZERO = { 0, 0, 0 }
-- The largest integer a double holds exactly, with every integer below it.
local EXACT = 9007199254740992

-- A u64 from a non-negative integer below 2^53.
function U.of(n)
  local l0 = n % BASE
  local rest = (n - l0) / BASE
  local l1 = rest % BASE
  return { l0, l1, (rest - l1) / BASE }
end

-- A u64 from decimal digits, or nil when the text is not one.
function U.parse(s)
  if type(s) ~= 'string' or not string.match(s, '^%d+$') then
    return nil
  end
  s = string.gsub(s, '^0+(%d)', '%1')
  local n = string.len(s)
  if n > 20 then
    return nil
  end
  local l0 = tonumber(string.sub(s, -7))
  local l1 = n > 7 and tonumber(string.sub(s, -14, -8)) or 0
  local l2 = n > 14 and tonumber(string.sub(s, 1, -15)) or 0
  local v = { l0, l1, l2 }
  if U.cmp(v, U.MAX) > 0 then
    return nil
  end
  return v
end

-- Decimal text.
function U.str(a)
  if a[3] > 0 then
    return string.format('%d%07d%07d', a[3], a[2], a[1])
  elseif a[2] > 0 then
    return string.format('%d%07d', a[2], a[1])
  end
  return string.format('%d', a[1])
end

-- The value as a double: exact below 2^53 (see `U.small`), rounded above.
function U.approx(a)
  return a[1] + a[2] * BASE + a[3] * BASE * BASE
end

-- The value as an exact double, or nil when it is 2^53 or more.
function U.small(a)
  local v = U.approx(a)
  if v >= EXACT then
    return nil
  end
  return v
end

function U.cmp(a, b)
  for i = 3, 1, -1 do
    if a[i] ~= b[i] then
      return a[i] < b[i] and -1 or 1
    end
  end
  return 0
end

function U.lt(a, b) return U.cmp(a, b) < 0 end
function U.le(a, b) return U.cmp(a, b) <= 0 end
function U.eq(a, b) return U.cmp(a, b) == 0 end
function U.is_zero(a) return a[1] == 0 and a[2] == 0 and a[3] == 0 end
function U.min(a, b) return U.cmp(a, b) <= 0 and a or b end
function U.max(a, b) return U.cmp(a, b) >= 0 and a or b end

-- a + b, or nil past 2^64 - 1.
function U.add(a, b)
  local s0 = a[1] + b[1]
  local c = s0 >= BASE and 1 or 0
  local s1 = a[2] + b[2] + c
  c = s1 >= BASE and 1 or 0
  local r = { s0 - (s0 >= BASE and BASE or 0), s1 - c * BASE, a[3] + b[3] + c }
  if U.cmp(r, U.MAX) > 0 then
    return nil
  end
  return r
end

-- a - b, or nil below zero.
function U.sub(a, b)
  if U.cmp(a, b) < 0 then
    return nil
  end
  local d0 = a[1] - b[1]
  local borrow = d0 < 0 and 1 or 0
  local d1 = a[2] - b[2] - borrow
  local borrow1 = d1 < 0 and 1 or 0
  return { d0 + borrow * BASE, d1 + borrow1 * BASE, a[3] - b[3] - borrow1 }
end

function U.sat_add(a, b) return U.add(a, b) or U.MAX end
function U.sat_sub(a, b) return U.sub(a, b) or U.ZERO end

-- a * b, or nil past 2^64 - 1.
function U.mul(a, b)
  local p = {
    a[1] * b[1],
    a[1] * b[2] + a[2] * b[1],
    a[1] * b[3] + a[2] * b[2] + a[3] * b[1],
    a[2] * b[3] + a[3] * b[2],
    a[3] * b[3],
  }
  local carry = 0
  for i = 1, 5 do
    local v = p[i] + carry
    local limb = v % BASE
    p[i] = limb
    carry = (v - limb) / BASE
  end
  if carry > 0 or p[4] > 0 or p[5] > 0 then
    return nil
  end
  local r = { p[1], p[2], p[3] }
  if U.cmp(r, U.MAX) > 0 then
    return nil
  end
  return r
end

function U.sat_mul(a, b) return U.mul(a, b) or U.MAX end

-- Divisors below this use short division: a remainder times the base plus a limb stays exact.
local SHORT = 900000000

-- floor(a / b) and a mod b, for b > 0 (nil, nil for b = 0).
function U.divmod(a, b)
  if U.is_zero(b) then
    return nil, nil
  end
  local bn = U.small(b)
  if bn and bn < SHORT then
    local q = { 0, 0, 0 }
    local r = 0
    for i = 3, 1, -1 do
      local cur = r * BASE + a[i]
      local d = math.floor(cur / bn)
      r = cur - d * bn
      if r < 0 then
        d, r = d - 1, r + bn
      elseif r >= bn then
        d, r = d + 1, r - bn
      end
      q[i] = d
    end
    return q, U.of(r)
  end
  -- b >= 9e8, so the quotient is below 2^64 / 9e8 < 2^35 and a double estimate of it is off by
  -- at most one; correct it against the exact product.
  local q = math.floor(U.approx(a) / U.approx(b))
  local p = U.mul(U.of(q), b)
  while p == nil or U.cmp(p, a) > 0 do
    q = q - 1
    p = U.mul(U.of(q), b)
  end
  while true do
    local next = U.add(p, b)
    if next == nil or U.cmp(next, a) > 0 then
      break
    end
    q, p = q + 1, next
  end
  return U.of(q), U.sub(a, p)
end

function U.div(a, b)
  local q = U.divmod(a, b)
  return q
end

function U.rem(a, b)
  local _, r = U.divmod(a, b)
  return r
end

-- floor(a / b) as a double, for quotients known to be small (counts); nil for b = 0.
function U.div_small(a, b)
  local q = U.divmod(a, b)
  return q and U.small(q)
end

-- The server's clock in nanoseconds since the Unix epoch (TIME gives seconds and microseconds).
function U.server_now()
  local t = redis.call('TIME')
  return U.add(U.mul(U.parse(t[1]), U.of(1000000000)), U.of(tonumber(t[2]) * 1000))
end

-- How many unit requests of `t` ticks fit with `used` of `cap` taken, before the end of time:
-- the core's `units_that_fit` (core/src/algorithm/gcra.rs), the `remaining` of GCRA, the meter
-- and the shaper. A count, saturating at u32::MAX (a rounded double past 2^53 is cut there too).
function U.units_that_fit(cap, used, now, t)
  local room = U.min(U.sat_sub(cap, used), U.sat_sub(U.sat_sub(U.MAX, now), used))
  local q = U.div(room, t)
  if q == nil then
    return 0
  end
  return math.min(U.approx(q), 4294967295)
end
