-- varied.lua: wrk script for POST /api/v1/pricing/compute rotating over many cache keys, so a
-- price cache cannot hide the computation. Argument (after --): a file of "region product"
-- lines, e.g. the 64 regions x 2 products of the sample city. Requests are built once in
-- init(); request() only picks the next one.
-- done() prints one machine-readable WRK_RESULT line that bench/compute/run.sh and bench/compare/run.sh parse.
local reqs = {}
local n = 0

function init(args)
    local f = assert(io.open(assert(args[1], "usage: -s varied.lua URL -- KEYS_FILE"), "r"))
    for line in f:lines() do
        local region, product = line:match("^(%S+)%s+(%S+)")
        if region then
            local body = string.format(
                '{"region_id":"%s","product_type":"%s","user_id":"u1"}', region, product)
            reqs[#reqs + 1] = wrk.format("POST", "/api/v1/pricing/compute",
                { ["Content-Type"] = "application/json" }, body)
        end
    end
    f:close()
    assert(#reqs > 0, "no keys in " .. args[1])
end

function request()
    n = n % #reqs + 1
    return reqs[n]
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
        "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
