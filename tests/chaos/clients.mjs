// The client side of the chaos run: raw-socket HTTP/1.1 clients of several kinds (JSON and
// streaming chats, keep-alive sequences, pipelines, cancellers, slow readers, bad requests),
// and the judge that decides, for each request, whether its answer was acceptable.
//
// Rules the judge applies:
// - a request the client did not cancel gets a complete answer: a body whose length matches,
//   or a stream ending with data: [DONE] or an error event and a clean chunked end; the answer
//   carries the request's own X-Request-Id (so pipelined answers come in order) and, for a 200
//   from a mock, the mock's answer to that very request (no answers mixed up between clients);
// - the only excuses for an answer cut after its status line: a mock cut that request's
//   upstream answer after content had been sent, or the restart's drain timeout; for a bare
//   close before the status line: the planned restart (or a crash, reported on its own);
// - after the last expected answer nothing more arrives (nothing answered twice), and a
//   Connection: close answer is followed by the close;
// - bad requests (malformed JSON, oversized header, garbage request line) get a 4xx.

import net from "node:net";
import { ResponseParser, rawRequest, sseEvents, sleep } from "./lib.mjs";

// kind -> weight
export const KINDS = {
    json: 26, stream: 26, keepalive: 8, pipelined: 8, cancel: 14, slow_reader: 8, bad: 10,
};

// Sends requests on one connection: all at once (pipelined) or each after the previous answer.
// The last request carries Connection: close, so the server closes after answering it.
// cancel: {mode: "during-send" | "before-headers" | "mid-body", afterMs, afterBytes, fraction}.
// pauseMs: stop reading for that long once the first answer's head arrived (a slow reader).
export function exchange(port, options) {
    const { requests, pipelined = false, cancel = null, pauseMs = 0, deadlineMs, closeGraceMs } =
        options;
    return new Promise((resolve) => {
        const parser = new ResponseParser();
        const r = {
            responses: [], sentAt: [], openedAt: Date.now(), connectError: null, error: null,
            extra: null, cancelled: false, timedOut: false, lingered: false, partial: null,
            headBytes: 0, parseError: null,
        };
        let sent = 0;
        let paused = false;
        let finished = false;
        const timers = [];
        const socket = net.connect(port, "127.0.0.1");
        socket.setNoDelay(true);
        const destroy = () => socket.destroy();
        const send = () => {
            const bytes = requests[sent].bytes;
            r.sentAt.push(Date.now());
            sent++;
            if (cancel?.mode === "during-send") {
                socket.write(bytes.subarray(0, Math.max(1, Math.floor(bytes.length * cancel.fraction))));
                r.cancelled = true;
                setImmediate(destroy);
                return;
            }
            socket.write(bytes);
        };
        const allAnswered = () => {
            if (!closeGraceMs) return;
            timers.push(setTimeout(() => {
                r.lingered = true;
                destroy();
            }, closeGraceMs));
        };
        socket.on("connect", () => {
            r.connectedAt = Date.now();
            if (pipelined) {
                while (sent < requests.length && !r.cancelled) send();
            } else {
                send();
            }
            if (cancel?.mode === "before-headers") {
                timers.push(setTimeout(() => {
                    if (r.responses.length < requests.length && !parser.current) {
                        r.cancelled = true;
                        destroy();
                    }
                }, cancel.afterMs));
            }
        });
        socket.on("data", (chunk) => {
            if (r.cancelled) return;
            if (r.responses.length >= requests.length) {
                r.extra ??= chunk.subarray(0, 200).toString("latin1");
                return;
            }
            for (const response of parser.push(chunk)) {
                if (r.responses.length >= requests.length) {
                    r.extra ??= response.head.slice(0, 200);
                } else {
                    r.responses.push(response);
                    if (r.responses.length === requests.length) allAnswered();
                }
            }
            if (parser.error) {
                r.parseError = parser.error;
                destroy();
                return;
            }
            if (r.responses.length >= requests.length && (parser.buffer.length || parser.current)) {
                r.extra ??= parser.buffer.subarray(0, 200).toString("latin1") || "(a partial answer)";
            }
            if (!pipelined && r.responses.length === sent && sent < requests.length) send();
            const current = parser.current;
            if (current && pauseMs && !paused) {
                paused = true;
                socket.pause();
                timers.push(setTimeout(() => socket.resume(), pauseMs));
            }
            if (current && cancel?.mode === "mid-body" && current.bodyLength >= cancel.afterBytes) {
                r.cancelled = true;
                destroy();
            }
        });
        socket.on("error", (e) => {
            if (r.connectedAt) r.error ??= e.code ?? e.message;
            else r.connectError = e.code ?? e.message;
        });
        socket.on("close", () => {
            if (finished) return;
            finished = true;
            for (const t of timers) clearTimeout(t);
            r.closedAt = Date.now();
            if (!r.cancelled && !r.timedOut) {
                const tail = parser.end();  // a close-delimited body ends here
                if (tail && r.responses.length < requests.length) r.responses.push(tail);
            }
            r.partial = parser.current;
            r.headBytes = parser.current ? 0 : parser.buffer.length;
            r.parseError ??= parser.error;
            resolve(r);
        });
        timers.push(setTimeout(() => {
            r.timedOut = true;
            destroy();
        }, deadlineMs));
    });
}

// --- requests ----------------------------------------------------------------------------------

function chatRequest(rid, path, { stream, tokens, user, apiKey, close }) {
    const body = JSON.stringify({
        model: "chaos-model",
        messages: [{ role: "user", content: `hello from ${rid}` }],
        max_tokens: tokens,
        ...(stream ? { stream: true } : {}),
    });
    const headers = [["Content-Type", "application/json"], ["X-Request-Id", rid], ["X-User", user]];
    if (apiKey) headers.push(["Authorization", `Bearer ${apiKey}`]);
    if (close) headers.push(["Connection", "close"]);
    return { rid, path, stream, chat: true, bytes: rawRequest("POST", path, headers, body) };
}

function notFoundRequest(rid, close) {
    const headers = [["X-Request-Id", rid]];
    if (close) headers.push(["Connection", "close"]);
    const path = "/chaos-nowhere";
    return { rid, path, stream: false, chat: false, bytes: rawRequest("GET", path, headers) };
}

const MALFORMED_BODIES = ['{"model": "chaos-model", "messages": [', "{not json", '{"model":', "\u0000\u0001"];
const GARBAGE_HEADS = [
    "GARBAGE\r\n\r\n", "GET\r\n\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "POST /llm/chat/completions HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
];

const closeAnnounced = (response) => /\bclose\b/i.test(response?.headers.connection ?? "");

// --- one client loop ---------------------------------------------------------------------------

export class ClientLoop {
    constructor(name, rng, ctx) {
        this.name = name;
        this.stream = rng;
        this.rng = rng;  // the current request's fork of the stream
        this.ctx = ctx;
        this.count = 0;
    }

    nextRid() {
        return `${this.ctx.runTag}-${this.name}-${++this.count}`;
    }

    chatPath() {
        const rng = this.rng;
        return rng.weighted([
            [50, "/llm/chat/completions"],
            [10, "/fb/chat/completions"],
            [40, `/adm${rng.int(0, this.ctx.adminRoutes - 1)}/chat/completions`],
        ]);
    }

    chat(extra = {}) {
        const rng = this.rng;
        const options = {
            stream: rng.chance(0.5),
            tokens: rng.int(1, 20),
            user: `u${rng.int(0, 9)}`,
            apiKey: rng.chance(0.3) ? `chaos-key-c${rng.int(0, this.ctx.consumers - 1)}` : null,
            close: true,
            ...extra,
        };
        return chatRequest(this.nextRid(), this.chatPath(), options);
    }

    // Runs requests until shouldStop(), the deadline or maxRequests (counted over the run).
    async run(shouldStop, deadline, maxRequests) {
        const kinds = Object.entries(KINDS).map(([k, w]) => [w, k]);
        while (!shouldStop() && Date.now() < deadline && this.count < maxRequests) {
            this.rng = this.stream.fork();
            const kind = this.rng.weighted(kinds);
            const pause = this.rng.int(0, 40);
            const refused = await this.one(kind);
            await sleep(pause + (refused ? 100 : 0));  // no busy loop while the daemon is down
        }
    }

    // One exchange of the given kind; true when the connection was refused.
    async one(kind) {
        const { rng, ctx } = this;
        let requests = [];
        const options = { deadlineMs: ctx.requestDeadlineMs, closeGraceMs: ctx.closeGraceMs };
        switch (kind) {
            case "json":
            case "stream":
                requests = [this.chat({ stream: kind === "stream" })];
                break;
            case "keepalive": {
                const n = rng.int(2, 4);
                for (let i = 0; i < n; i++) requests.push(this.chat({ close: i === n - 1 }));
                break;
            }
            case "pipelined": {
                const n = rng.int(2, 6);
                for (let i = 0; i < n; i++) {
                    const close = i === n - 1;
                    requests.push(rng.chance(0.2) ? notFoundRequest(this.nextRid(), close)
                        : this.chat({ close }));
                }
                options.pipelined = true;
                break;
            }
            case "cancel": {
                const mode = rng.weighted([[15, "during-send"], [45, "before-headers"], [40, "mid-body"]]);
                const stream = mode === "mid-body" ? rng.chance(0.8) : rng.chance(0.5);
                requests = [this.chat({ stream, tokens: rng.int(20, 300) })];
                options.cancel = {
                    mode, afterMs: rng.int(0, 1500), afterBytes: rng.int(1, 4000), fraction: rng.next(),
                };
                break;
            }
            case "slow_reader":
                requests = [this.chat({ stream: true, tokens: rng.int(500, 3000) })];
                options.pauseMs = rng.int(200, 2500);
                break;
            case "bad":
                requests = [this.badRequest()];
                break;
        }
        // With the etcd store, some loops send to the second node (this.node), which never
        // restarts: node1's restart windows excuse nothing there.
        const result = await exchange((this.node ?? ctx.daemon).port, { requests, ...options });
        if (this.node) result.peer = true;
        ctx.judge.exchange(kind, requests, result);
        return !!result.connectError;
    }

    badRequest() {
        const { rng, ctx } = this;
        const rid = this.nextRid();
        const bad = rng.pick(["malformed_json", "oversized_header", "garbage_line"]);
        let bytes;
        if (bad === "malformed_json") {
            // The strict route's upstream speaks Anthropic: the gateway parses the body itself.
            const headers = [["Content-Type", "application/json"], ["X-Request-Id", rid],
                ["Connection", "close"]];
            bytes = rawRequest("POST", "/strict/chat/completions", headers, rng.pick(MALFORMED_BODIES));
        } else if (bad === "oversized_header") {
            const big = "b".repeat(ctx.maxHeaderBytes + rng.int(100, 8000));
            const headers = [["X-Request-Id", rid], ["X-Big", big], ["Connection", "close"]];
            bytes = rawRequest("GET", "/llm/models", headers);
        } else {
            bytes = Buffer.from(rng.pick(GARBAGE_HEADS), "latin1");
        }
        return { rid, path: bad, bad, bytes };
    }
}

// --- the judge ---------------------------------------------------------------------------------

export class Judge {
    constructor(ctx) {
        this.ctx = ctx;
        this.kinds = {};     // kind -> {sent, completed, cancelled, excused, failed}
        this.excuses = {};   // why requests went unanswered without a violation
        this.statuses = {};
        this.pending = new Set();
    }

    stat(kind) {
        return (this.kinds[kind] ??= { sent: 0, completed: 0, cancelled: 0, excused: 0, failed: 0 });
    }

    excused(kind, why, req, result) {
        this.stat(kind).excused++;
        this.excuses[why] = (this.excuses[why] ?? 0) + 1;
        const error = result.error ?? result.connectError ?? "";
        this.ctx.log(`excused (${why}): ${kind} ${req.rid}${error ? ` ${error}` : ""}`);
    }

    fail(kind, req, result, what, category = what.replace(/ \(.*$/, "")) {
        const ctx = this.ctx;
        this.stat(kind).failed++;
        ctx.violation(`${kind} request ${req.rid} ${req.path ?? ""}: ${what}`, {
            sent: result.sentAt.length ? new Date(result.sentAt[0]).toISOString() : "never",
            elapsed_ms: (result.closedAt ?? Date.now()) - result.openedAt,
            upstream_attempts: ctx.fleet.registry.seen.get(req.rid) ?? "(no mock saw it)",
            backends_now: ctx.fleet.modes(),
            socket_error: result.error ?? result.connectError ?? "",
        }, category);
    }

    // A connection that failed is judged a second later: when the daemon crashed, the socket's
    // close can arrive before the process's exit, and the crash (reported itself) excuses it.
    exchange(kind, requests, result) {
        const failed = result.connectError || result.timedOut || result.parseError ||
            (!result.cancelled && result.responses.length < requests.length);
        if (!failed) {
            this.judge(kind, requests, result);
            return;
        }
        const pending = sleep(1000).then(() => {
            this.pending.delete(pending);
            this.judge(kind, requests, result);
        });
        this.pending.add(pending);
    }

    async settle() {
        while (this.pending.size) await Promise.all([...this.pending]);
    }

    judge(kind, requests, result) {
        const ctx = this.ctx;
        for (let i = 0; i < requests.length; i++) this.stat(kind).sent++;
        if (result.connectError) {
            const excuse = ctx.excuse(result, "connect");
            for (const req of requests) {
                if (excuse) this.excused(kind, "connect refused while down", req, result);
                else this.fail(kind, req, result, `connect failed: ${result.connectError}`);
            }
            return;
        }
        let lost = false;  // an earlier request of the connection went unanswered
        for (let i = 0; i < requests.length; i++) {
            const req = requests[i];
            const response = result.responses[i];
            if (response) {
                const problem = this.check(req, response, i);
                if (problem) this.fail(kind, req, result, problem);
                else this.stat(kind).completed++;
            } else if (result.cancelled) {
                this.stat(kind).cancelled++;
            } else if (lost) {  // judged, and reported, with the first unanswered one
                this.excused(kind, "queued behind an unanswered request", req, result);
            } else {
                lost = true;
                this.unanswered(kind, req, i, requests.length, result);
            }
        }
        const last = requests[requests.length - 1];
        if (result.extra !== null && !result.cancelled) {
            this.fail(kind, last, result,
                `bytes after the last expected answer (answered twice?): ${JSON.stringify(result.extra)}`);
        }
        if (result.lingered) {
            this.fail(kind, last, result,
                `connection still open ${ctx.closeGraceMs} ms after answering Connection: close`);
        }
    }

    // The first request of a connection left without a complete answer.
    unanswered(kind, req, index, count, result) {
        const ctx = this.ctx;
        const sentAt = result.sentAt[index] ?? result.sentAt[result.sentAt.length - 1];
        const partial = result.partial;
        if (result.timedOut) {
            const sofar = partial ? ` (status ${partial.status}, ${partial.bodyLength} body bytes so far)` : "";
            this.fail(kind, req, result, `no complete answer within ${ctx.requestDeadlineMs} ms${sofar}`);
        } else if (result.parseError) {
            this.fail(kind, req, result, `unparseable answer: ${result.parseError}`);
        } else if (partial) {
            const cut = ctx.fleet.registry.cuts.get(req.rid);
            if (cut === "mid") {
                this.excused(kind, "upstream cut after content", req, result);
            } else if (ctx.excuse(result, "cut", sentAt)) {
                this.excused(kind, "drain timeout or crash", req, result);
            } else {
                this.fail(kind, req, result, `answer cut after the status line (status ${partial.status}, ` +
                    `${partial.bodyLength} body bytes${cut ? `, mock cut: ${cut}` : ""})`,
                `answer cut after the status line (${cut ? `mock cut: ${cut}` : "no mock cut"})`);
            }
        } else if (ctx.excuse(result, "close", sentAt)) {
            this.excused(kind, "closed by the restart or a crash", req, result);
        } else if (closeAnnounced(result.responses[index - 1]) && ctx.excusedAt(result.closedAt)) {
            // Draining: the answer before said Connection: close, the rest of the pipeline is
            // left for the client to send again (RFC 9112 section 9.6).
            this.excused(kind, "pipeline ended by the drain's Connection: close", req, result);
        } else if (result.headBytes) {
            this.fail(kind, req, result, `connection closed inside the answer's head (${result.headBytes} bytes)`);
        } else {
            const which = index > 0 ? ` (request ${index + 1} of ${count} on the connection` +
                `${closeAnnounced(result.responses[index - 1]) ? ", after a Connection: close answer" : ""})` : "";
            this.fail(kind, req, result, `bare close before the status line${which}`);
        }
    }

    // Null when the complete response is acceptable for req, else what is wrong with it.
    check(req, response, index) {
        this.statuses[response.status] = (this.statuses[response.status] ?? 0) + 1;
        if (req.bad) {
            if (response.status >= 400 && response.status < 500) return null;
            return `bad request (${req.bad}) answered ${response.status}, want 4xx`;
        }
        const rid = response.headers["x-request-id"];
        if (rid !== req.rid) {
            return `answer #${index + 1} on the connection carries X-Request-Id ${JSON.stringify(rid)}: ` +
                "out of order, or another request's answer";
        }
        const type = response.headers["content-type"] ?? "";
        const text = response.body.toString("utf8");
        if (type.includes("text/event-stream")) return this.checkStream(req, sseEvents(text));
        if (!type.includes("json")) return null;
        let value;
        try {
            value = JSON.parse(text);
        } catch {
            return `JSON answer does not parse (status ${response.status}, ${response.body.length} bytes)`;
        }
        if (response.status === 200 && req.chat && value.id !== `chatcmpl-${req.rid}`) {
            return `200 answer belongs to another request (id ${value.id})`;
        }
        return null;
    }

    checkStream(req, events) {
        for (const event of events) {
            if (!event.data.startsWith("{")) continue;
            let value;
            try {
                value = JSON.parse(event.data);
            } catch {
                return `stream event is not JSON: ${event.data.slice(0, 120)}`;
            }
            if (value.id && value.id !== `chatcmpl-${req.rid}`) {
                return `stream carries another request's event (${value.id})`;
            }
        }
        const last = events[events.length - 1];
        if (last && (last.data === "[DONE]" || last.event === "error" || /"error"/.test(last.data))) {
            return null;
        }
        const cut = this.ctx.fleet.registry.cuts.get(req.rid) ?? "none";
        return `stream ended cleanly without data: [DONE] or an error event (${events.length} events, ` +
            `last ${JSON.stringify(last?.data?.slice(0, 80) ?? null)}, mock cut: ${cut})`;
    }
}
