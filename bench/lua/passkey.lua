-- POST /api/v1/auth/passkeys/authenticate/verify. Every body is a WebAuthn assertion signed
-- over one ceremony's challenge (prefetched by bench/pydriver.py, $BENCH_DATA: one JSON body
-- per line) and can be used once; past the last one the thread sends a ceremony that cannot
-- exist, which shows up as non-2xx errors (bench.py sizes the window so that does not happen).
local bodies, index = {}, 0

function init(args)
  bodies = bench.my_lines()
end

function request()
  index = index + 1
  local body = bodies[index] or '{"ceremonyId":"bench-exhausted","credential":{}}'
  return wrk.format("POST", "/api/v1/auth/passkeys/authenticate/verify", bench.json_headers(),
    body)
end
