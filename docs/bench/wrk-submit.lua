-- wrk -t2 -c32 -d10s -s submit.lua http://127.0.0.1:PORT  (KEY in env)
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  prefix = "w" .. tid .. "-" .. os.time()
end
function request()
  counter = counter + 1
  local body = '{"job_id":"' .. prefix .. '-' .. counter .. '","run_id":"' .. prefix .. '-run-' .. math.floor(counter / 100) .. '","action":"db.read","resource":"orders","labels":{"env":"prod"},"input":{"query":"SELECT * FROM orders WHERE id = ' .. counter .. '"}}'
  return wrk.format("POST", "/api/v1/jobs", {["Authorization"] = "Bearer " .. os.getenv("KEY"), ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
