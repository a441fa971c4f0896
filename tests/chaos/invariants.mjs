// The checks made while no load runs (between rounds and at the end): pooled connections and
// file descriptors back to their baseline, no thread spinning, RSS not growing; and the final
// ones: healed nodes healthy again within their cooldown, client cancels never counted as node
// failures. Every wait polls for its condition, with a bound.

import { request, parseMetrics, rawRequest, sleep, waitFor, fmtMs } from "./lib.mjs";
import { clockTicks } from "./daemon.mjs";
import { exchange } from "./clients.mjs";
import { ADMIN_KEY } from "./operators.mjs";

export const FD_SLACK = 8;
export const SPIN_LIMIT = 0.10;  // of one core, with no load

export async function metrics(ctx) {
    const res = await request(ctx.daemon.statusPort, "GET", "/metrics", { timeoutMs: 5000 * ctx.scale });
    return res.status === 200 ? parseMetrics(res.text) : null;
}

function pools(m) {
    return {
        idle: m.get('aiproxy_upstream_connections{state="idle"}') ?? 0,
        active: m.get('aiproxy_upstream_connections{state="active"}') ?? 0,
    };
}

const mib = (kb) => `${(kb / 1024).toFixed(1)} MiB`;

// Taken once, after the first start and before any load.
export async function takeBaseline(ctx) {
    const d = ctx.daemon;
    // The fd count settles once every worker has set up: wait until it holds still for 500 ms.
    let last = -1;
    await waitFor(() => {
        const n = d.fdCount();
        const stable = n === last;
        last = n;
        return stable;
    }, { timeoutMs: 5000, intervalMs: 500 });
    const m = await metrics(ctx);
    ctx.baseline = { fds: d.fdCount(), fdSummary: d.fdSummary(), ...pools(m), rssKb: d.rssKb() };
    ctx.log(`baseline: ${JSON.stringify(ctx.baseline)}`);
}

export async function quietChecks(ctx, label) {
    const d = ctx.daemon;
    if (!d.alive) return;
    const base = ctx.baseline;
    const started = Date.now();
    // 1. Pooled upstream connections: idle ones close after keepalive_pool.idle_timeout.
    let last = null;
    const poolOk = await waitFor(async () => {
        const m = await metrics(ctx);
        if (!m) return false;
        last = pools(m);
        return last.idle <= base.idle && last.active <= base.active;
    }, { timeoutMs: (ctx.maxIdleTimeoutS + 10) * 1000 * ctx.scale, intervalMs: 250 });
    if (!poolOk && d.alive) {
        ctx.violation(`${label}: upstream connections did not return to baseline`, {
            idle: `${last?.idle} (baseline ${base.idle})`,
            active: `${last?.active} (baseline ${base.active})`,
            waited: fmtMs(Date.now() - started),
            note: `keepalive_pool.idle_timeout is at most ${ctx.maxIdleTimeoutS} s`,
        });
    }
    // 2. File descriptors.
    let fds = 0;
    const fdOk = await waitFor(() => (fds = d.fdCount()) <= base.fds + FD_SLACK,
        { timeoutMs: 10000 * ctx.scale, intervalMs: 250 });
    if (!fdOk && d.alive) {
        ctx.violation(`${label}: open file descriptors did not return to baseline`, {
            fds: `${fds} (baseline ${base.fds}, slack ${FD_SLACK})`,
            now: d.fdSummary(),
            baseline: base.fdSummary,
        });
    }
    // 3. No thread spins: CPU time over 2 s, up to three samples.
    let sample = null;
    for (let i = 0; i < 3 && d.alive; i++) {
        sample = await cpuSample(d, 2000);
        if (sample.share < SPIN_LIMIT) break;
    }
    if (sample && sample.share >= SPIN_LIMIT && d.alive) {
        const share = (sample.share * 100).toFixed(0);
        ctx.violation(`${label}: aiproxyd busy with no load: ${share}% of a core over 2 s (3 samples)`,
            { busiest_threads: sample.threads });
    }
    // 4. RSS, compared at the end.
    const rss = d.rssKb();
    ctx.rss.push({ pid: d.pid, label, kb: rss });
    const cpu = sample ? `${(sample.share * 100).toFixed(1)}%` : "?";
    ctx.log(`${label}: quiet checks in ${fmtMs(Date.now() - started)}: pools ${JSON.stringify(last)}, ` +
        `fds ${fds}, cpu ${cpu}, rss ${mib(rss)}`);
}

async function cpuSample(d, ms) {
    const a = d.cpuTicks();
    const t0 = Date.now();
    await sleep(ms);  // a measurement interval, not a wait for a condition
    const b = d.cpuTicks();
    const seconds = (Date.now() - t0) / 1000;
    const share = (b.total - a.total) / clockTicks / seconds;
    const threads = Object.entries(b.threads)
        .map(([t, v]) => [t, (v - (a.threads[t] ?? v)) / clockTicks / seconds])
        .sort((x, y) => y[1] - x[1]).slice(0, 4)
        .map(([t, s]) => `${t} ${(s * 100).toFixed(0)}%`).join(", ");
    return { share, threads };
}

// RSS must stop growing: among the last process's samples, the last one may exceed the largest
// of the first half by the tolerance only.
export function checkRss(ctx) {
    const samples = ctx.rss.filter((s) => s.pid === ctx.daemon.pid);
    if (samples.length < 3) {
        ctx.log(`rss: ${samples.length} sample(s) of the last process, too few for a trend`);
        return;
    }
    const ref = Math.max(...samples.slice(0, Math.ceil(samples.length / 2)).map((s) => s.kb));
    const last = samples[samples.length - 1].kb;
    const tolerance = ctx.daemon.asan ? 0.5 : 0.25;
    const slackKb = (ctx.daemon.asan ? 128 : 24) * 1024;
    const limit = ref * (1 + tolerance) + slackKb;
    ctx.log(`rss: reference ${mib(ref)}, last ${mib(last)}, limit ${mib(limit)}`);
    if (last > limit) {
        ctx.violation(`RSS keeps growing: ${mib(last)} at the end, ${mib(ref)} earlier (limit ${mib(limit)})`,
            { samples: samples.map((s) => `${s.label}=${mib(s.kb)}`).join(", ") });
    }
}

// --- health ------------------------------------------------------------------------------------

async function health(ctx, upstream) {
    const res = await request(ctx.daemon.adminPort, "GET", `/apisix/admin/upstreams/${upstream}/health`,
        { headers: { "X-API-KEY": ADMIN_KEY }, timeoutMs: 5000 * ctx.scale });
    return res.status === 200 ? res.json : null;
}

function chatBytes(rid, path, { stream = false, tokens = 2, user = "u0" } = {}) {
    const body = JSON.stringify({
        model: "chaos-model", messages: [{ role: "user", content: "x" }], max_tokens: tokens, stream,
    });
    const headers = [["Content-Type", "application/json"], ["X-Request-Id", rid], ["X-User", user],
        ["Connection", "close"]];
    return rawRequest("POST", path, headers, body);
}

// One chat request that waits for its answer, whatever it is.
async function poke(ctx, path, rid, user) {
    const requests = [{ rid, bytes: chatBytes(rid, path, { user }) }];
    await exchange(ctx.daemon.port, { requests, deadlineMs: ctx.requestDeadlineMs });
}

// The routes to send healing traffic through and the upstreams behind them: the file's primary
// and fallback, and admin routes without key-auth or limits whose upstream is not chash (a hash
// may never pick a node). A route whose admin fallback upstream was deleted with ?force=true is
// left out of the daemon's config (it cannot serve), so it carries no traffic either.
function healTargets(operator) {
    const targets = [
        { path: "/llm/chat/completions", upstream: "primary" },
        { path: "/fb/chat/completions", upstream: "fallback" },
    ];
    for (const [key, model] of operator.model) {
        if (!key.startsWith("routes/") || model.state !== "present") continue;
        const plugins = model.value.plugins ?? {};
        const upstream = plugins["ai-proxy"]?.upstream_id;
        const up = operator.model.get(`upstreams/${upstream}`);
        const fallback = plugins["ai-proxy"]?.upstream_fallback_id;
        const fallbackGone = fallback?.startsWith("a-u") &&
            operator.model.get(`upstreams/${fallback}`)?.state !== "present";
        if (plugins["key-auth"] || plugins["limit-count"] || up?.state !== "present" || fallbackGone) continue;
        if ((up.value.type ?? "roundrobin") === "chash") continue;
        targets.push({ path: model.value.uri.replace("*", "chat/completions"), upstream });
    }
    return targets;
}

// Nodes of weight 0, and nodes below the top priority, get no traffic while the others are
// healthy: they are not expected to leave half-open.
function reachable(node, nodes) {
    const top = Math.max(...nodes.filter((n) => n.weight > 0).map((n) => n.priority));
    return node.weight > 0 && node.priority === top;
}

// All backends healthy again: within max_cooldown (2 s) plus a half-open trial, every node the
// traffic can reach must be healthy. Bounded by a generous multiple.
export async function healAndCheck(ctx, operator) {
    await ctx.fleet.allHealthy();
    const healedAt = Date.now();
    const targets = healTargets(operator);
    const upstreams = [...new Set(targets.map((t) => t.upstream))];
    const limitMs = (2 + 8) * 1000 * ctx.scale;
    let bad = [];
    let round = 0;
    for (;;) {
        for (const t of targets) {
            for (let i = 0; i < 3; i++) {
                await poke(ctx, t.path, `${ctx.runTag}-heal-${round}-${i}-${t.upstream}`, `u${i}`);
            }
        }
        bad = [];
        for (const id of upstreams) {
            const h = await health(ctx, id);
            for (const node of h?.nodes ?? []) {  // an upstream deleted meanwhile: nothing to judge
                if (reachable(node, h.nodes) && node.state !== "healthy") {
                    bad.push(`${id} ${node.address} ${node.state} (last_error ${node.last_error}, ` +
                        `ejection_remaining_ms ${node.ejection_remaining_ms}, ejections ${node.ejections})`);
                }
            }
        }
        round++;
        if (!bad.length || Date.now() - healedAt > limitMs || !ctx.daemon.alive) break;
        await sleep(250);  // pacing between healing rounds
    }
    const took = fmtMs(Date.now() - healedAt);
    ctx.log(`heal: ${targets.length} route(s), ${upstreams.length} upstream(s), ${round} round(s), ${took}`);
    if (bad.length && ctx.daemon.alive) {
        ctx.violation(`nodes not healthy ${took} after every backend healed (max_cooldown 2 s)`,
            { nodes: bad.join("\n") });
    }
    return !bad.length;
}

// Client cancels are never a node's failure: with every node of "primary" healthy but slow,
// cancel requests before their answer and in mid-stream; no node may be ejected or count a
// failure.
export async function cancelProbe(ctx, rng) {
    const before = await health(ctx, "primary");
    if (!before) return;
    let n = 0;
    const wave = (make) => Promise.all(Array.from({ length: 6 }, make));
    const cancelled = (stream, tokens, cancel) => {
        const rid = `${ctx.runTag}-probe-${++n}`;
        const requests = [{ rid, bytes: chatBytes(rid, "/llm/chat/completions", { stream, tokens }) }];
        return exchange(ctx.daemon.port, { requests, cancel, deadlineMs: ctx.requestDeadlineMs });
    };
    const primaryMocks = ctx.fleet.mocks.slice(0, 3);
    for (const m of primaryMocks) await m.setMode("slow_first_byte", { delayMs: 600 });
    for (let i = 0; i < 3; i++) {
        await wave(() => cancelled(rng.chance(0.5), 3, { mode: "before-headers", afterMs: rng.int(100, 300) }));
    }
    for (const m of primaryMocks) await m.setMode("slow_stream");
    for (let i = 0; i < 3; i++) {
        await wave(() => cancelled(true, 40, { mode: "mid-body", afterBytes: rng.int(200, 1500) }));
    }
    // The gateway notices the cancels asynchronously: wait until nothing is in flight.
    let after = null;
    await waitFor(async () => {
        after = await health(ctx, "primary");
        return after && after.nodes.every((node) => node.in_flight === 0);
    }, { timeoutMs: 10000 * ctx.scale, intervalMs: 200 });
    await ctx.fleet.allHealthy();
    if (!after || !ctx.daemon.alive) return;
    const problems = [];
    for (const node of after.nodes) {
        const old = before.nodes.find((x) => x.address === node.address);
        if (node.state !== "healthy" || node.ejections !== old?.ejections ||
            node.consecutive_failures > (old?.consecutive_failures ?? 0)) {
            problems.push(`${node.address}: state ${node.state}, ejections ${old?.ejections} -> ` +
                `${node.ejections}, consecutive_failures ${node.consecutive_failures}, last_error ${node.last_error}`);
        }
    }
    ctx.log(`cancel probe: ${n} cancelled requests, ${problems.length} node(s) affected`);
    if (problems.length) {
        ctx.violation(`client cancels counted as node failures (${n} cancels against healthy, slow ` +
            'nodes of "primary")', { nodes: problems.join("\n") });
    }
}

// Continuous: the status endpoint answers (outside restart windows).
export async function runWatchdog(ctx, shouldStop) {
    let failures = 0;
    for (let i = 0; i < 100000 && !shouldStop(); i++) {
        await sleep(2000);
        if (!ctx.daemon.alive || ctx.excusedAt(Date.now())) continue;
        const res = await request(ctx.daemon.statusPort, "GET", "/healthz", { timeoutMs: 5000 * ctx.scale });
        if (res.status === 200) {
            failures = 0;
        } else if (++failures >= 3 && ctx.daemon.alive && !ctx.excusedAt(Date.now())) {
            ctx.violation(`status /healthz failed 3 times in a row: ${res.status ?? res.error}`);
            failures = 0;
        }
    }
}
