-- wrk script for bench/webhook_intake.py: replays pre-signed raw HTTP requests from a file.
-- Each thread starts at its own offset so threads do not send the same delivery at once.
local requests = {}
local position = 0
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = io.open(args[1], "rb")
  local data = file:read("*a")
  file:close()
  local start = 1
  while true do
    local stop = string.find(data, "\n@@@@@@\n", start, true)
    if not stop then break end
    table.insert(requests, string.sub(data, start, stop - 1))
    start = stop + 8
  end
  position = math.floor(#requests * offset / tonumber(args[2]))
end

function request()
  position = position + 1
  return requests[(position - 1) % #requests + 1]
end

function done(summary, latency, requests_done)
  io.write(string.format('{"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": %d, "non2xx": %d}\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
