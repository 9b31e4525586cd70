package store

// The governance scripts. Every key they touch is declared (KEYS, in the
// order of govKeyNames) and shares one hash tag, so Redis Cluster keeps
// them in one slot. Times are Unix milliseconds passed in by the caller
// (ARGV[1]); records are JSON (cjson).
//
// Data layout:
//
//	slots    HASH  slot ID -> {c class, u user, k cluster, co coordinator, q query, o owner, t acquired}
//	slotexp  ZSET  slot ID -> lease expiry
//	run      HASH  running counts: all, c|class, u|class|user, k|cluster
//	q        ZSET  queued entry ID -> order: (100 - priority) * 2^40 + fair tag
//	qe       HASH  entry ID -> entry (QueueEntry's JSON)
//	qn       HASH  queued counts: all, c|class, u|class|user
//	vt       HASH  fair queueing: v|class (the class's virtual time), l|class|user (the user's last tag)
//	use      HASH  usage: kind|window|c|class, kind|window|u|class|user
//	usex     ZSET  usage field -> when it can be forgotten
//	qslot    HASH  query ID -> slot ID
//	qp       ZSET  waiting entry ID -> its client's last poll
//	qd       ZSET  finished entry ID -> when it is forgotten
//	charged  ZSET  query ID -> when it was charged (charges are made once)
//	done     ZSET  query ID -> when its completion arrived (kept 10 minutes:
//	               a slot bound to a query that already ended is released)
//	payload  HASH  entry ID -> what submitting it needs
//	answer   HASH  entry ID -> the coordinator's first answer
//
// Fairness is start-time fair queueing: an entry's tag is one more than
// the larger of its class's virtual time and its user's last tag, and the
// class's virtual time advances to the tag of each entry admitted. One
// user's hundred entries take tags 1..100; another user's entry, arriving
// later, takes the current virtual time plus one and runs next.

var govKeyNames = []string{"slots", "slotexp", "run", "q", "qe", "qn", "vt", "use", "usex", "qslot", "qp", "qd", "charged", "payload", "answer", "done"}

const govPrelude = `
local K = {}
for i, n in ipairs({'slots','slotexp','run','q','qe','qn','vt','use','usex','qslot','qp','qd','charged','payload','answer','done'}) do K[n] = KEYS[i] end
local now = tonumber(ARGV[1])
local MIN, HOUR, BAND = 60000, 3600000, 1099511627776

local function num(v) return tonumber(v) or 0 end
local function fmt(n) return string.format('%.0f', n) end
local function hget(k, f) return redis.call('HGET', k, f) end
local function list(t) if type(t) ~= 'table' then return {} end return t end
local function hincr(k, f, by)
  local v = redis.call('HINCRBY', k, f, by)
  if v <= 0 then redis.call('HDEL', k, f) end
  return v
end

local function counters(c, u, k, by)
  hincr(K.run, 'all', by)
  if c ~= '' then
    hincr(K.run, 'c|' .. c, by)
    hincr(K.run, 'u|' .. c .. '|' .. u, by)
  end
  if k ~= '' then hincr(K.run, 'k|' .. k, by) end
end

local function get_slot(id)
  local raw = hget(K.slots, id)
  if not raw then return nil end
  return cjson.decode(raw)
end
local function put_slot(id, s) redis.call('HSET', K.slots, id, cjson.encode(s)) end

local function new_slot(id, c, u, k, owner, ttl)
  put_slot(id, {c = c, u = u, k = k, co = '', q = '', o = owner, t = now})
  redis.call('ZADD', K.slotexp, fmt(now + ttl), id)
  counters(c, u, k, 1)
end

local function drop_slot(id)
  local s = get_slot(id)
  if not s then return nil end
  counters(s.c, s.u, s.k, -1)
  redis.call('HDEL', K.slots, id)
  redis.call('ZREM', K.slotexp, id)
  if s.q ~= '' then redis.call('HDEL', K.qslot, s.q) end
  return s
end

local function bind(id, b)
  local s = get_slot(id)
  if not s then return false end
  if s.k ~= b.k then
    if s.k ~= '' then hincr(K.run, 'k|' .. s.k, -1) end
    if b.k ~= '' then hincr(K.run, 'k|' .. b.k, 1) end
    s.k = b.k
  end
  if s.q ~= '' and s.q ~= b.q then redis.call('HDEL', K.qslot, s.q) end
  s.q = b.q
  s.co = b.co
  put_slot(id, s)
  if b.q ~= '' then redis.call('HSET', K.qslot, b.q, id) end
  return true
end

local function window(len)
  local w = math.floor(now / len)
  return fmt(w), (w + 1) * len
end
local function usage(kind, len, scope)
  local w, reset = window(len)
  return num(hget(K.use, kind .. '|' .. w .. '|' .. scope)), reset
end
local function charge(kind, len, scope, by)
  if by == 0 then return end
  local w, reset = window(len)
  local f = kind .. '|' .. w .. '|' .. scope
  if tonumber(redis.call('HINCRBYFLOAT', K.use, f, by)) <= 0 then redis.call('HDEL', K.use, f) end
  redis.call('ZADD', K.usex, fmt(reset + len), f)
end
local function count_rate(c, u)
  if c == '' then return end
  charge('rate', MIN, 'c|' .. c, 1)
  charge('rate', MIN, 'u|' .. c .. '|' .. u, 1)
end

local KINDS = {{'rate', MIN, 'm', 'um'}, {'cpu', HOUR, 'cpu', 'ucpu'}, {'bytes', HOUR, 'b', 'ub'}}
local function quota(cl, c, u)
  if not cl then return nil end
  for _, kd in ipairs(KINDS) do
    local lim = num(cl[kd[3]])
    if lim > 0 then
      local used, reset = usage(kd[1], kd[2], 'c|' .. c)
      if used >= lim then return {kind = kd[1], scope = 'class', limit = lim, used = used, reset = reset} end
    end
    lim = num(cl[kd[4]])
    if lim > 0 then
      local used, reset = usage(kd[1], kd[2], 'u|' .. c .. '|' .. u)
      if used >= lim then return {kind = kd[1], scope = 'user', limit = lim, used = used, reset = reset} end
    end
  end
  return nil
end

local function room(L, cl, c, u)
  local t = L.tu and L.tu[u]
  if t ~= nil and num(hget(K.run, 'u|' .. c .. '|' .. u)) >= num(t) then return {scope = 'throttled', limit = num(t)} end
  if not cl then return nil end
  local r = num(cl.r)
  if r > 0 and num(hget(K.run, 'c|' .. c)) >= r then return {scope = 'class', limit = r} end
  r = num(cl.ur)
  if r > 0 and num(hget(K.run, 'u|' .. c .. '|' .. u)) >= r then return {scope = 'user', limit = r} end
  return nil
end

-- pick is the first candidate with room under its cap: '' when there are
-- no candidates, nil when every one is full.
local function pick(L, cands)
  cands = list(cands)
  if #cands == 0 then return '' end
  for _, k in ipairs(cands) do
    local cap = num(L.clusters[k])
    if cap <= 0 or num(hget(K.run, 'k|' .. k)) < cap then return k end
  end
  return nil
end

local function first_cap(L, cands)
  local k = list(cands)[1]
  if not k then return 0 end
  return num(L.clusters[k])
end

-- sweep ends the slots whose leases expired and forgets old usage.
local function sweep()
  local n = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.slotexp, '-inf', fmt(now), 'LIMIT', 0, 100)) do
    if drop_slot(id) then n = n + 1 end
    redis.call('ZREM', K.slotexp, id)
  end
  for _, f in ipairs(redis.call('ZRANGEBYSCORE', K.usex, '-inf', fmt(now), 'LIMIT', 0, 100)) do
    redis.call('HDEL', K.use, f)
    redis.call('ZREM', K.usex, f)
  end
  return n
end

local function get_entry(id)
  local raw = hget(K.qe, id)
  if not raw then return nil end
  return cjson.decode(raw)
end
local function put_entry(id, e)
  if type(e.k) ~= 'table' or #e.k == 0 then e.k = nil end
  redis.call('HSET', K.qe, id, cjson.encode(e))
end

-- dequeue takes a queued entry out of the queue's order and counts.
local function dequeue(id, e)
  redis.call('ZREM', K.q, id)
  hincr(K.qn, 'all', -1)
  if hincr(K.qn, 'c|' .. e.c, -1) <= 0 then redis.call('HDEL', K.vt, 'v|' .. e.c) end
  if hincr(K.qn, 'u|' .. e.c .. '|' .. e.u, -1) <= 0 then redis.call('HDEL', K.vt, 'l|' .. e.c .. '|' .. e.u) end
end

-- queue_entry puts an entry in the queue (a new one gets its fair tag; a
-- requeued one keeps its place).
local function queue_entry(id, e)
  if num(e.tag) == 0 then
    local v = num(hget(K.vt, 'v|' .. e.c))
    local last = num(hget(K.vt, 'l|' .. e.c .. '|' .. e.u))
    e.tag = math.max(v, last) + 1
    redis.call('HSET', K.vt, 'l|' .. e.c .. '|' .. e.u, fmt(e.tag))
  end
  e.s = 'queued'
  e.cl = ''
  e.o = ''
  e.cu = 0
  redis.call('ZADD', K.q, fmt((100 - num(e.p)) * BAND + e.tag), id)
  hincr(K.qn, 'all', 1)
  hincr(K.qn, 'c|' .. e.c, 1)
  hincr(K.qn, 'u|' .. e.c .. '|' .. e.u, 1)
  redis.call('ZADD', K.qp, fmt(now), id)
  put_entry(id, e)
end

-- dispatch admits, in queue order, every entry whose class, user and a
-- candidate cluster have room (a class at its limit holds back only its
-- own entries).
-- all_blocked: every queued entry's class is at its running limit, so
-- there is nothing to scan (the common case of a long queue).
local function all_blocked(L)
  local covered = 0
  for c, cl in pairs(L.classes or {}) do
    local n = num(hget(K.qn, 'c|' .. c))
    if n > 0 then
      local r = num(cl.r)
      if r <= 0 or num(hget(K.run, 'c|' .. c)) < r then return false end
      covered = covered + n
    end
  end
  return covered >= num(hget(K.qn, 'all'))
end

local function dispatch(L, D)
  if all_blocked(L) then return 0 end
  local admitted = 0
  local blocked = {}
  local scan = num(D.scan)
  if scan <= 0 then scan = 500 end
  for _, id in ipairs(redis.call('ZRANGE', K.q, 0, scan - 1)) do
    local e = get_entry(id)
    if not e then
      redis.call('ZREM', K.q, id)
    elseif not blocked[e.c] then
      local why = room(L, L.classes[e.c], e.c, e.u)
      if why and why.scope == 'class' then
        blocked[e.c] = true
        if all_blocked(L) then break end
      elseif not why then
        local k = pick(L, e.k)
        if k then
          dequeue(id, e)
          if num(hget(K.qn, 'c|' .. e.c)) > 0 and e.tag > num(hget(K.vt, 'v|' .. e.c)) then
            redis.call('HSET', K.vt, 'v|' .. e.c, fmt(e.tag))
          end
          new_slot(id, e.c, e.u, k, D.o, num(D.ttl))
          e.s = 'admitted'
          e.cl = k
          put_entry(id, e)
          admitted = admitted + 1
          if all_blocked(L) then break end
        end
      end
    end
  end
  return admitted
end

-- finish ends an entry with an error, keeping it for its polls.
local function finish(id, e, err, keep)
  if e.s == 'queued' then dequeue(id, e) end
  if e.s == 'admitted' or e.s == 'claimed' then drop_slot(id) end
  e.s = 'finished'
  e.err = err
  put_entry(id, e)
  redis.call('ZREM', K.qp, id)
  redis.call('ZADD', K.qd, fmt(now + keep), id)
  redis.call('HDEL', K.payload, id)
end
`

// ARGV: now, limits, request {id, c, u, k, o, ttl, force}.
const govAdmit = `
local L = cjson.decode(ARGV[2])
local R = cjson.decode(ARGV[3])
sweep()
local cl = L.classes[R.c]
local q = quota(cl, R.c, R.u)
if q then return cjson.encode({o = 'quota', quota = q}) end
local k = pick(L, R.k)
if not R.force then
  if num(hget(K.qn, 'c|' .. R.c)) > 0 or (#list(R.k) > 0 and num(hget(K.qn, 'all')) > 0) then
    return cjson.encode({o = 'queue', wait = {scope = 'queue', limit = 0}})
  end
  local why = room(L, cl, R.c, R.u)
  if why then return cjson.encode({o = 'queue', wait = why}) end
  if not k then return cjson.encode({o = 'queue', wait = {scope = 'cluster', limit = first_cap(L, R.k)}}) end
elseif not k then
  k = list(R.k)[1] or ''
end
new_slot(R.id, R.c, R.u, k, R.o, num(R.ttl))
count_rate(R.c, R.u)
return cjson.encode({o = 'admitted', k = k})
`

// ARGV: now, limits, request {id, c, u, k, o, ttl, slug}, payload, dispatch.
const govEnqueue = `
local L = cjson.decode(ARGV[2])
local R = cjson.decode(ARGV[3])
local D = cjson.decode(ARGV[5])
sweep()
local cl = L.classes[R.c]
local q = quota(cl, R.c, R.u)
if q then return cjson.encode({o = 'quota', quota = q}) end
if cl then
  local lim = num(cl.q)
  if lim > 0 and num(hget(K.qn, 'c|' .. R.c)) >= lim then return cjson.encode({o = 'full', full = {scope = 'class', limit = lim}}) end
  lim = num(cl.uq)
  if lim > 0 and num(hget(K.qn, 'u|' .. R.c .. '|' .. R.u)) >= lim then return cjson.encode({o = 'full', full = {scope = 'user', limit = lim}}) end
end
local lim = num(L.maxQueued)
if lim > 0 and num(hget(K.qn, 'all')) >= lim then return cjson.encode({o = 'full', full = {scope = 'gateway', limit = lim}}) end
local p = 0
if cl then p = num(cl.p) end
local e = {c = R.c, u = R.u, p = p, k = list(R.k), t = now, slug = R.slug, o = '', cu = 0, att = 0, q = '', cl = '', tag = 0}
redis.call('HSET', K.payload, R.id, ARGV[4])
queue_entry(R.id, e)
count_rate(R.c, R.u)
dispatch(L, D)
local me = get_entry(R.id)
if me.s == 'admitted' then
  redis.call('HDEL', K.qe, R.id)
  redis.call('ZREM', K.qp, R.id)
  redis.call('HDEL', K.payload, R.id)
  local s = get_slot(R.id)
  if s then
    s.o = R.o
    put_slot(R.id, s)
    redis.call('ZADD', K.slotexp, fmt(now + num(R.ttl)), R.id)
  end
  return cjson.encode({o = 'admitted', k = me.cl})
end
local why = room(L, cl, R.c, R.u)
if not why and not pick(L, me.k) then why = {scope = 'cluster', limit = first_cap(L, me.k)} end
if not why then why = {scope = 'queue', limit = 0} end
return cjson.encode({o = 'queued', pos = num(redis.call('ZRANK', K.q, R.id)) + 1, wait = why})
`

// ARGV: now, id, slug.
const govPoll = `
local id = ARGV[2]
local e = get_entry(id)
if not e or e.slug ~= ARGV[3] then return cjson.encode({none = true}) end
if e.s == 'queued' or e.s == 'admitted' or e.s == 'claimed' then redis.call('ZADD', K.qp, fmt(now), id) end
local out = {e = e, pos = 0, rc = 0, ru = 0}
if e.s == 'queued' then
  out.pos = num(redis.call('ZRANK', K.q, id)) + 1
  out.rc = num(hget(K.run, 'c|' .. e.c))
  out.ru = num(hget(K.run, 'u|' .. e.c .. '|' .. e.u))
  local rk, any = {}, false
  for _, k in ipairs(list(e.k)) do
    rk[k] = num(hget(K.run, 'k|' .. k))
    any = true
  end
  if any then out.rk = rk end
end
if e.s == 'submitted' then out.answer = hget(K.answer, id) or '' end
return cjson.encode(out)
`

// ARGV: now, id, owner, claim ms, slot ttl ms, limits, dispatch.
const govClaim = `
local id, owner = ARGV[2], ARGV[3]
local e = get_entry(id)
if not e then return cjson.encode({none = true}) end
if e.s == 'admitted' or (e.s == 'claimed' and num(e.cu) < now) then
  local s = get_slot(id)
  if not s then
    queue_entry(id, e)
    dispatch(cjson.decode(ARGV[6]), cjson.decode(ARGV[7]))
    return cjson.encode({e = get_entry(id)})
  end
  e.s = 'claimed'
  e.o = owner
  e.cu = now + num(ARGV[4])
  e.att = num(e.att) + 1
  put_entry(id, e)
  s.o = owner
  put_slot(id, s)
  redis.call('ZADD', K.slotexp, fmt(now + num(ARGV[5])), id)
  return cjson.encode({e = e, claimed = true, payload = hget(K.payload, id) or ''})
end
return cjson.encode({e = e})
`

// ARGV: now, id, owner, binding, answer, keep ms.
const govSubmitted = `
local id = ARGV[2]
local e = get_entry(id)
if not e then return 'gone' end
if e.s ~= 'claimed' or e.o ~= ARGV[3] then return 'owner' end
local b = cjson.decode(ARGV[4])
bind(id, b)
e.s = 'submitted'
e.q = b.q
put_entry(id, e)
redis.call('ZREM', K.qp, id)
redis.call('ZADD', K.qd, fmt(now + num(ARGV[6])), id)
redis.call('HSET', K.answer, id, ARGV[5])
redis.call('HDEL', K.payload, id)
return 'ok'
`

// ARGV: now, id, owner, limits, dispatch.
const govRequeue = `
local id = ARGV[2]
local e = get_entry(id)
if not e then return 'gone' end
if e.s ~= 'claimed' or e.o ~= ARGV[3] then return 'owner' end
drop_slot(id)
queue_entry(id, e)
dispatch(cjson.decode(ARGV[4]), cjson.decode(ARGV[5]))
return 'ok'
`

// ARGV: now, id, error, limits, dispatch.
const govFinish = `
local id = ARGV[2]
local raw = hget(K.qe, id)
if not raw then return cjson.encode({none = true}) end
local e = cjson.decode(raw)
if e.s == 'submitted' or e.s == 'finished' then return '{"e":' .. raw .. '}' end
local D = cjson.decode(ARGV[5])
finish(id, e, cjson.decode(ARGV[3]), num(D.keep))
dispatch(cjson.decode(ARGV[4]), D)
return '{"e":' .. raw .. '}'
`

// ARGV: now, slot, binding.
const govBind = `
local b = cjson.decode(ARGV[3])
if b.q and b.q ~= '' and redis.call('ZSCORE', K.done, b.q) then
  -- The query ended before its slot was tied to it (its completion
  -- arrived first): the slot is released, not bound.
  if drop_slot(ARGV[2]) then return 2 end
  return 0
end
if bind(ARGV[2], b) then return 1 end
return 0
`

// ARGV: now, slot, limits, dispatch.
const govRelease = `
if not drop_slot(ARGV[2]) then return 0 end
dispatch(cjson.decode(ARGV[3]), cjson.decode(ARGV[4]))
return 1
`

// ARGV: now, completion {q, c, u, cpu, b}, limits, dispatch.
const govComplete = `
local C = cjson.decode(ARGV[2])
local out = {released = false, charged = false, class = C.c, user = C.u}
redis.call('ZREMRANGEBYSCORE', K.done, '-inf', fmt(now - 10 * MIN))
redis.call('ZADD', K.done, fmt(now), C.q)
local sid = hget(K.qslot, C.q)
if sid then
  local s = drop_slot(sid)
  if s then
    out.released = true
    out.class = s.c
    out.user = s.u
  end
end
redis.call('ZREMRANGEBYSCORE', K.charged, '-inf', fmt(now - 2 * HOUR))
if out.class ~= '' and not redis.call('ZSCORE', K.charged, C.q) then
  redis.call('ZADD', K.charged, fmt(now), C.q)
  local scopes = {'c|' .. out.class, 'u|' .. out.class .. '|' .. out.user}
  for _, sc in ipairs(scopes) do
    charge('cpu', HOUR, sc, num(C.cpu))
    charge('bytes', HOUR, sc, num(C.b))
  end
  out.charged = true
end
if out.released then dispatch(cjson.decode(ARGV[3]), cjson.decode(ARGV[4])) end
return cjson.encode(out)
`

// ARGV: now, owner, ttl ms, slot IDs...
const govRenew = `
local lost = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local s = get_slot(id)
  if s and s.o == ARGV[2] then
    redis.call('ZADD', K.slotexp, fmt(now + num(ARGV[3])), id)
  else
    table.insert(lost, id)
  end
end
return lost
`

// ARGV: now, owner, ttl ms, slot IDs...
const govAdopt = `
for i = 4, #ARGV do
  local id = ARGV[i]
  local s = get_slot(id)
  if s then
    s.o = ARGV[2]
    put_slot(id, s)
    redis.call('ZADD', K.slotexp, fmt(now + num(ARGV[3])), id)
  end
end
return 1
`

// ARGV: now, limits, dispatch {o, ttl, scan, ct (client timeout), keep, am (abandoned message)}.
const govTick = `
local L = cjson.decode(ARGV[2])
local D = cjson.decode(ARGV[3])
local res = {expired = sweep(), abandoned = 0, admitted = 0}
if num(D.ct) > 0 then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.qp, '-inf', fmt(now - num(D.ct)), 'LIMIT', 0, 100)) do
    redis.call('ZREM', K.qp, id)
    local e = get_entry(id)
    if e and (e.s == 'queued' or e.s == 'admitted' or e.s == 'claimed') then
      finish(id, e, {name = 'ABANDONED_QUERY', msg = D.am}, num(D.keep))
      res.abandoned = res.abandoned + 1
    end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.qd, '-inf', fmt(now), 'LIMIT', 0, 200)) do
  redis.call('ZREM', K.qd, id)
  redis.call('HDEL', K.qe, id)
  redis.call('HDEL', K.answer, id)
  redis.call('HDEL', K.payload, id)
end
res.admitted = dispatch(L, D)
return cjson.encode(res)
`

// ARGV: now.
const govSnapshot = `
return {
  redis.call('HGETALL', K.slots),
  redis.call('ZRANGE', K.slotexp, 0, -1, 'WITHSCORES'),
  redis.call('HGETALL', K.run),
  redis.call('ZRANGE', K.q, 0, -1),
  redis.call('HGETALL', K.qe),
  redis.call('HGETALL', K.use),
}
`

// ARGV: now, adjustment {c, u, kind, d, reset}.
const govAdjust = `
local A = cjson.decode(ARGV[2])
local scope = 'c|' .. A.c
if A.u ~= '' then scope = 'u|' .. A.c .. '|' .. A.u end
for _, kd in ipairs(KINDS) do
  if A.kind == '' or A.kind == kd[1] then
    if A.reset then
      local w = window(kd[2])
      redis.call('HDEL', K.use, kd[1] .. '|' .. w .. '|' .. scope)
    else
      charge(kd[1], kd[2], scope, num(A.d))
    end
  end
end
return 1
`
