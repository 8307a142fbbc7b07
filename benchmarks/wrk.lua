-- wrk script for benchmarks/api.py (used when wrk is installed; loadgen.py is the fallback).
--
--   wrk ... -s benchmarks/wrk.lua URL -- MODE DATAFILE MAX_REQUESTS SEED AUTH [PATH EXPIRY]
--
-- MODE post: DATAFILE has one "first second" pair of parties per line; each request creates a
--            session whose first and second party are drawn at random (independently) from it,
--            POSTed to PATH with {"first_party", "second_party", "session_expiry": EXPIRY}.
-- MODE get:  DATAFILE has one request path per line; each request GETs one drawn at random.
-- AUTH is the Authorization header value, or "-" for none. A thread stops after MAX_REQUESTS
-- requests (wrk's -d bounds the time). done() prints one line: "WRKJSON {...}".

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local mode, items, firsts, seconds, headers, path, expiry, limit
local sent = 0
non2xx = 0
statuses = ""

function init(args)
   mode, limit = args[1], tonumber(args[3])
   math.randomseed(tonumber(args[4]))
   headers = {}
   if args[5] ~= "-" then headers["Authorization"] = args[5] end
   if mode == "post" then
      path, expiry = args[6], args[7]
      headers["Content-Type"] = "application/json"
      firsts, seconds = {}, {}
      for line in io.lines(args[2]) do
         local a, b = line:match("^(%S+)%s+(%S+)$")
         if a then
            table.insert(firsts, a)
            table.insert(seconds, b)
         end
      end
   else
      items = {}
      for line in io.lines(args[2]) do
         if #line > 0 then table.insert(items, wrk.format("GET", line, headers)) end
      end
   end
end

function request()
   sent = sent + 1
   if sent > limit then wrk.thread:stop() end
   if mode == "post" then
      local body = '{"first_party":"' .. firsts[math.random(#firsts)] .. '","second_party":"'
         .. seconds[math.random(#seconds)] .. '","session_expiry":' .. expiry .. '}'
      return wrk.format("POST", path, headers, body)
   end
   return items[math.random(#items)]
end

local seen = {}

function response(status, hdrs, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if not seen[status] then
         seen[status] = true
         statuses = statuses .. status .. " "
      end
   end
end

function done(summary, latency, requests)
   local bad, codes = 0, ""
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non2xx")
      codes = codes .. thread:get("statuses")
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, "non2xx": %d,'
         .. ' "errors": %d, "bad_statuses": "%s"}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
      e.connect + e.read + e.write + e.timeout, codes))
end
