-- wrk script used by bench/run.py: every request is POST /v1/videos with a small
-- JSON body (the path comes from the URL given to wrk). Extra headers (the access
-- token) come from the environment, so they never show on a command line.
wrk.method = "POST"
wrk.body = '{"model":"sora-2","prompt":"a benchmark of a reverse proxy","seconds":"4"}'
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
