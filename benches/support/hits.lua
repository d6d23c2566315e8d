-- wrk script of the hit-path benchmark: POSTs each body of the file named by the
-- first script argument (one JSON body a line) to /analyze in turn, with the bearer
-- key given as the second (requests are built once, in init, where wrk's -H headers
-- are not yet applied), and prints one JSON line at the end: requests, seconds,
-- non-2xx/socket errors, p50/p99 in µs.
local requests = {}
local next_index = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  local headers = { ["Content-Type"] = "application/json" }
  if args[2] then
    headers["Authorization"] = "Bearer " .. args[2]
  end
  for body in file:lines() do
    requests[#requests + 1] = wrk.format("POST", "/analyze", headers, body)
  end
  file:close()
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.6f,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
