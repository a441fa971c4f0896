// The client of bench/streams.sh: opens many connections through one aiproxyd and reads the
// daemon's memory and CPU from /proc at the moments that matter. Standard library only.
//
//   node streams_client.mjs idle    PORT PID COUNT
//     COUNT idle keep-alive connections (one chat completion each, then left open):
//     RSS before and after, bytes per connection.
//   node streams_client.mjs streams PORT PID COUNT GAP_MS HOLD_S OPEN_TIMEOUT_S
//     COUNT streams open at once, an event every GAP_MS on each (bench/sse_backend.mjs paces
//     them): RSS idle and with all open, bytes per stream, and aiproxyd's CPU per relayed event
//     over HOLD_S seconds with all of them open.
//
// Prints "key=value" lines. Every wait is bounded; at most kInFlight connections are being opened
// at any time, so that the listen backlog never overflows.
import fs from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const kInFlight = 256;
const [mode, portText, pidText, countText, gapText, holdText, openTimeoutText] =
    process.argv.slice(2);
const port = Number(portText);
const pid = Number(pidText);
const count = Number(countText);
const clkTck = Number(process.env.CLK_TCK || 100);
const chatBody = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}';
const streamBody =
    '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}';

function status(key) {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')
        .find((l) => l.startsWith(`${key}:`));
    return Number(line.split(/\s+/)[1]) * 1024;  // kB -> bytes
}
// CPU time of every thread of the daemon, in µs: schedstat's nanoseconds where the kernel has
// them (a few thousand events cost only a few clock ticks), else utime + stime from stat.
function cpuMicros() {
    try {
        let ns = 0;
        for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
            ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
        }
        if (ns > 0) return ns / 1000;
    } catch {
        // no schedstat: fall through
    }
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clkTck;
}
const say = (key, value) => console.log(`${key}=${value}`);

// Runs task(i) for i < n with at most IN_FLIGHT unfinished at once.
async function bounded(n, inFlight, task) {
    let next = 0;
    const runners = [];
    for (let r = 0; r < Math.min(inFlight, n); r++) {
        runners.push((async () => {
            while (next < n) await task(next++);
        })());
    }
    await Promise.all(runners);
}

// One request on AGENT, the body read to its end; resolves with the status (0 on a socket error).
function chat(agent, body = chatBody) {
    return new Promise((resolve) => {
        const req = http.request({
            host: '127.0.0.1', port, path: '/sse/chat/completions', method: 'POST', agent,
            headers: { 'Content-Type': 'application/json', 'X-Bench-Gap-Ms': '0' }, timeout: 30_000,
        }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode));
            res.on('error', () => resolve(0));
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(0));
        req.end(body);
    });
}

async function idle() {
    // Few requests in flight, warm-up included: the daemon's pool of idle backend connections
    // stays at a few, so the delta is the client connections'.
    const inFlight = 4;
    await bounded(20, inFlight, () => chat(new http.Agent({ keepAlive: false })));
    await sleep(500);
    const before = status('VmRSS');
    // One agent per connection, each keeping its one socket: COUNT distinct idle connections.
    const agents = Array.from({ length: count }, () =>
        new http.Agent({ keepAlive: true, maxSockets: 1 }));
    let ok = 0;
    await bounded(count, inFlight, async (i) => {
        if ((await chat(agents[i])) === 200) ok++;
    });
    await sleep(1000);
    const after = status('VmRSS');
    say('idle_connections', ok);
    say('idle_rss_before', before);
    say('idle_rss_after', after);
    say('idle_bytes_per_connection', ok ? Math.round((after - before) / ok) : 'n/a');
    for (const agent of agents) agent.destroy();
}

async function streams() {
    const gapMs = Number(gapText);
    const holdS = Number(holdText);
    const openTimeoutS = Number(openTimeoutText);
    // Each stream outlasts the whole measurement; the client ends them all when it is done.
    const events = Math.min(100_000, Math.ceil(((openTimeoutS + holdS + 30) * 1000) / gapMs));
    for (let i = 0; i < 20; i++) await chat(new http.Agent({ keepAlive: false }), streamBody);
    await sleep(500);
    const idleRss = status('VmRSS');

    const requests = [];
    let opened = 0;
    let failed = 0;
    let received = 0;  // events on every stream, counted as "\n\n" boundaries
    const stopAt = Date.now() + openTimeoutS * 1000;
    const openOne = () => new Promise((resolve) => {
        let first = true;
        let endedInNewline = false;
        const settle = (ok) => {
            if (!first) return;
            first = false;
            if (ok) opened++; else failed++;
            resolve();
        };
        const req = http.request({
            host: '127.0.0.1', port, path: '/sse/chat/completions', method: 'POST', agent: false,
            headers: {
                'Content-Type': 'application/json',
                'X-Bench-Gap-Ms': String(gapMs),
                'X-Bench-Events': String(events),
            },
        }, (res) => {
            if (res.statusCode !== 200) {
                res.resume();
                settle(false);
                return;
            }
            res.on('data', (chunk) => {
                let n = endedInNewline && chunk[0] === 10 ? 1 : 0;
                for (let at = chunk.indexOf('\n\n'); at >= 0; at = chunk.indexOf('\n\n', at + 2)) n++;
                endedInNewline = chunk[chunk.length - 1] === 10;
                received += n;
                if (n > 0) settle(true);
            });
            res.on('error', () => settle(false));
        });
        req.on('error', () => settle(false));
        req.end(streamBody);
        requests.push(req);
    });
    const openStart = Date.now();
    await bounded(count, kInFlight, async () => {
        if (Date.now() < stopAt) await Promise.race([openOne(), sleep(stopAt - Date.now())]);
    });
    say('streams_opened', opened);
    say('streams_failed', failed);
    say('open_seconds', ((Date.now() - openStart) / 1000).toFixed(1));

    await sleep(gapMs);  // every stream past its first event and into its steady state
    const openRss = status('VmRSS');
    const cpu0 = cpuMicros();
    const events0 = received;
    const t0 = Date.now();
    await sleep(holdS * 1000);
    const cpu1 = cpuMicros();
    const events1 = received;
    const seconds = (Date.now() - t0) / 1000;
    const rss = Math.max(openRss, status('VmRSS'));
    say('rss_idle', idleRss);
    say('rss_open', rss);
    say('rss_peak', status('VmHWM'));
    say('bytes_per_stream', opened ? Math.round((rss - idleRss) / opened) : 'n/a');
    say('events_per_second', Math.round((events1 - events0) / seconds));
    say('cpu_us_per_event', ((cpu1 - cpu0) / Math.max(1, events1 - events0)).toFixed(2));
    say('cpu_seconds', ((cpu1 - cpu0) / 1e6).toFixed(3));
    for (const req of requests) req.destroy();
}

if (!(port > 0 && pid > 0 && count > 0)) {
    console.error('usage: streams_client.mjs idle|streams PORT PID COUNT [GAP_MS HOLD_S OPEN_TIMEOUT_S]');
    process.exit(2);
}
if (mode === 'idle') {
    await idle();
} else if (mode === 'streams' && Number(gapText) > 0 && Number(holdText) > 0 &&
           Number(openTimeoutText) > 0) {
    await streams();
} else {
    console.error('streams_client.mjs: bad mode or arguments');
    process.exit(2);
}
process.exit(0);
