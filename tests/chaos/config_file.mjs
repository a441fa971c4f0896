// The config file of the chaos run: its contents (small timeouts so that failures resolve
// within a round) and the SIGHUP reloads that change it, now and then to a broken file.

import fs from "node:fs";
import { request, sleep, waitFor, parseMetrics } from "./lib.mjs";

export const ADMIN_KEY = "chaos-admin-key-0123456789";

// --- the config file ---------------------------------------------------------------------------

// Small timeouts so that failures resolve within a round: ejections last 1-2 s, idle pooled
// connections close after 2-4 s, a hung node costs an attempt its ai-proxy timeout (1-1.5 s).
export const passive = {
    cooldown: 1, max_cooldown: 2, healthy: { successes: 1 },
    unhealthy: { http_statuses: [429, 500, 503], http_failures: 3, tcp_failures: 2, timeouts: 3 },
};
export const timeout = { connect: 1, send: 5, read: 30 };

export function fileUpstream(id, mocks, extra = {}) {
    return {
        id,
        nodes: Object.fromEntries(mocks.map((m) => [m.address, 1])),
        type: "roundrobin",
        timeout,
        keepalive_pool: { size: 8, idle_timeout: 3, requests: 100 },
        checks: { passive },
        ...extra,
    };
}

function aiProxy(upstream, extra = {}) {
    return { plugins: { "ai-proxy": { upstream_id: upstream, timeout: 1200, ...extra } } };
}

// The file's part of the configuration. Admin-managed ids never collide with these.
// storage: the storage section's extra keys (the etcd mode's type: etcd).
export function baseConfig({ dataDir, accessLog, fleet, maxHeaderBytes, storage = {} }) {
    const m = fleet.mocks;
    return {
        server: {
            listen: ["127.0.0.1:0"], workers: 2, drain_timeout: 6,
            limits: {
                max_header_bytes: maxHeaderBytes, header_timeout: 5, body_timeout: 5,
                keepalive_timeout: 20, send_timeout: 10, max_connections: 4000,
            },
        },
        status: { listen: "127.0.0.1:0" },
        admin: {
            listen: "127.0.0.1:0", allow: ["127.0.0.0/8", "::1/128"],
            keys: [{ key: ADMIN_KEY, role: "admin" }],
        },
        storage: { data_dir: dataDir, ...storage },
        log: { level: "info", access_log: accessLog },
        upstreams: [
            fileUpstream("primary", [m[0], m[1], m[2]]),
            fileUpstream("fallback", [m[3], m[4]]),
            // Anthropic wire format: the gateway parses (and refuses) malformed JSON itself.
            fileUpstream("strict", [m[5]], { provider: "anthropic", scheme: "http", base_path: "/v1" }),
        ],
        routes: [
            { id: "llm", uri: "/llm/*", ...aiProxy("primary", { upstream_fallback_id: "fallback", retry: 2 }) },
            { id: "fb", uri: "/fb/*", ...aiProxy("fallback", { retry: 1 }) },
            { id: "strict", uri: "/strict/*", ...aiProxy("strict", { retry: 0 }) },
        ],
    };
}

export function writeConfig(path, config) {
    fs.writeFileSync(`${path}.tmp`, JSON.stringify(config, null, 2));
    fs.renameSync(`${path}.tmp`, path);
}

async function reloadCounts(ctx) {
    const res = await request(ctx.daemon.statusPort, "GET", "/metrics", { timeoutMs: 5000 * ctx.scale });
    if (res.status !== 200) return null;
    const m = parseMetrics(res.text);
    return {
        ok: m.get('aiproxy_config_reloads_total{result="success"}') ?? 0,
        failed: m.get('aiproxy_config_reloads_total{result="failure"}') ?? 0,
    };
}

// A changed good file: the llm route's retry and timeout, primary's weights and balancer, and
// an extra upstream and route that come and go. Returns a description.
function changeConfig(config, rng, fleet) {
    const llm = config.routes[0].plugins["ai-proxy"];
    llm.retry = rng.int(1, 3);
    llm.timeout = rng.int(1000, 1500);
    const primary = config.upstreams[0];
    for (const address of Object.keys(primary.nodes)) primary.nodes[address] = rng.int(1, 3);
    primary.type = rng.pick(["roundrobin", "least_conn", "ewma"]);
    const extra = config.upstreams.findIndex((u) => u.id === "extra");
    if (extra >= 0 && rng.chance(0.5)) {
        config.upstreams.splice(extra, 1);
        config.routes = config.routes.filter((r) => r.id !== "extra");
    } else if (extra < 0) {
        config.upstreams.push(fileUpstream("extra", [rng.pick(fleet.mocks)]));
        config.routes.push({ id: "extra", uri: "/extra/*", ...aiProxy("extra") });
    }
    const has = config.upstreams.some((u) => u.id === "extra") ? " +extra" : "";
    return `llm retry=${llm.retry} timeout=${llm.timeout}, primary ${primary.type} ` +
        `${JSON.stringify(primary.nodes)}${has}`;
}

// One reload: a changed good file, or now and then a broken one (which must be refused, the old
// config staying), then the good file back. Holds ctx.fileLock throughout, so the planned
// restart never reads a broken file.
export async function reloadOnce(ctx, rng) {
    const release = await ctx.fileLock.acquire();
    try {
        const before = await reloadCounts(ctx);
        if (!before) return;  // not answering: the crash and watchdog checks report it
        const config = ctx.fileConfig;
        const bad = rng.chance(0.15);
        let change;
        if (bad) {
            const broken = structuredClone(config);
            const how = rng.pick(["retry", "syntax", "nodes"]);
            if (how === "retry") broken.routes[0].plugins["ai-proxy"].retry = -1;
            if (how === "nodes") broken.upstreams[0].nodes = {};
            const text = JSON.stringify(broken);
            fs.writeFileSync(ctx.configPath, how === "syntax" ? text.slice(0, -7) : text);
            change = `a broken file (${how})`;
        } else {
            change = changeConfig(config, rng, ctx.fleet);
            writeConfig(ctx.configPath, config);
        }
        ctx.log(`SIGHUP: ${change}`);
        ctx.daemon.sighup();
        const field = bad ? "failed" : "ok";
        const after = await waitFor(async () => {
            const counts = await reloadCounts(ctx);
            return counts && counts[field] > before[field] ? counts : null;
        }, { timeoutMs: 10000 * ctx.scale, intervalMs: 100 });
        if (bad) writeConfig(ctx.configPath, config);
        if (!after && ctx.daemon.alive) {
            ctx.violation(`SIGHUP with ${change}: reload ${bad ? "failure" : "success"} not counted ` +
                `in aiproxy_config_reloads_total within ${10 * ctx.scale} s`);
        }
        ctx.counts.reloads++;
        if (bad) ctx.counts.reloadsRejected++;
    } finally {
        release();
    }
}

export async function runReloader(ctx, rng, shouldStop) {
    for (let i = 0; i < 1000 && !shouldStop(); i++) {
        const step = rng.fork();
        await sleep(step.int(2000, 6000));
        if (shouldStop()) break;
        await reloadOnce(ctx, step);
    }
}
