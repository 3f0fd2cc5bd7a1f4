-- Appended to every wrk run: prints one machine-readable line after the summary.
-- Latencies in microseconds. Optional env BENCH_POST_BYTES turns requests into POSTs.
local post = os.getenv("BENCH_POST_BYTES")
if post and tonumber(post) and tonumber(post) > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", tonumber(post))
  wrk.headers["Content-Type"] = "application/octet-stream"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d p50=%d p99=%d p999=%d max=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
