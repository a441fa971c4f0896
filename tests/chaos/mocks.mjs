// Mock LLM backends living in the driver process. Each one is an OpenAI-compatible server on
// 127.0.0.1 whose behaviour the backend switcher changes while load runs. The mocks remember
// which request ids (the X-Request-Id the gateway forwards) they cut after sending content, so
// a client that sees its answer cut can tell an upstream cut (allowed) from a gateway fault.

import fs from "node:fs";
import http from "node:http";
import { sleep } from "./lib.mjs";

// behaviour -> weight for the switcher. "healthy" answers chat completions (JSON with usage, or
// an SSE stream of chat.completion.chunk events ending with data: [DONE]).
export const MODES = {
    healthy: 34,
    refuse_close: 6,      // listener closed: connections refused, answers in progress reset
    refuse_reset: 5,      // accepts and resets at once; answers in progress reset too
    hang: 6,              // reads the request, never answers
    status500: 8,
    status429: 6,         // with Retry-After: 1
    drop_early: 8,        // 200 head (and maybe a role-only chunk), then closes before content
    drop_mid: 8,          // closes in the middle of the body / stream
    garbage: 6,           // bytes that are not HTTP
    slow_first_byte: 8,   // healthy after a delay that may exceed the gateway's timeout
};

const MAX_REMEMBERED = 100000;

// A port below the kernel's ephemeral range, so that no outgoing connection can take it while
// a mock's listener is closed (refuse_close reopens it on the same port), and below 20000,
// where tests/e2e/lib.sh's free_port picks ports for servers. Port 0 when there is no room.
function lowPortRange() {
    try {
        const [low] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim()
            .split(/\s+/).map(Number);
        if (low > 12000) return [10000, Math.min(low, 20000) - 1];
    } catch { /* not Linux: port 0 */ }
    return null;
}

async function bindLowPort(server) {
    const range = lowPortRange();
    for (let i = 0; i < 100; i++) {
        const port = range ? range[0] + Math.floor(Math.random() * (range[1] - range[0])) : 0;
        const ok = await new Promise((resolve) => {
            const onError = () => resolve(false);
            server.once("error", onError);
            server.listen(port, "127.0.0.1", () => {
                server.off("error", onError);
                resolve(true);
            });
        });
        if (ok) return server.address().port;
    }
    throw new Error("no free port for a mock backend");
}

export class MockBackend {
    constructor(name, rng, registry) {
        this.name = name;
        this.rng = rng;  // per-request decisions (where to cut, garbage bytes)
        this.registry = registry;
        this.mode = "healthy";
        this.params = {};
        this.sockets = new Set();
        this.listening = false;
        this.served = {};  // mode -> requests seen
        this.server = http.createServer((req, res) => this.onRequest(req, res));
        // The gateway decides when pooled connections close: never time them out here.
        this.server.keepAliveTimeout = 0;
        this.server.requestTimeout = 0;
        this.server.on("connection", (socket) => {
            if (this.mode === "refuse_reset") {
                socket.resetAndDestroy();
                return;
            }
            this.sockets.add(socket);
            socket.on("close", () => this.sockets.delete(socket));
            socket.on("error", () => {});
        });
        this.server.on("clientError", (err, socket) => socket.destroy());
    }

    async start() {
        this.port = await bindLowPort(this.server);
        this.listening = true;
        return this.port;
    }

    get address() {
        return `127.0.0.1:${this.port}`;
    }

    async setMode(mode, params = {}) {
        this.mode = mode;
        this.params = params;
        if (mode === "refuse_close" && this.listening) {
            this.listening = false;
            this.server.close();  // stops accepting at once; open connections are handled below
        }
        if (mode === "refuse_close" || mode === "refuse_reset") {
            for (const socket of this.sockets) {
                if (socket.chaosRid) {
                    // An answer in progress is cut, as drop_mid / drop_early would cut it.
                    const cut = socket.chaosContent ? "mid" : "early";
                    this.remember(this.registry.cuts, socket.chaosRid, cut);
                    socket.resetAndDestroy();
                } else {
                    // Idle, or its last answer still in the kernel's buffers: a reset would
                    // cut that answer, so close after it instead.
                    socket.end();
                    socket.setTimeout(10000, () => socket.destroy());
                }
            }
        }
        if (mode !== "refuse_close" && !this.listening) await this.relisten();
    }

    async relisten() {
        for (let i = 0; i < 50; i++) {
            const ok = await new Promise((resolve) => {
                const onError = () => resolve(false);
                this.server.once("error", onError);
                this.server.listen(this.port, "127.0.0.1", () => {
                    this.server.off("error", onError);
                    resolve(true);
                });
            });
            if (ok) {
                this.listening = true;
                return;
            }
            await sleep(100);
        }
        throw new Error(`mock ${this.name} cannot listen on ${this.port} again`);
    }

    async close() {
        this.mode = "closed";
        const closed = this.listening ? new Promise((resolve) => this.server.close(() => resolve())) : null;
        this.listening = false;
        for (const socket of this.sockets) socket.destroy();
        await closed;
    }

    remember(map, rid, value) {
        if (!rid) return;
        map.set(rid, value);
        if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value);
    }

    onRequest(req, res) {
        const parts = [];
        req.on("data", (c) => parts.push(c));
        req.on("error", () => {});
        res.on("error", () => {});
        req.on("end", () => this.answer(req, res, Buffer.concat(parts).toString("utf8")));
    }

    answer(req, res, text) {
        const mode = this.mode;
        const rid = req.headers["x-request-id"] ?? "";
        this.served[mode] = (this.served[mode] ?? 0) + 1;
        const seen = this.registry.seen.get(rid);
        this.remember(this.registry.seen, rid, `${seen ? seen + "," : ""}${this.name}:${mode}`);
        const socket = req.socket;
        socket.chaosRid = rid;
        socket.chaosContent = false;
        res.on("finish", () => { socket.chaosRid = null; });
        switch (mode) {
            case "refuse_close":
            case "refuse_reset":
            case "closed":
                socket.resetAndDestroy();
                return;
            case "hang":
                return;  // the gateway's timeout ends it
            case "status500":
                return sendJson(res, 500, errorBody("the mock is failing", "server_error"));
            case "status429":
                return sendJson(res, 429, errorBody("slow down", "rate_limit_exceeded"),
                                { "Retry-After": "1" });
            case "garbage": {
                const bytes = Buffer.alloc(this.rng.int(1, 300));
                for (let i = 0; i < bytes.length; i++) bytes[i] = this.rng.int(0, 255);
                if (this.rng.chance(0.3)) bytes.write("HTTP/1.1 2"); // a status line cut short
                socket.end(bytes);
                setTimeout(() => socket.destroy(), 50);
                return;
            }
            case "slow_first_byte":
                setTimeout(() => {
                    if (!socket.destroyed) this.healthy(req, res, text, rid, "healthy");
                }, this.params.delayMs ?? 1000);
                return;
            default:
                return this.healthy(req, res, text, rid, mode);
        }
    }

    // healthy, drop_early, drop_mid, slow_stream: a real answer, possibly cut.
    healthy(req, res, text, rid, mode) {
        if (req.method === "GET" && req.url.endsWith("/models")) {
            return sendJson(res, 200, { object: "list", data: [{ id: "chaos-model", object: "model" }] });
        }
        let body;
        try {
            body = JSON.parse(text);
        } catch {
            return sendJson(res, 400, errorBody("invalid JSON body", "invalid_request_error"));
        }
        const model = typeof body.model === "string" ? body.model : "chaos-model";
        const tokens = Math.max(1, Math.min(Number(body.max_tokens) || 5, 5000));
        const id = `chatcmpl-${rid}`;
        const socket = req.socket;
        if (!body.stream) {
            const answer = JSON.stringify({
                id, object: "chat.completion", created: 1700000000, model,
                choices: [{
                    index: 0, message: { role: "assistant", content: words(tokens) }, finish_reason: "stop",
                }],
                usage: { prompt_tokens: 7, completion_tokens: tokens, total_tokens: 7 + tokens },
            });
            if (mode === "drop_early" || mode === "drop_mid") {
                res.writeHead(200, { "Content-Type": "application/json", "Content-Length": answer.length });
                if (mode === "drop_mid") {
                    res.write(answer.slice(0, this.rng.int(1, answer.length - 1)));
                    socket.chaosContent = true;
                } else {
                    res.flushHeaders();
                }
                this.remember(this.registry.cuts, rid, mode === "drop_mid" ? "mid" : "early");
                setImmediate(() => socket.destroy());
                return;
            }
            return sendJson(res, 200, JSON.parse(answer));
        }
        res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
        const chunk = (delta, finish = null) => `data: ${JSON.stringify({
            id, object: "chat.completion.chunk", created: 1700000000, model,
            choices: [{ index: 0, delta, finish_reason: finish }],
        })}\n\n`;
        if (mode === "drop_early") {
            if (this.rng.chance(0.5)) res.write(chunk({ role: "assistant", content: "" }));
            else res.flushHeaders();
            this.remember(this.registry.cuts, rid, "early");
            setTimeout(() => socket.destroy(), this.rng.int(0, 30));
            return;
        }
        const events = [chunk({ role: "assistant", content: "" })];
        for (let i = 0; i < tokens; i++) events.push(chunk({ content: `tok${i} ` }));
        events.push(chunk({}, "stop"));
        if (body.stream_options?.include_usage) {
            events.push(`data: ${JSON.stringify({
                id, object: "chat.completion.chunk", created: 1700000000, model, choices: [],
                usage: { prompt_tokens: 7, completion_tokens: tokens, total_tokens: 7 + tokens },
            })}\n\n`);
        }
        events.push("data: [DONE]\n\n");
        const cutAt = mode === "drop_mid" ? this.rng.int(2, Math.max(2, events.length - 2)) : -1;
        const gapMs = mode === "slow_stream" ? 100 : tokens > 50 ? 0 : this.rng.int(0, 15);
        this.stream(res, socket, events, cutAt, gapMs, rid);
    }

    // Writes events with gapMs between them (0: as fast as backpressure allows); cuts the
    // connection before event cutAt when cutAt >= 0.
    async stream(res, socket, events, cutAt, gapMs, rid) {
        for (let i = 0; i < events.length; i++) {
            if (socket.destroyed) return;
            if (i === cutAt) {
                this.remember(this.registry.cuts, rid, "mid");
                socket.destroy();
                return;
            }
            const more = res.write(events[i]);
            if (i > 0) socket.chaosContent = true;
            if (gapMs > 0) {
                await sleep(gapMs);
            } else if (!more) {
                await new Promise((resolve) => {
                    const done = () => {
                        res.off("drain", done);
                        socket.off("close", done);
                        resolve();
                    };
                    res.on("drain", done);
                    socket.on("close", done);
                });
            }
        }
        if (!socket.destroyed) res.end();
    }
}

function words(n) {
    let text = "";
    for (let i = 0; i < n; i++) text += `tok${i} `;
    return text;
}

function errorBody(message, code) {
    return { error: { message, type: code, code } };
}

function sendJson(res, status, value, headers = {}) {
    const text = JSON.stringify(value);
    res.writeHead(status, {
        "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers,
    });
    res.end(text);
}

// The set of mocks plus what they recorded: seen (rid -> "m1:hang,m3:healthy"), cuts
// (rid -> "mid" | "early").
export class MockFleet {
    constructor(count, rngOf) {
        this.registry = { seen: new Map(), cuts: new Map() };
        this.mocks = [];
        for (let i = 0; i < count; i++) {
            this.mocks.push(new MockBackend(`m${i}`, rngOf(`mock-${i}`), this.registry));
        }
    }

    async start() {
        for (const mock of this.mocks) await mock.start();
    }

    modes() {
        const delay = (m) => (m.mode === "slow_first_byte" ? `(${m.params.delayMs}ms)` : "");
        return this.mocks.map((m) => `${m.name}:${m.mode}${delay(m)}`).join(" ");
    }

    async allHealthy(mode = "healthy") {
        for (const mock of this.mocks) await mock.setMode(mode);
    }

    async close() {
        for (const mock of this.mocks) await mock.close();
    }
}

// The backend switcher: every few hundred ms one mock gets a new behaviour.
export async function runSwitcher(fleet, rng, shouldStop, log) {
    const pairs = Object.entries(MODES).map(([mode, w]) => [w, mode]);
    let switches = 0;
    while (!shouldStop() && switches < 100000) {
        const step = rng.fork();
        const delay = step.int(200, 1200);
        const mock = step.pick(fleet.mocks);
        const mode = step.weighted(pairs);
        const params = mode === "slow_first_byte" ? { delayMs: step.int(200, 2500) } : {};
        await sleep(delay);
        if (shouldStop()) break;
        await mock.setMode(mode, params);
        switches++;
        log(`backend ${mock.name} -> ${mode}`);
    }
    return switches;
}
