-- POST /api/v1/auth/refresh. Refresh tokens are single-use: each thread keeps a pool of its
-- tokens ($BENCH_DATA: one per line, one session each) and puts back the new refreshToken of
-- every 200 answer, so each session is a chain. An empty pool (after errors) sends a token
-- that cannot exist, which shows up as non-2xx errors.
local pool = {}

function init(args)
  pool = bench.my_lines()
end

function request()
  local token = table.remove(pool, 1) or "rt_bench_pool_empty"
  return wrk.format("POST", "/api/v1/auth/refresh", bench.json_headers(),
    '{"refreshToken":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local token = string.match(body, '"refreshToken"%s*:%s*"([^"]+)"')
    if token then table.insert(pool, token) end
  end
end
