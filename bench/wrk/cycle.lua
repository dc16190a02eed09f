-- A POST whose body cycles through the lines of $BENCH_LINES (password logins over many users,
-- introspection of many tokens); each thread starts on its own share.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local path = os.getenv("BENCH_PATH")
local bodies, next_body, h

function init(args)
  bodies, next_body, h = my_lines(), 0, headers()
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", path, h, bodies[next_body])
end

function response(status, headers, body)
  count(status)
end
