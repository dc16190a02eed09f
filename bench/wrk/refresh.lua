-- refresh_token with real rotation: each thread holds a pool of token families (its share of
-- $BENCH_LINES). A request takes the oldest waiting token; a 200 answer's new refresh token goes
-- back, so every request spends a live token exactly once. wrk keeps one request in flight per
-- connection, so a pool larger than the thread's connections never runs dry while answers succeed.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local path = os.getenv("BENCH_PATH")
local pool, first, last, h, prefix

function init(args)
  pool, h, prefix = my_lines(), headers(), os.getenv("BENCH_BODY")
  first, last = 1, #pool
end

function request()
  local token = ""
  if first <= last then
    token = pool[first]
    pool[first] = nil
    first = first + 1
  end
  return wrk.format("POST", path, h, prefix .. token)
end

function response(status, headers, body)
  count(status)
  if status == 200 then
    local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      last = last + 1
      pool[last] = token
    end
  end
end
