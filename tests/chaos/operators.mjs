// The operator side: random Admin API writes against a model of what the store must hold
// (the config file and its reloads are in config_file.mjs). Every acknowledged (2xx) write
// updates the model; a write whose answer was lost makes that object "unknown" until it is read
// back. With the etcd store (etcd.mjs), each write goes to either node, and a 503 while etcd is
// down leaves the object "either" as it was or as written, in full, never anything else.

import { request, sleep } from "./lib.mjs";
import { ADMIN_KEY, passive, timeout } from "./config_file.mjs";

export { ADMIN_KEY };

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

    // node: the daemon to ask (default: the step's node; ctx.daemon with the file store).
    call(method, path, body, node = this.node ?? this.ctx.daemon) {
        return request(node.adminPort, method, path, {
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
        const cluster = this.ctx.cluster;
        this.node = cluster ? rng.pick(cluster.nodes) : this.ctx.daemon;
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
        const on = cluster ? ` on ${this.node.name}` : "";
        this.note(`${method} ${url}${on} -> ${got.status ?? got.error}${why}`);
        this.account(key, method, got, expected);
        if (cluster && got.status >= 200 && got.status < 300) {
            await cluster.checkPropagation(`/apisix/admin/${key}`, method, got, this.node);
        }
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
        } else if (got.status === 503 && this.ctx.cluster?.storeOutage(got, `${method} /${key}`)) {
            // etcd is down: stored as before, or (when the answer says it may be) as written.
            counts.adminUnavailable++;
            const before = this.model.get(key);
            const after = method === "DELETE" ? { state: "absent" }
                : expected === undefined ? { state: "unknown" } : { state: "present", value: expected };
            const maybe = /may or may not be stored/.test(got.text);
            const options = before.state === "either" ? [...before.options, after] : [before, after];
            if (maybe) this.model.set(key, { state: "either", options });
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
    // An "either" object (a 503 while etcd was down) must be one of its options, in full.
    async verify(label, node = this.ctx.daemon) {
        let checked = 0;
        for (const [key, entry] of this.model) {
            let model = entry;
            const got = await this.call("GET", `/apisix/admin/${key}`, undefined, node);
            if (got.error) {
                this.ctx.violation(`${label}: GET /${key} failed: ${got.error}`);
                continue;
            }
            if (model.state === "either") {
                const [res] = key.split("/");
                const match = model.options.find((o) => o.state === "unknown" ||
                    (o.state === "absent" ? got.status === 404 : got.status === 200 &&
                        JSON.stringify(essentials(res, o.value)) === JSON.stringify(essentials(res, got.json.value))));
                this.ctx.cluster.stats.resolved[match ? "ok" : "bad"]++;
                if (!match) {
                    this.ctx.violation(`${label}: /${key} half-written: a write answered 503 while etcd was ` +
                        "down left it neither as it was nor as written", {
                        options: model.options.map((o) => JSON.stringify(o).slice(0, 300)).join("\n"),
                        have: `${got.status} ${got.text.slice(0, 300)}`,
                    });
                    model = { state: "unknown" };
                } else {
                    model = match;
                }
                this.model.set(key, model);
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
