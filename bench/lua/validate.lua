-- POST /api/v1/auth/validate, round robin over this thread's access tokens ($BENCH_DATA: token).
local requests, index = {}, 0

function init(args)
  for _, token in ipairs(bench.my_lines()) do
    table.insert(requests, wrk.format("POST", "/api/v1/auth/validate", bench.json_headers(),
      '{"token":"' .. token .. '"}'))
  end
end

function request()
  index = index % #requests + 1
  return requests[index]
end
