-- wrk script used by bench/run.py for GET scenarios: extra headers (the access
-- token) come from the environment, so they never show on a command line.
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
