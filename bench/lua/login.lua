-- POST /api/v1/auth/login, round robin over this thread's users ($BENCH_DATA:
-- "email<TAB>password"), so per-account lockout and limits never see a burst on one account.
local requests, index = {}, 0

function init(args)
  for _, line in ipairs(bench.my_lines()) do
    local f = bench.fields(line)
    table.insert(requests, wrk.format("POST", "/api/v1/auth/login", bench.json_headers(),
      '{"email":"' .. f[1] .. '","password":"' .. f[2] .. '"}'))
  end
end

function request()
  index = index % #requests + 1
  return requests[index]
end
