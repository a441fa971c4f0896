-- wrk script: POST a small chat request with "stream": true; print one machine-readable result
-- line. X-Bench-Gap-Ms (env SSE_GAP_MS, default 0) tells bench/sse_backend.mjs to pace its
-- events that many ms apart (0: the whole stream in one write). A 2xx stream that does not end
-- in "data: [DONE]" counts as incomplete: a proxy that cuts streams must not look fast.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Bench-Gap-Ms"] = os.getenv("SSE_GAP_MS") or "0"
wrk.body = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    incomplete = 0
end

function response(status, headers, body)
    if status < 300 and not string.find(body, "data: [DONE]\n\n", -16, true) then
        incomplete = incomplete + 1
    end
end

done = function(summary, latency, requests)
    local errors = summary.errors
    local cut = 0
    for _, thread in ipairs(threads) do
        cut = cut + thread:get("incomplete")
    end
    io.write(string.format(
        "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non_2xx=%d incomplete=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        errors.connect + errors.read + errors.write + errors.timeout, errors.status, cut))
end
