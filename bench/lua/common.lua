-- Shared by every bench script: bench.py prepends it to the endpoint's script.
-- Thread ids, this thread's share of the data file, and the JSON report on stdout.
bench = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

-- This thread's lines of $BENCH_DATA (every n-th line, n = $BENCH_THREADS).
function bench.my_lines()
  local n = tonumber(os.getenv("BENCH_THREADS") or "1")
  local all, mine = {}, {}
  for line in io.lines(os.getenv("BENCH_DATA")) do
    if line ~= "" then table.insert(all, line) end
  end
  for i, line in ipairs(all) do
    if (i - 1) % n == id then table.insert(mine, line) end
  end
  if #mine == 0 then return all end
  return mine
end

-- Tab-separated fields of one data line.
function bench.fields(line)
  local out = {}
  for field in string.gmatch(line, "[^\t]+") do table.insert(out, field) end
  return out
end

function bench.json_headers(extra)
  local headers = {["Content-Type"] = "application/json"}
  for k, v in pairs(extra or {}) do headers[k] = v end
  return headers
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,' ..
    '"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
