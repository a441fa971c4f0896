// The operator side: the config file (and its SIGHUP reloads), and random Admin API writes
// against a model of what the store must hold. Every acknowledged (2xx) write updates the
// model; a write whose answer was lost makes that object "unknown" until it is read back.

import fs from "node:fs";
import { request, sleep, waitFor, parseMetrics } from "./lib.mjs";

export const ADMIN_KEY = "chaos-admin-key-0123456789";

// --- the config file ---------------------------------------------------------------------------

// Small timeouts so that failures resolve within a round: ejections last 1-2 s, idle pooled
// connections close after 2-4 s, a hung node costs an attempt its ai-proxy timeout (1-1.5 s).
const passive = {
    cooldown: 1, max_cooldown: 2, healthy: { successes: 1 },
    unhealthy: { http_statuses: [429, 500, 503], http_failures: 3, tcp_failures: 2, timeouts: 3 },
};
const timeout = { connect: 1, send: 5, read: 30 };

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
export function baseConfig({ dataDir, accessLog, fleet, maxHeaderBytes }) {
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
        storage: { data_dir: dataDir },
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

// --- Admin API writes --------------------------------------------------------------------------

// JSON merge patch (RFC 7396), as the daemon applies it.
function mergePatch(target, patch) {
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return structuredClone(patch);
    const out = target && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
    for (const [key, value] of Object.entries(patch)) {
        if (value === null) delete out[key];
        else out[key] = mergePatch(out[key], value);
    }
    return out;
}

function normalizeNodes(nodes) {
    if (Array.isArray(nodes)) {
        return nodes.map((n) => `${n.host}:${n.port ?? 80}=${n.weight ?? 1}/${n.priority ?? 0}`)
            .sort().join(",");
    }
    return Object.entries(nodes ?? {}).map(([a, w]) => `${a}=${w}/0`).sort().join(",");
}

// The fields a GET must give back as they were written.
export function essentials(resource, value) {
    if (resource === "upstreams") {
        return {
            nodes: normalizeNodes(value.nodes), type: value.type ?? "roundrobin",
            hash_on: value.hash_on ?? "", key: value.key ?? "",
            idle_timeout: value.keepalive_pool?.idle_timeout ?? null,
        };
    }
    if (resource === "routes") {
        const ai = value.plugins?.["ai-proxy"] ?? {};
        return {
            uri: value.uri, upstream_id: ai.upstream_id, fallback: ai.upstream_fallback_id ?? "",
            retry: ai.retry ?? null, timeout: ai.timeout ?? null,
            plugins: Object.keys(value.plugins ?? {}).sort().join(","),
            limit_count: value.plugins?.["limit-count"]?.count ?? null,
        };
    }
    return { username: value.username, labels: JSON.stringify(value.labels ?? {}), group: value.group_id ?? "" };
}

function nested(depth, open, close, leaf = "1") {
    return open.repeat(depth) + leaf + close.repeat(depth);
}

const TYPES = ["roundrobin", "least_conn", "ewma"];

export class AdminOperator {
    constructor(ctx, rng) {
        this.ctx = ctx;
        this.stream = rng;
        this.rng = rng;  // the current step's fork of the stream
        const ids = (n, prefix) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
        this.ids = {
            upstreams: ids(ctx.adminUpstreams, "a-u"),
            routes: ids(ctx.adminRoutes, "a-r"),
            consumers: ids(ctx.consumers, "c"),
        };
        this.model = new Map();  // "resource/id" -> {state: present | absent | unknown, value}
        for (const [res, list] of Object.entries(this.ids)) {
            for (const id of list) this.model.set(`${res}/${id}`, { state: "absent" });
        }
        this.recent = [];
    }

    call(method, path, body) {
        return request(this.ctx.daemon.adminPort, method, path, {
            headers: { "X-API-KEY": ADMIN_KEY, "Content-Type": "application/json" },
            body, timeoutMs: 10000 * this.ctx.scale,
        });
    }

    note(text) {
        this.recent.push(`${new Date().toISOString().slice(11, 23)} ${text}`);
        if (this.recent.length > 12) this.recent.shift();
        this.ctx.log(`admin: ${text}`);
    }

    upstreamValue() {
        const { rng, ctx } = this;
        const mocks = rng.subset(ctx.fleet.mocks, 1, 3);
        const type = rng.pick([...TYPES, "chash"]);
        const unhealthy = { ...passive.unhealthy, tcp_failures: rng.int(1, 3), timeouts: rng.int(1, 3) };
        const value = {
            type, timeout,
            keepalive_pool: { size: rng.int(1, 8), idle_timeout: rng.int(2, 4), requests: rng.int(5, 100) },
            checks: { passive: { ...passive, unhealthy } },
        };
        if (rng.chance(0.3)) {
            value.nodes = mocks.map((m) => ({
                host: "127.0.0.1", port: m.port, weight: rng.int(1, 5), priority: rng.chance(0.2) ? 1 : 0,
            }));
        } else {
            value.nodes = Object.fromEntries(mocks.map((m) => [m.address, rng.int(0, 5)]));
            if (Object.values(value.nodes).every((w) => w === 0)) value.nodes[mocks[0].address] = 1;
        }
        if (type === "chash") {
            Object.assign(value, rng.chance(0.5) ? { hash_on: "header", key: "X-User" }
                : { hash_on: "vars", key: "remote_addr" });
        }
        if (rng.chance(0.1)) {
            value.checks.active = {
                type: "http", http_path: "/v1/models", timeout: 1,
                healthy: { interval: 1, successes: 1 },
                unhealthy: { interval: 1, http_failures: 2, tcp_failures: 2, timeouts: 2 },
            };
        }
        if (rng.chance(0.2)) value.labels = { team: `t${rng.int(0, 3)}` };
        return value;
    }

    routeValue(id) {
        const rng = this.rng;
        const ai = {
            upstream_id: rng.weighted([[80, rng.pick(this.ids.upstreams)], [20, "primary"]]),
            timeout: rng.int(1000, 1500),
            retry: rng.int(0, 3),
        };
        const fallback = rng.weighted([[40, "fallback"], [30, rng.pick(this.ids.upstreams)], [30, null]]);
        if (fallback && fallback !== ai.upstream_id) ai.upstream_fallback_id = fallback;
        const value = { uri: `/adm${id.slice(3)}/*`, plugins: { "ai-proxy": ai } };
        if (rng.chance(0.2)) {
            value.plugins["limit-count"] = {
                count: rng.int(5, 50), time_window: rng.int(1, 3), key_type: "var", key: "remote_addr",
                rejected_code: 503,
            };
        }
        if (rng.chance(0.15)) value.plugins["key-auth"] = {};
        if (rng.chance(0.1)) value.max_concurrent = { limit: rng.int(2, 8), queue: rng.int(0, 8), queue_timeout: 1 };
        if (rng.chance(0.2)) value.labels = { owner: `o${rng.int(0, 3)}` };
        if (rng.chance(0.1)) value.priority = rng.int(0, 5);
        return value;
    }

    consumerValue(id) {
        const value = { username: id, plugins: { "key-auth": { key: `chaos-key-${id}` } } };
        if (this.rng.chance(0.5)) value.labels = { n: `${this.rng.int(0, 9)}` };
        return value;
    }

    // A PATCH for an object in the model: [url suffix, body, expected value or undefined].
    patchFor(res, model) {
        const rng = this.rng;
        if (model.state !== "present") return ["", { labels: { p: "1" } }, undefined];  // 404, or unknown
        const value = model.value;
        if (res === "upstreams") {
            const which = rng.pick(["type", "nodes", "pool", "subpath"]);
            if (which === "type") return ["", { type: rng.pick(TYPES) }];
            if (which === "pool") return ["", { keepalive_pool: { idle_timeout: rng.int(2, 4) } }];
            if (which === "subpath") {
                const type = rng.pick(TYPES);
                return ["/type", JSON.stringify(type), { ...value, type }];
            }
            const mock = rng.pick(this.ctx.fleet.mocks);
            return ["", Array.isArray(value.nodes)
                ? { nodes: [{ host: "127.0.0.1", port: mock.port, weight: rng.int(1, 3) }] }
                : { nodes: { [mock.address]: rng.chance(0.3) ? null : rng.int(1, 5) } }];
        }
        if (res === "routes") {
            const which = rng.pick(["retry", "timeout", "limit", "upstream"]);
            if (which === "retry") {
                const retry = rng.int(0, 3);
                const expected = structuredClone(value);
                expected.plugins["ai-proxy"].retry = retry;
                return ["/plugins/ai-proxy/retry", JSON.stringify(retry), expected];
            }
            if (which === "timeout") return ["", { plugins: { "ai-proxy": { timeout: rng.int(1000, 1500) } } }];
            if (which === "upstream") {
                return ["", { plugins: { "ai-proxy": { upstream_id: rng.pick(this.ids.upstreams) } } }];
            }
            const limit = rng.chance(0.5) ? null : { count: rng.int(5, 50), time_window: 2, key: "remote_addr" };
            return ["", { plugins: { "limit-count": limit } }];
        }
        return ["", { labels: { n: `${rng.int(0, 9)}` } }];
    }

    // One random Admin API call; returns once its answer (or its loss) is accounted for.
    async step() {
        const rng = (this.rng = this.stream.fork());
        const res = rng.weighted([[45, "upstreams"], [40, "routes"], [15, "consumers"]]);
        const id = rng.pick(this.ids[res]);
        const key = `${res}/${id}`;
        const path = `/apisix/admin/${res}/${id}`;
        const model = this.model.get(key);
        const action = rng.weighted([[35, "put"], [30, "patch"], [15, "delete"], [12, "hostile"], [8, "get"]]);
        if (action === "hostile") return this.hostile(res, id, path);
        if (action === "get") {
            const got = await this.call("GET", path);
            this.note(`GET ${path} -> ${got.status ?? got.error}`);
            return;
        }
        let method;
        let url = path;
        let body;
        let expected;
        if (action === "put") {
            method = "PUT";
            body = res === "upstreams" ? this.upstreamValue()
                : res === "routes" ? this.routeValue(id) : this.consumerValue(id);
            expected = body;
        } else if (action === "delete") {
            method = "DELETE";
            if (res === "upstreams" && rng.chance(0.3)) url += "?force=true";
        } else {
            method = "PATCH";
            let suffix;
            [suffix, body, expected] = this.patchFor(res, model);
            url += suffix;
            if (model.state === "present") expected ??= mergePatch(model.value, body);
        }
        const got = await this.call(method, url, body);
        const why = got.status >= 400 ? ` ${got.text.slice(0, 160)}` : "";
        this.note(`${method} ${url} -> ${got.status ?? got.error}${why}`);
        this.account(key, method, got, expected);
    }

    account(key, method, got, expected) {
        const counts = this.ctx.counts;
        if (got.status >= 200 && got.status < 300) {
            counts.adminOk++;
            if (method === "DELETE") this.model.set(key, { state: "absent" });
            else if (expected === undefined) this.model.set(key, { state: "unknown" });
            else this.model.set(key, { state: "present", value: expected });
        } else if (got.status >= 400 && got.status < 500) {
            counts.adminRejected++;
        } else if (got.error === "ECONNREFUSED") {
            counts.adminLost++;  // never reached the daemon: nothing changed
        } else {
            counts.adminLost++;
            this.model.set(key, { state: "unknown" });
            if (got.status >= 500) {
                this.ctx.violation(`Admin API ${method} /${key} answered ${got.status}: ${got.text.slice(0, 300)}`,
                    { recent_admin: this.recent.join("\n") });
            }
        }
    }

    hostileBodies(res, id, path) {
        const rng = this.rng;
        const depth = rng.pick([1000, 20000, 100000, 400000]);
        const nodes = `{"${this.ctx.fleet.mocks[0].address}": 1}`;
        const deepArray = nested(depth, "[", "]");
        const deepObject = nested(depth, '{"a":', "}");
        const route = '"uri":"/adm0/*","plugins":{"ai-proxy":{"upstream_id":"primary","timeout":1200}}';
        const withLabels = (labels) => (res === "consumers" ? `{"username":"${id}","labels":${labels}}`
            : res === "routes" ? `{${route},"labels":${labels}}` : `{"nodes":${nodes},"labels":${labels}}`);
        return {
            deep_labels_array: () => ["PUT", path, withLabels(`{"x":${deepArray}}`)],
            deep_labels_object: () => ["PUT", path, withLabels(deepObject)],
            deep_body: () => ["PUT", path, deepArray],
            deep_patch: () => ["PATCH", path, `{"labels":${deepObject}}`],
            wrong_types: () => ["PUT", path, rng.pick([
                '{"nodes":"abc"}', '{"nodes":{"127.0.0.1:1":-1}}', '{"nodes":{"127.0.0.1:1":1e30}}',
                '{"nodes":[{"port":"x"}]}', '{"uri":42,"plugins":{"ai-proxy":{"upstream_id":"primary"}}}',
                '{"uri":"/adm0/*","plugins":{"ai-proxy":{"upstream_id":"primary","retry":"three"}}}',
                '{"uri":"/adm0/*","plugins":{"ai-proxy":{"upstream_id":["primary"]}}}',
                '{"uri":"/adm0/*","plugins":{"ai-proxy":{"upstream_id":"primary","timeout":-5}}}',
                '{"username":5,"plugins":{"key-auth":{"key":["k"]}}}', `{"type":"chash","nodes":${nodes}}`,
                `{"nodes":${nodes},"type":"bogus"}`,
                `{"nodes":${nodes},"keepalive_pool":{"idle_timeout":"soon"}}`,
            ])],
            not_json: () => ["PUT", path, rng.pick(['{"nodes":', "\u0000\u00ff", "[1,2,3]", "null", '"text"', "{}}"])],
            bad_patch: () => ["PATCH", path, rng.pick(["[1,2]", '{"id":"other"}', '{"create_time":1}', "{"])],
            bad_subpath: () => ["PATCH", `${path}/plugins//retry`, "1"],
            bad_id: () => ["PUT",
                `/apisix/admin/${res}/${rng.pick(["a".repeat(65), "bad%20id", "x%00y", "..%2F..%2Fetc"])}`,
                `{"nodes":${nodes}}`],
            huge: () => ["PUT", path, `{"nodes":${nodes},"labels":{"x":"${"x".repeat(1600 * 1024)}"}}`],
        };
    }

    // Invalid or hostile bodies: must be refused with a 4xx, change nothing, and never kill the
    // process.
    async hostile(res, id, path) {
        const ctx = this.ctx;
        const kinds = this.hostileBodies(res, id, path);
        const kind = this.rng.pick(Object.keys(kinds));
        const [method, url, body] = kinds[kind]();
        const got = await this.call(method, url, body);
        this.note(`hostile ${kind} ${method} ${url.slice(0, 80)} (${body.length} bytes) -> ${got.status ?? got.error}`);
        ctx.counts.adminHostile++;
        if (got.status >= 400 && got.status < 500) {
            ctx.counts.adminRejected++;
            return;
        }
        if (got.status >= 200 && got.status < 300) {
            ctx.counts.adminOk++;
            ctx.violation(`hostile Admin API body (${kind}, ${body.length} bytes) accepted: ` +
                `${method} ${url} -> ${got.status}`, { answer: got.text.slice(0, 300) });
            this.model.set(`${res}/${id}`, { state: "unknown" });
            return;
        }
        ctx.counts.adminLost++;
        if (got.error === "ECONNREFUSED") return;  // never reached the daemon
        this.model.set(`${res}/${id}`, { state: "unknown" });
        if (got.status) {
            ctx.violation(`hostile Admin API body (${kind}) answered ${got.status}`, { answer: got.text.slice(0, 300) });
        } else if (ctx.daemon.alive && !ctx.excusedAt(Date.now())) {
            // No answer from a live daemon (a dead one is reported by the crash watcher).
            ctx.violation(`hostile Admin API body (${kind}, ${body.length} bytes) got no answer: ${got.error}`);
        }
    }

    // Reads every object back: known ones must match the model, unknown ones join it.
    // Returns the number of objects compared.
    async verify(label) {
        let checked = 0;
        for (const [key, model] of this.model) {
            const got = await this.call("GET", `/apisix/admin/${key}`);
            if (got.error) {
                this.ctx.violation(`${label}: GET /${key} failed: ${got.error}`);
                continue;
            }
            if (model.state === "unknown") {
                this.model.set(key, got.status === 200 ? { state: "present", value: got.json.value }
                    : { state: "absent" });
                continue;
            }
            checked++;
            if (model.state === "absent") {
                if (got.status !== 404) {
                    this.ctx.violation(`${label}: /${key} was deleted (or never written), but GET ` +
                        `answers ${got.status}`, { value: got.text.slice(0, 300) });
                }
                continue;
            }
            if (got.status !== 200) {
                this.ctx.violation(`${label}: acknowledged write of /${key} lost: GET answers ${got.status}`,
                    { expected: JSON.stringify(model.value).slice(0, 300) });
                continue;
            }
            const [res] = key.split("/");
            const want = JSON.stringify(essentials(res, model.value));
            const have = JSON.stringify(essentials(res, got.json.value));
            if (want !== have) {
                this.ctx.violation(`${label}: /${key} differs from its last acknowledged write`, { want, have });
            }
        }
        return checked;
    }
}

export async function runAdmin(ctx, operator, shouldStop) {
    for (let i = 0; i < 100000 && !shouldStop(); i++) {
        const release = await ctx.adminLock.acquire();
        try {
            await operator.step();
        } finally {
            release();
        }
        await sleep(operator.rng.int(50, 350));  // from the step's fork: the stream stays aligned
    }
}
