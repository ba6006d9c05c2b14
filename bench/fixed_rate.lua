-- wrk script for bench/overload.sh: POST /runs/wait at a fixed rate, as open-loop as wrk allows (wrk2 is not in
-- Debian). Each wrk thread keeps a schedule of send times, one every THREADS/RATE seconds; a connection that is free
-- takes the next slot and waits for it (delay()), so a slow answer holds one connection, not the schedule. Slots that
-- found no free connection are sent late, and counted (`late`): then the numbers are not of the rate asked for.
-- Environment: RATE (requests per second, all threads), THREADS (wrk -t), API_KEY.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
]]
local clock = ffi.new("bench_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
    return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = os.getenv("API_KEY")
wrk.body = '{"assistant_id":"echo-fast","input":{"messages":[{"role":"user","content":"Hello there, how are you today?"}]}}'

local threads = {}
function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    period = tonumber(os.getenv("THREADS")) * 1000 / tonumber(os.getenv("RATE"))
    next_slot = nil
    late = 0
    statuses = {}
    shed_with_retry_after = 0
end

function delay()
    local now = now_ms()
    next_slot = next_slot and next_slot + period or now
    local wait = next_slot - now
    if wait < -10 then late = late + 1 end
    return wait > 0 and wait or 0
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if (status == 429 or status == 503) and headers["Retry-After"] then
        shed_with_retry_after = shed_with_retry_after + 1
    end
end

function done(summary, latency, requests)
    local total, late_all, retry = {}, 0, 0
    for _, thread in ipairs(threads) do
        for status, n in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + n end
        late_all = late_all + thread:get("late")
        retry = retry + thread:get("shed_with_retry_after")
    end
    local parts = {}
    for status, n in pairs(total) do table.insert(parts, string.format('"%d":%d', status, n)) end
    io.write(string.format('RESULT {"statuses":{%s},"late":%d,"shed_with_retry_after":%d,"duration_s":%.3f,' ..
        '"socket_errors":%d,"p50_ms":%.2f,"p99_ms":%.2f}\n', table.concat(parts, ","), late_all, retry,
        summary.duration / 1e6, summary.errors.connect + summary.errors.read + summary.errors.write +
        summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
