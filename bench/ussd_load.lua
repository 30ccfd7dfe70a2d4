-- wrk script for bench/ussd_load.py: simulated USSD callers playing whole journeys.
--
-- Run by ussd_load.py with one connection per wrk thread (-t N -c N), so each thread's
-- request() and response() strictly alternate: a caller's next hop is only sent after the
-- reply to its previous hop has arrived, exactly as a phone behaves. Each thread owns its own
-- callers (a disjoint slice of the phone pool) and takes them in turn, one whole journey each.
--
-- The journeys themselves (which keys each caller presses) are planned in Python and read from
-- plan-<thread>.txt; this script only plays them, in the way Africa's Talking sends them:
-- a fresh sessionId per journey and `text` = every input so far joined by "*" (first hop "").
-- If the gateway offers to resume an unfinished session, the caller presses "2" (start again)
-- and then plays its journey.
--
-- Environment (set by ussd_load.py):
--   USSD_BENCH_PLAN     folder holding plan-<thread>.txt and markers.txt
--   USSD_BENCH_OUT      where done() writes the JSON result
--   USSD_BENCH_RUN      a tag that keeps session ids unique across runs
--   USSD_BENCH_MODE     "measure", or "warmup" (report when every caller has played one
--                       journey)
--   USSD_BENCH_CHECK    "flow": check each reply against the plan; "prefix": CON/END only
--   USSD_BENCH_SKIP     journeys each caller skips in its plan before starting

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } ussd_bench_timespec;
int clock_gettime(int clk_id, ussd_bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("ussd_bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local env = os.getenv
local plan_dir = env("USSD_BENCH_PLAN") or "."
local run_tag = env("USSD_BENCH_RUN") or "run"
local warmup = env("USSD_BENCH_MODE") == "warmup"
local check_flow = env("USSD_BENCH_CHECK") == "flow"
local skip = tonumber(env("USSD_BENCH_SKIP") or "0")

wrk.method = "POST"

-- ---------------------------------------------------------------------------------------------
-- Main state: hand each thread its number, and collect everything at the end.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- ---------------------------------------------------------------------------------------------
-- Thread state.

local callers = {}
local markers = { errors = {}, resume = {}, failure = nil }
local cur = 0            -- index of the caller whose hop is in flight (or was sent last)
local inflight = false   -- a request was sent and its reply has not arrived yet
local sent_at = 0        -- when it was sent (µs)
local unwarmed = 0       -- warm-up: callers that have not finished a journey yet
local verifying = false  -- thread 0: wrk calls request() once at start-up, only to parse it

-- Results, read by done() through thread:get().
hops = 0
journeys = 0
resumed = 0
bad_status = 0
bad_body = 0
app_failures = 0
off_script = 0
lost = 0
hist = {}        -- latency from send to reply, µs bucket -> count
-- per "journey#hop": count, sum and max of latency (flat tables: wrk's thread:get() cannot
-- copy nested ones)
hop_n = {}
hop_sum = {}
hop_max = {}
samples = {}     -- a few off-script replies, for diagnosis

local function bucket(us)
  if us < 10000 then
    return math.floor(us / 10) * 10
  elseif us < 100000 then
    return math.floor(us / 100) * 100
  end
  return math.floor(us / 1000) * 1000
end

local function record(h, us)
  local b = bucket(us)
  h[b] = (h[b] or 0) + 1
end

local function split(s, sep)
  local out = {}
  if s == nil or s == "" then
    return out
  end
  for part in string.gmatch(s, "([^" .. sep .. "]+)") do
    out[#out + 1] = part
  end
  return out
end

local function load_markers()
  for line in io.lines(plan_dir .. "/markers.txt") do
    local kind, text = line:match("^(%a+) (.*)$")
    if kind == "error" then
      table.insert(markers.errors, text)
    elseif kind == "resume" then
      table.insert(markers.resume, text)
    elseif kind == "failure" then
      markers.failure = text
    end
  end
end

-- plan-<tid>.txt:  "C <phone, url-encoded>" starts a caller; each following
-- "J <name> <CON|END> <key>|<key>|..." is one of its journeys (keys url-encoded, may be none).
local function load_plan(tid)
  local caller = nil
  for line in io.lines(plan_dir .. "/plan-" .. tid .. ".txt") do
    local tag, rest = line:match("^(%a) (.*)$")
    if tag == "C" then
      caller = { phone = rest, journeys = {}, j = skip, sid = nil, n = 0, warmed = false }
      table.insert(callers, caller)
    elseif tag == "J" then
      local name, final, keys = rest:match("^(%S+) (%S+) ?(.*)$")
      table.insert(caller.journeys, { name = name, final = final, keys = split(keys, "|") })
    end
  end
end

function init(args)
  load_markers()
  load_plan(tid)
  unwarmed = #callers
  verifying = tid == 0
  cur = (skip * 97) % #callers -- each run starts with other callers of this thread's slice
end

local function contains_any(body, list)
  for _, text in ipairs(list) do
    if string.find(body, text, 1, true) then
      return true
    end
  end
  return false
end

-- The caller's session is over (planned end or a problem): its next hop starts a new journey.
-- In a warm-up, the thread tells ussd_load.py (a file) once each of its callers has finished
-- one journey; when all threads have, it stops wrk with SIGINT.
local function finish(c)
  c.sid = nil
  if warmup and not c.warmed then
    c.warmed = true
    unwarmed = unwarmed - 1
    if unwarmed == 0 then
      assert(io.open(env("USSD_BENCH_OUT") .. ".warm" .. tid, "w")):close()
    end
  end
end

local function off(c, body, why)
  off_script = off_script + 1
  if #samples < 5 then
    local jr = c.journeys[c.j]
    table.insert(samples, string.format("%s: journey %s, text %q -> %q", why, jr.name,
      c.text, body:sub(1, 120)))
  end
  finish(c)
end

-- The request, formatted by hand: cheaper than wrk.format(), which rebuilds a header table on
-- every call (the generator shares two cores with the servers, so every µs counts).
local request_head = nil

local function hop_request(sid, phone, text)
  local body = "sessionId=" .. sid .. "&serviceCode=%2A123%23&phoneNumber=" .. phone ..
    "&networkCode=51010&text=" .. text
  return request_head .. #body .. "\r\n\r\n" .. body
end

function request()
  if request_head == nil then
    request_head = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
      "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
  end
  if verifying then
    -- wrk (>= 4.0) parses the first request of thread 0 before starting, without sending it.
    -- Return a valid hop that changes no caller's state: harmless even if it were sent.
    verifying = false
    return hop_request("ATUid_verify", callers[1].phone, "")
  end
  if inflight then
    -- The previous request got no reply (socket error, counted by wrk too): that caller
    -- starts over, as a phone would after "connection problem or invalid MMI code".
    lost = lost + 1
    finish(callers[cur])
  end
  local c = callers[cur]
  if c == nil or c.sid == nil then
    -- One caller at a time per connection, each playing a whole journey, so that the hops
    -- measured are whole journeys' hops in the planned mix (not mostly first hops).
    cur = cur % #callers + 1
    c = callers[cur]
  end
  local text
  if c.sid == nil then
    c.j = c.j % #c.journeys + 1
    c.n = c.n + 1
    c.sid = string.format("ATUid_%s_%d_%d_%d", run_tag, tid, cur, c.n)
    c.text = ""
    c.pos = 1
    c.hop = 1
    c.extra = 0
  elseif c.hop == 1 then
    c.text = c.next_key
    c.hop = 2
  else
    c.text = c.text .. "%2A" .. c.next_key
    c.hop = c.hop + 1
  end
  -- Hops are labelled as planned: "1" dialling, "2" the first key...; "r" answers a resume offer.
  if c.resuming then
    c.label = "r"
    c.resuming = false
  else
    c.label = tostring(c.hop - c.extra)
  end
  inflight = true
  sent_at = now_us()
  return hop_request(c.sid, c.phone, c.text)
end

function response(status, headers, body)
  local t = now_us()
  if not inflight then
    return
  end
  inflight = false
  local c = callers[cur]
  local jr = c.journeys[c.j]
  local us = t - sent_at
  hops = hops + 1
  record(hist, us)
  local key = jr.name .. "#" .. c.label
  hop_n[key] = (hop_n[key] or 0) + 1
  hop_sum[key] = (hop_sum[key] or 0) + us
  if us > (hop_max[key] or 0) then
    hop_max[key] = us
  end

  if status ~= 200 then
    bad_status = bad_status + 1
    return finish(c)
  end
  local kind = body:sub(1, 4)
  if kind ~= "CON " and kind ~= "END " then
    bad_body = bad_body + 1
    return finish(c)
  end
  if check_flow then
    if body == markers.failure then
      app_failures = app_failures + 1
      return off(c, body, "app failure")
    end
    if contains_any(body, markers.errors) then
      return off(c, body, "error line")
    end
    if c.hop == 1 and contains_any(body, markers.resume) then
      resumed = resumed + 1
      c.next_key = "2" -- start again
      c.extra = 1
      c.resuming = true
      return
    end
  end
  if c.pos <= #jr.keys then
    if check_flow and kind == "END " then
      return off(c, body, "ended early")
    end
    c.next_key = jr.keys[c.pos]
    c.pos = c.pos + 1
    return
  end
  if check_flow and kind ~= jr.final .. " " then
    return off(c, body, "wrong last screen")
  end
  journeys = journeys + 1
  finish(c)
end

-- ---------------------------------------------------------------------------------------------
-- Main state, at the end: write everything as JSON for ussd_load.py.

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(ch)
    return string.format("\\u%04x", ch:byte())
  end) .. '"'
end

local function json_hist(h)
  local parts = {}
  for k, v in pairs(h) do
    parts[#parts + 1] = string.format('"%d":%d', k, v)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function json_per_hop(n, sum, max)
  local parts = {}
  for k, v in pairs(n) do
    parts[#parts + 1] = string.format('%s:[%d,%.0f,%.0f]', json_string(k), v, sum[k], max[k])
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local COUNTERS = { "hops", "journeys", "resumed", "bad_status", "bad_body", "app_failures",
  "off_script", "lost" }

function done(summary, latency, requests)
  local out = {}
  out[#out + 1] = string.format(
    '{"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},"threads":[',
    summary.duration, summary.requests, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max)
  for i, thread in ipairs(threads) do
    local parts = {}
    for _, name in ipairs(COUNTERS) do
      parts[#parts + 1] = string.format('"%s":%d', name, thread:get(name) or 0)
    end
    parts[#parts + 1] = '"hist":' .. json_hist(thread:get("hist") or {})
    parts[#parts + 1] = '"per_hop":' .. json_per_hop(thread:get("hop_n") or {},
      thread:get("hop_sum") or {}, thread:get("hop_max") or {})
    local s = {}
    for _, text in ipairs(thread:get("samples") or {}) do
      s[#s + 1] = json_string(text)
    end
    parts[#parts + 1] = '"samples":[' .. table.concat(s, ",") .. "]"
    out[#out + 1] = (i > 1 and "," or "") .. "{" .. table.concat(parts, ",") .. "}"
  end
  out[#out + 1] = "]}"
  local f = assert(io.open(env("USSD_BENCH_OUT"), "w"))
  f:write(table.concat(out))
  f:close()
end
