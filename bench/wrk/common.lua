-- Shared by the bench's wrk scripts (loaded with dofile): thread ids, per-thread request lists
-- read from a file, status counts, and one JSON summary line for bench/load.js to parse.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

statuses = {}

function count(status)
  statuses[status] = (statuses[status] or 0) + 1
end

-- This thread's share of the lines of $BENCH_LINES (every BENCH_THREADS-th line from its id).
function my_lines()
  local mine, i, step = {}, 0, tonumber(os.getenv("BENCH_THREADS"))
  for line in io.lines(os.getenv("BENCH_LINES")) do
    if i % step == id then mine[#mine + 1] = line end
    i = i + 1
  end
  return mine
end

-- Request headers from $BENCH_HEADERS ("name: value" lines).
function headers()
  local h = {}
  for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^:\n]+):%s*([^\n]*)") do h[name] = value end
  return h
end

function done(summary, latency, requests)
  local codes = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses") or {}) do codes[#codes + 1] = string.format('{"%d":%d}', code, n) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"statuses":[%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(codes, ",")))
end
