-- wrk script for benchmarks/routing.py (used when wrk is installed; loadgen.py is the fallback).
--
--   wrk -t1 ... -s benchmarks/routing.lua URL -- REQUESTFILE
--
-- REQUESTFILE has one precomputed, signed Plivo answer webhook per line, tab-separated:
--   PATH <TAB> X-Plivo-Signature-V3 <TAB> X-Plivo-Signature-V3-Nonce <TAB> form-encoded body
-- Each line is POSTed once, in order (every CallUUID is fresh, so every request is a new call).
-- When the lines run out the thread stops (wrk's -d bounds the time); "exhausted" says so, and
-- "span_us" (first request to last response, monotonic clock) is then the time that counts, as
-- wrk's own duration is always the full -d.
-- A response counts as bad unless its status is 200 and its body holds a <Dial> element.
-- done() prints one line: "WRKJSON {...}".

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } routing_timespec;
int clock_gettime(int clock, routing_timespec *ts);
]]
local clock = ffi.new("routing_timespec")

local function now_us()
   ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
   return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local items = {}
local sent = 0
non200 = 0
nodial = 0
exhausted = 0
statuses = ""
first_us = 0
last_us = 0

function init(args)
   for line in io.lines(args[1]) do
      local path, signature, nonce, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
      if path then
         local headers = {
            ["Content-Type"] = "application/x-www-form-urlencoded",
            ["X-Plivo-Signature-V3"] = signature,
            ["X-Plivo-Signature-V3-Nonce"] = nonce,
         }
         table.insert(items, wrk.format("POST", path, headers, body))
      end
   end
end

function request()
   if first_us == 0 then first_us = now_us() end
   sent = sent + 1
   if sent > #items then
      -- Out of fresh calls: stop. wrk still writes what this returns, but stops before counting
      -- its answer; a repeated CallUUID is idempotent in maskline (no new call row).
      exhausted = 1
      wrk.thread:stop()
      return items[#items]
   end
   return items[sent]
end

local seen = {}

function response(status, headers, body)
   last_us = now_us()
   if status ~= 200 then
      non200 = non200 + 1
      if not seen[status] then
         seen[status] = true
         statuses = statuses .. status .. " "
      end
   elseif not (body and body:find("<Dial", 1, true)) then
      nodial = nodial + 1
   end
end

function done(summary, latency, requests)
   local bad, missing, out, codes, first, last = 0, 0, 0, "", math.huge, 0
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non200")
      missing = missing + thread:get("nodial")
      out = out + thread:get("exhausted")
      codes = codes .. thread:get("statuses")
      local f = thread:get("first_us")
      if f > 0 and f < first then first = f end
      last = math.max(last, thread:get("last_us"))
   end
   local span = last > first and last - first or summary.duration
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "span_us": %d, "p50_us": %.1f, "p99_us": %.1f,'
         .. ' "non200": %d, "nodial": %d, "errors": %d, "exhausted": %d, "bad_statuses": "%s"}\n',
      summary.requests, summary.duration, span, latency:percentile(50), latency:percentile(99), bad,
      missing, e.connect + e.read + e.write + e.timeout, out, codes))
end
