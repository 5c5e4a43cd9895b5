-- post.lua: wrk script for POST /api/v1/pricing/compute with one fixed body (one cache key).
-- done() prints one machine-readable WRK_RESULT line that bench/compute/run.sh parses.
wrk.method = "POST"
wrk.path = "/api/v1/pricing/compute"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"region_id":"dr5ru","product_type":"standard","user_id":"u1"}'

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
        "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
