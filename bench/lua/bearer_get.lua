-- An authenticated GET, round robin over this thread's (token, path) lines ($BENCH_DATA:
-- "token<TAB>path"): GET /api/v1/auth/session, GET /api/v1/spaces/{id}/access.
local requests, index = {}, 0

function init(args)
  for _, line in ipairs(bench.my_lines()) do
    local f = bench.fields(line)
    table.insert(requests, wrk.format("GET", f[2], {["Authorization"] = "Bearer " .. f[1]}))
  end
end

function request()
  index = index % #requests + 1
  return requests[index]
end
