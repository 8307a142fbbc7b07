-- wrk script for benchmarks/routing.py (used when wrk is installed; loadgen.py is the fallback).
--
--   wrk -t1 ... -s benchmarks/routing.lua URL -- REQUESTFILE
--
-- REQUESTFILE has one precomputed, signed Plivo answer webhook per line, tab-separated:
--   PATH <TAB> X-Plivo-Signature-V3 <TAB> X-Plivo-Signature-V3-Nonce <TAB> form-encoded body
-- Each line is POSTed once, in order (every CallUUID is fresh, so every request is a new call).
-- When the lines run out the thread stops (wrk's -d bounds the time); "exhausted" says so.
-- A response counts as bad unless its status is 200 and its body holds a <Dial> element.
-- done() prints one line: "WRKJSON {...}".

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
   local bad, missing, out, codes = 0, 0, 0, ""
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non200")
      missing = missing + thread:get("nodial")
      out = out + thread:get("exhausted")
      codes = codes .. thread:get("statuses")
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, "non200": %d,'
         .. ' "nodial": %d, "errors": %d, "exhausted": %d, "bad_statuses": "%s"}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
      missing, e.connect + e.read + e.write + e.timeout, out, codes))
end
