// The etcd mode of the chaos run (CHAOS_STORE=etcd): a real etcd on a free loopback port with a
// temp data dir, two aiproxyd nodes sharing their Admin API objects through it, and outages of
// etcd (SIGKILL and a restart on the same data dir, or SIGSTOP/SIGCONT) while the rest of the run
// goes on. Invariants of this mode, beside the file store's:
// - no data-plane request fails because etcd is down: both nodes keep the last snapshot (every
//   route the model holds still matches on both nodes) and /readyz stays 200 throughout;
// - a write while etcd is down answers 503 with the reason, and leaves the object as it was,
//   or, when the answer says it may have been stored, as written, in full (never anything else);
// - aiproxy_config_store_up turns 0 on both nodes within STORE_DOWN_MS of the outage, and 1
//   within STORE_UP_MS of etcd answering again;
// - an acknowledged write on one node is served (same modifiedIndex, same content) by the other
//   within PROPAGATION_MS plus PROPAGATION_SLACK_MS; after every outage a write on each node must
//   reach the other this way.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { request, sleep, waitFor, parseMetrics, fmtMs, lock } from "./lib.mjs";
import { ADMIN_KEY } from "./config_file.mjs";
import { FD_SLACK } from "./invariants.mjs";

export const PROPAGATION_MS = 1000;       // the issue: every node applies a change within 1 s
export const PROPAGATION_SLACK_MS = 500;  // two shared cores under the run's load
export const STORE_TIMEOUT_S = 1;         // storage.etcd.timeout of both nodes
const STORE_DOWN_MS = 4000;  // the 1 s probe + its 1 s timeout + slack
const STORE_UP_MS = 5000;    // from etcd answering again: the next probe, the watch resumed

export function etcdExecutable() {
    for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/bin", "/usr/local/bin"]) {
        if (!dir) continue;
        const candidate = path.join(dir, "etcd");
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return candidate;
        } catch { /* not here */ }
    }
    return null;
}

function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

export class EtcdServer {
    constructor({ binary, dir, onCrash }) {
        this.binary = binary;
        this.dataDir = path.join(dir, "etcd-data");
        this.logPath = path.join(dir, "etcd.log");
        this.onCrash = onCrash;
        this.child = null;
        this.starts = 0;
    }

    get url() {
        return `http://127.0.0.1:${this.clientPort}`;
    }

    get alive() {
        return !!this.child && this.exit === null;
    }

    // Starts etcd (the same ports and data dir every time) and waits for /health.
    async start(timeoutMs) {
        this.clientPort ??= await freePort();
        this.peerPort ??= await freePort();
        const client = this.url;
        const peer = `http://127.0.0.1:${this.peerPort}`;
        fs.appendFileSync(this.logPath, `---- chaos: etcd start #${++this.starts}\n`);
        const log = fs.openSync(this.logPath, "a");
        this.child = spawn(this.binary, [
            "--name", "chaos", "--data-dir", this.dataDir, "--listen-client-urls", client,
            "--advertise-client-urls", client, "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer, "--initial-cluster", `chaos=${peer}`,
            "--log-level", "warn",
        ], { stdio: ["ignore", log, log] });
        fs.closeSync(log);
        this.exit = null;
        this.planned = false;
        const child = this.child;
        this.exited = new Promise((resolve) => {
            child.on("exit", (code, signal) => {
                this.exit = { code, signal };
                resolve(this.exit);
                if (!this.planned) this.onCrash(this.exit);
            });
        });
        const healthy = await waitFor(async () => {
            if (this.exit !== null) return true;
            const res = await request(this.clientPort, "GET", "/health", { timeoutMs: 1000 });
            return res.status === 200 && /"health":\s*"true"/.test(res.text);
        }, { timeoutMs, intervalMs: 50 });
        if (!healthy || this.exit !== null) {
            throw new Error(`etcd did not become healthy (exit ${JSON.stringify(this.exit)}), see ${this.logPath}`);
        }
    }

    async kill() {
        if (!this.alive) return;
        this.planned = true;
        this.child.kill("SIGKILL");
        this.child.kill("SIGCONT");  // a stopped process dies only once it runs again
        await this.exited;
    }

    pause() {
        if (this.alive) this.child.kill("SIGSTOP");
    }

    resume() {
        if (this.alive) this.child.kill("SIGCONT");
    }
}

function admin(node, method, url, body) {
    return request(node.adminPort, method, url, {
        headers: { "X-API-KEY": ADMIN_KEY, "Content-Type": "application/json" }, body, timeoutMs: 10000,
    });
}

// A chat request that only asks whether a route matched: {status} once the head arrived (a body
// cut later by a failing backend still counts: the route matched), or {error} without a head.
function routeProbe(port, target, rid, timeoutMs) {
    const body = JSON.stringify({ model: "chaos-model", messages: [{ role: "user", content: "x" }], max_tokens: 2 });
    return new Promise((resolve) => {
        let head = null;
        const req = http.request({
            host: "127.0.0.1", port, method: "POST", path: target, agent: false,
            headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "X-Request-Id": rid },
        }, (res) => {
            head = res.statusCode;
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c) => { text += c.length < 4096 ? c : ""; });
            const done = () => { clearTimeout(timer); resolve({ status: res.statusCode, text }); };
            res.on("end", done);
            res.on("error", done);
        });
        const timer = setTimeout(() => req.destroy(new Error("timeout")), timeoutMs);
        req.on("error", (e) => {
            clearTimeout(timer);
            resolve(head === null ? { error: e.code ?? e.message } : { status: head, text: "" });
        });
        req.end(body);
    });
}

async function storeUp(node) {
    const res = await request(node.statusPort, "GET", "/metrics", { timeoutMs: 5000 });
    return res.status === 200 ? parseMetrics(res.text).get("aiproxy_config_store_up") : undefined;
}

const percentile = (list, p) => (list.length
    ? [...list].sort((a, b) => a - b)[Math.min(list.length - 1, Math.floor(list.length * p))] : 0);

export class Cluster {
    constructor(ctx, etcd) {
        this.ctx = ctx;
        this.etcd = etcd;
        this.peer = null;      // the second node; ctx.daemon is the first
        this.operator = null;  // the AdminOperator, for reading every object back
        this.lock = lock();    // an etcd outage and the planned restart of node1 never overlap
        this.outages = [];     // {n, how, from, backAt, upAt}
        this.refusedValue = null;  // the last value of upstreams/e-refused a node acknowledged
        this.stats = {
            outages: { kill: 0, stop: 0 }, refused: 0, resolved: { ok: 0, bad: 0 }, propagated: [],
            downMs: [], upMs: [], routeProbes: 0, readyz: 0,
        };
    }

    get nodes() {
        return [this.ctx.daemon, this.peer];
    }

    other(node) {
        return node === this.ctx.daemon ? this.peer : this.ctx.daemon;
    }

    outageAt(t) {
        const grace = 1000 * this.ctx.scale;
        return this.outages.find((o) => t >= o.from - 100 && t <= (o.upAt ?? Infinity) + grace);
    }

    // A 503 from an Admin API write: true when etcd was down (then it must carry the reason);
    // false leaves it to the operator's accounting (a violation).
    storeOutage(got, what) {
        if (!this.outageAt(Date.now())) return false;
        this.stats.refused++;
        const reason = got.json?.error_msg ?? "";
        if (!/^the config store is unavailable: \S/.test(reason)) {
            this.ctx.violation(`${what}: 503 while etcd was down without the reason`, { answer: got.text.slice(0, 300) });
        }
        return true;
    }

    // An acknowledged write on `node` must be served by the other node within the bound: the
    // same modifiedIndex (or 404 after a DELETE) and the same content.
    async checkPropagation(url, method, got, node) {
        const ctx = this.ctx;
        const other = this.other(node);
        const started = Date.now();
        if (!other?.alive || ctx.excusedAt(started)) return true;
        const bound = (PROPAGATION_MS + PROPAGATION_SLACK_MS) * ctx.scale;
        const index = got.json?.modifiedIndex;
        let last = null;
        const ok = await waitFor(async () => {
            last = await admin(other, "GET", url);
            if (method === "DELETE") return last.status === 404;
            return last.status === 200 && last.json?.modifiedIndex === index;
        }, { timeoutMs: bound, intervalMs: 10 });
        const ms = Date.now() - started;
        if (ok) {
            this.stats.propagated.push(ms);
            const [want, have] = [got.json?.value, last.json?.value].map((v) => JSON.stringify(v ?? null));
            if (method !== "DELETE" && want !== have) {
                ctx.violation(`${url}: ${other.name} serves modifiedIndex ${index} with other content ` +
                    `than ${node.name} acknowledged`, { want: want.slice(0, 300), have: have.slice(0, 300) });
            }
        } else if (other.alive && !ctx.excusedAt(Date.now()) && !this.outages.some((o) => o.from >= started - 100)) {
            ctx.violation(`${method} ${url} acknowledged by ${node.name} (modifiedIndex ${index}) not served ` +
                `by ${other.name} within ${fmtMs(bound)} (${PROPAGATION_MS} ms + ${PROPAGATION_SLACK_MS} ms slack)`,
            { other_answers: `${last?.status ?? last?.error} ${last?.text?.slice(0, 300) ?? ""}` });
        }
        return ok;
    }

    // Objects of the cluster checks, outside the operator's model.
    async bootstrap() {
        const node = this.ctx.daemon;
        for (const id of ["e-probe", "e-refused"]) {
            const value = this.probeUpstream(id, "boot");
            const got = await admin(node, "PUT", `/apisix/admin/upstreams/${id}`, value);
            if (got.status < 200 || got.status >= 300) throw new Error(`PUT upstreams/${id}: ${got.status} ${got.text}`);
            await this.checkPropagation(`/apisix/admin/upstreams/${id}`, "PUT", got, node);
        }
        this.refusedValue = "boot";
    }

    probeUpstream(id, label) {
        return { nodes: { [this.ctx.fleet.mocks[0].address]: 1 }, labels: { probe: id, v: label } };
    }

    async waitStoreUp(value, boundMs, label) {
        const ctx = this.ctx;
        const started = Date.now();
        for (const node of this.nodes) {
            let seen;
            const ok = await waitFor(async () => !node.alive || (seen = await storeUp(node)) === value,
                { timeoutMs: boundMs - (Date.now() - started), intervalMs: 50 });
            if (!ok && node.alive) {
                ctx.violation(`${label}: aiproxy_config_store_up on ${node.name} is ${seen}, not ${value}, ` +
                    `${fmtMs(Date.now() - started)} later (bound ${fmtMs(boundMs)})`, { log_tail: node.logTail(15) });
            }
        }
        return Date.now() - started;
    }

    // During an outage: a write refused with the reason, the routes the model holds still match
    // on both nodes, reads and /readyz answer.
    async duringOutage(rng, w) {
        const ctx = this.ctx;
        const node = rng.pick(this.nodes);
        const label = `o${w.n}`;
        const got = await admin(node, "PUT", "/apisix/admin/upstreams/e-refused", this.probeUpstream("e-refused", label));
        if (got.status === 503) {
            this.storeOutage(got, `PUT upstreams/e-refused on ${node.name}`);
            w.refusedOptions = /may or may not be stored/.test(got.text) ? [this.refusedValue, label] : [this.refusedValue];
        } else if (node.alive) {
            ctx.violation(`PUT upstreams/e-refused on ${node.name} while etcd is down (${w.how}) answered ` +
                `${got.status ?? got.error} (want 503 with the reason)`, { answer: got.text?.slice(0, 300) });
        }
        // Routes whose upstreams exist (a forced upstream DELETE leaves a route that cannot
        // serve, with or without etcd). The file's upstream ids are not a-u*: always there.
        const model = this.operator.model;
        const exists = (id) => !id || !id.startsWith("a-u") || model.get(`upstreams/${id}`)?.state === "present";
        const paths = ["/llm/chat/completions"];
        for (const [key, route] of model) {
            const ai = route.value?.plugins?.["ai-proxy"];
            if (!key.startsWith("routes/") || route.state !== "present") continue;
            if (exists(ai?.upstream_id) && exists(ai?.upstream_fallback_id)) paths.push(route.value.uri.replace("*", "x"));
        }
        const probes = this.nodes.flatMap((n) => paths.map((p) => [n, p]));
        await Promise.all(probes.map(async ([n, p], i) => {
            const res = await routeProbe(n.port, p, `${ctx.runTag}-etcd-${w.n}-${i}`, ctx.requestDeadlineMs);
            this.stats.routeProbes++;
            if (n.alive && (res.error || /route_not_found/.test(res.text))) {
                ctx.violation(`while etcd is down (${w.how}), ${n.name} does not serve ${p}: ` +
                    `${res.status ?? res.error} ${res.text?.slice(0, 200) ?? ""}`);
            }
        }));
        for (const n of this.nodes) {
            const list = await admin(n, "GET", "/apisix/admin/routes");
            if (n.alive && list.status !== 200) {
                ctx.violation(`while etcd is down, GET /apisix/admin/routes on ${n.name} answered ${list.status ?? list.error}`);
            }
        }
    }

    // After an outage: a write on each node reaches the other (their watches caught up with
    // every revision before it), then both read back every object: the refused probe as it was
    // or as written, the operator's objects as the model says.
    async afterOutage(rng, w) {
        const ctx = this.ctx;
        const first = rng.pick(this.nodes);
        for (const [i, node] of [first, this.other(first)].entries()) {
            if (!node.alive) continue;
            const url = "/apisix/admin/upstreams/e-probe";
            let got;
            await waitFor(async () => {
                got = await admin(node, "PUT", url, this.probeUpstream("e-probe", `o${w.n}-${i}`));
                return got.status === 200 || got.status === 201 || !node.alive;
            }, { timeoutMs: 3000 * ctx.scale, intervalMs: 100 });
            if (got.status !== 200 && got.status !== 201) {
                if (node.alive) {
                    ctx.violation(`after etcd outage #${w.n}: PUT ${url} on ${node.name} answered ` +
                        `${got.status ?? got.error} for 3 s`, { answer: got.text?.slice(0, 300) });
                }
                continue;
            }
            await this.checkPropagation(url, "PUT", got, node);
        }
        const seen = [];
        for (const node of this.nodes) {
            const got = await admin(node, "GET", "/apisix/admin/upstreams/e-refused");
            if (node.alive && got.status === 200) seen.push(`${node.name}=${got.json?.value?.labels?.v}`);
        }
        const options = w.refusedOptions ?? [this.refusedValue];
        const values = [...new Set(seen.map((s) => s.split("=")[1]))];
        if (values.length !== 1 || !options.includes(values[0])) {
            ctx.violation(`after etcd outage #${w.n}: upstreams/e-refused (written during the outage, ` +
                `answered 503) reads ${seen.join(" ")}, want the same one of ${options.join(" or ")}`);
        } else {
            this.refusedValue = values[0];
        }
        for (const node of this.nodes) {
            if (node.alive) await this.operator.verify(`after etcd outage #${w.n} (${node.name})`, node);
        }
    }

    async outage(rng, n) {
        const ctx = this.ctx;
        const w = { n, how: rng.pick(["kill", "stop"]), from: 0, backAt: null, upAt: null };
        const hold = rng.int(200, 2500);
        // No Admin API write is in flight when etcd goes: the last one reached both nodes.
        const releaseAdmin = await ctx.adminLock.acquire();
        try {
            w.from = Date.now();
            this.outages.push(w);
            this.stats.outages[w.how]++;
            ctx.log(`etcd outage #${n}: ${w.how === "kill" ? "SIGKILL" : "SIGSTOP"} (held ${hold} ms after noticed)`);
            if (w.how === "kill") await this.etcd.kill();
            else this.etcd.pause();
        } finally {
            releaseAdmin();
        }
        this.stats.downMs.push(await this.waitStoreUp(0, STORE_DOWN_MS * ctx.scale, `etcd ${w.how} (#${n})`));
        const release = await ctx.adminLock.acquire();
        try {
            await this.duringOutage(rng, w);
        } finally {
            release();
        }
        await sleep(hold);  // the outage's length: pacing, not a wait for a state
        if (w.how === "kill") {
            try {
                await this.etcd.start(30000 * ctx.scale);
            } catch (e) {
                ctx.violation(`driver: cannot start etcd again: ${e.message}`);
                ctx.aborted = true;
                return;
            }
        } else {
            this.etcd.resume();
        }
        w.backAt = Date.now();
        this.stats.upMs.push(await this.waitStoreUp(1, STORE_UP_MS * ctx.scale, `etcd back after ${w.how} (#${n})`));
        w.upAt = Date.now();
        ctx.log(`etcd outage #${n}: down ${fmtMs(w.backAt - w.from)}, nodes up again after ${fmtMs(w.upAt - w.backAt)}`);
        const releaseAfter = await ctx.adminLock.acquire();
        try {
            await this.afterOutage(rng, w);
        } finally {
            releaseAfter();
        }
    }

    // One outage every 3-8 s (the first 1-3 s into the round), never during node1's restart.
    async runOutages(rng, shouldStop) {
        for (let i = 0; i < 1000 && !shouldStop(); i++) {
            const step = rng.fork();
            await sleep(i === 0 ? step.int(1000, 3000) : step.int(3000, 8000));
            if (shouldStop()) break;
            const release = await this.lock.acquire();
            try {
                if (!this.ctx.aborted) await this.outage(step, this.outages.length + 1);
            } finally {
                release();
            }
        }
    }

    // /readyz of both nodes every second: never unready (etcd or not), outside node1's restart.
    async runMonitor(shouldStop) {
        const ctx = this.ctx;
        let failures = 0;
        for (let i = 0; i < 100000 && !shouldStop(); i++) {
            await sleep(1000);
            for (const node of this.nodes) {
                if (!node.alive || (node === ctx.daemon && ctx.excusedAt(Date.now()))) continue;
                const res = await request(node.statusPort, "GET", "/readyz", { timeoutMs: 5000 * ctx.scale });
                this.stats.readyz++;
                if (res.status === 200) {
                    failures = 0;
                } else if (++failures >= 2 && node.alive && !(node === ctx.daemon && ctx.excusedAt(Date.now()))) {
                    const during = this.outageAt(Date.now()) ? " during an etcd outage" : "";
                    ctx.violation(`${node.name} /readyz answered ${res.status ?? res.error} twice in a row${during}`);
                    failures = 0;
                }
            }
        }
    }

    // node2's file descriptors back to where they were after the bootstrap (node1's are in the
    // common quiet checks): etcd connections closed by outages must not pile up.
    async quietChecks(label) {
        const peer = this.peer;
        if (!peer?.alive || this.peerFds === undefined) return;
        let fds = 0;
        const ok = await waitFor(() => (fds = peer.fdCount()) <= this.peerFds + FD_SLACK,
            { timeoutMs: 10000 * this.ctx.scale, intervalMs: 250 });
        this.ctx.log(`${label}: node2 fds ${fds} (after bootstrap ${this.peerFds}), rss ${(peer.rssKb() / 1024).toFixed(1)} MiB`);
        if (!ok && peer.alive) {
            this.ctx.violation(`${label}: node2's open file descriptors did not return to baseline`,
                { fds: `${fds} (after bootstrap ${this.peerFds}, slack ${FD_SLACK})`, now: peer.fdSummary() });
        }
    }

    summary() {
        const s = this.stats;
        const p = s.propagated;
        const max = (l) => (l.length ? Math.max(...l) : 0);
        return [
            `  etcd: ${this.outages.length} outages (${s.outages.kill} kill+restart, ${s.outages.stop} ` +
                `SIGSTOP/SIGCONT); ${s.refused} admin writes refused with 503 during them; ` +
                `${s.resolved.ok} maybe-stored writes read back whole, ${s.resolved.bad} half-written`,
            `  etcd: store_up 0 on both nodes after ${fmtMs(percentile(s.downMs, 0.5))} median, ` +
                `${fmtMs(max(s.downMs))} max; back to 1 after ${fmtMs(percentile(s.upMs, 0.5))} median, ` +
                `${fmtMs(max(s.upMs))} max; ${s.routeProbes} route probes during outages; ${s.readyz} /readyz polls`,
            `  etcd: ${p.length} writes seen on the other node after ${percentile(p, 0.5)} ms median, ` +
                `${percentile(p, 0.99)} ms p99, ${max(p)} ms max (bound ${PROPAGATION_MS} + ` +
                `${PROPAGATION_SLACK_MS} ms slack)`,
        ].join("\n");
    }
}
