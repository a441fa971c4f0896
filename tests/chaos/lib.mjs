// Shared pieces of the chaos driver: the seeded random streams, bounded waiting, an HTTP/1.1
// response parser for raw sockets, and a small request helper for the admin and status ports.
//
// Every random decision of the run comes from a Rng made by rngFor(seed, actor): each actor
// (one client loop, the admin operator, the backend switcher, ...) has its own stream, so its
// sequence of decisions replays under the same seed whatever the timing does to the others.

import http from "node:http";

// mulberry32: small, fast, good enough for test decisions; seeded from the run seed and a name.
export class Rng {
    constructor(seed) {
        this.state = seed >>> 0;
    }

    next() {
        let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }

    // An integer in [lo, hi].
    int(lo, hi) {
        return lo + Math.floor(this.next() * (hi - lo + 1));
    }

    chance(p) {
        return this.next() < p;
    }

    pick(list) {
        return list[Math.floor(this.next() * list.length)];
    }

    // weighted([[weight, value], ...])
    weighted(pairs) {
        const total = pairs.reduce((sum, [w]) => sum + w, 0);
        let x = this.next() * total;
        for (const [w, value] of pairs) {
            if ((x -= w) < 0) return value;
        }
        return pairs[pairs.length - 1][1];
    }

    // A fresh stream seeded from this one: one draw here, however many draws there. A step
    // whose number of draws depends on timing or state takes a fork, so that this stream, and
    // with it every later step, replays identically.
    fork() {
        return new Rng(this.int(0, 0xffffffff));
    }

    // A subset of list with between min and max members, in list order.
    subset(list, min, max) {
        const count = this.int(min, Math.min(max, list.length));
        const chosen = new Set();
        while (chosen.size < count) chosen.add(this.int(0, list.length - 1));
        return list.filter((_, i) => chosen.has(i));
    }
}

// FNV-1a over the actor's name, mixed with the seed (splitmix32 finaliser).
export function rngFor(seed, actor) {
    let h = 0x811c9dc5;
    for (const c of actor) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    let z = (seed ^ h) >>> 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return new Rng((z ^ (z >>> 16)) >>> 0);
}

// Pacing only (think time, the gap between two operator actions); never to wait for a state.
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A FIFO mutex: acquire() resolves to its release function.
export function lock() {
    let tail = Promise.resolve();
    return {
        acquire() {
            let release;
            const next = new Promise((resolve) => { release = resolve; });
            const ready = tail.then(() => release);
            tail = tail.then(() => next);
            return ready;
        },
    };
}

// Polls check() until it returns a truthy value or timeoutMs passes; returns the last value.
export async function waitFor(check, { timeoutMs, intervalMs = 100 }) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await check();
        if (value || Date.now() >= deadline) return value;
        await sleep(intervalMs);
    }
}

// --- HTTP/1.1 responses on a raw socket ---------------------------------------------------

const CRLFCRLF = Buffer.from("\r\n\r\n");

// Incremental parser for a sequence of responses on one connection. push() returns the
// responses completed by the new bytes; end() is called when the connection closes.
// A response: {status, headers (lower-case names), head, body (Buffer), framing, complete,
// cleanEnd (chunked terminator seen)}. `current` is the response still being read, if any.
export class ResponseParser {
    constructor() {
        this.buffer = Buffer.alloc(0);
        this.current = null;
        this.error = null;
    }

    push(chunk) {
        this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
        const done = [];
        while (!this.error) {
            if (!this.current) {
                const end = this.buffer.indexOf(CRLFCRLF);
                if (end < 0) {
                    if (this.buffer.length > 256 * 1024) this.error = "response head over 256 KiB";
                    break;
                }
                const head = this.buffer.subarray(0, end).toString("latin1");
                this.buffer = this.buffer.subarray(end + 4);
                if (!this.startResponse(head)) break;
                if (this.current.status >= 100 && this.current.status < 200) {
                    this.current = null;  // 100 Continue and friends
                    continue;
                }
            }
            if (!this.readBody()) break;
            const response = this.current;
            response.complete = true;
            response.body = Buffer.concat(response.parts);
            delete response.parts;
            this.current = null;
            done.push(response);
        }
        return done;
    }

    startResponse(head) {
        const lines = head.split("\r\n");
        const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
        if (!m) {
            this.error = `bad status line ${JSON.stringify(lines[0].slice(0, 80))}`;
            return false;
        }
        const headers = {};
        for (const line of lines.slice(1)) {
            const colon = line.indexOf(":");
            if (colon <= 0) {
                this.error = `bad header line ${JSON.stringify(line.slice(0, 80))}`;
                return false;
            }
            const name = line.slice(0, colon).trim().toLowerCase();
            const value = line.slice(colon + 1).trim();
            headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
        }
        const status = Number(m[1]);
        let framing = "close";
        let remaining = 0;
        if (status === 204 || status === 304) {
            framing = "none";
        } else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
            framing = "chunked";
        } else if (headers["content-length"] !== undefined) {
            framing = "length";
            remaining = Number(headers["content-length"]);
            if (!Number.isSafeInteger(remaining) || remaining < 0) {
                this.error = `bad content-length ${headers["content-length"]}`;
                return false;
            }
        }
        this.current = {
            status, headers, head, framing, remaining, parts: [], bodyLength: 0,
            chunkState: "size", complete: false, cleanEnd: false,
        };
        return true;
    }

    take(n) {
        const part = this.buffer.subarray(0, n);
        this.buffer = this.buffer.subarray(n);
        this.current.parts.push(part);
        this.current.bodyLength += part.length;
    }

    // True when the current response's body is complete.
    readBody() {
        const r = this.current;
        if (r.framing === "none") return true;
        if (r.framing === "length") {
            const n = Math.min(r.remaining, this.buffer.length);
            if (n > 0) this.take(n);
            r.remaining -= n;
            return r.remaining === 0;
        }
        if (r.framing === "close") {
            if (this.buffer.length) this.take(this.buffer.length);
            return false;
        }
        for (;;) {  // chunked
            if (r.chunkState === "size" || r.chunkState === "trailer") {
                const eol = this.buffer.indexOf("\r\n");
                if (eol < 0) return false;
                const line = this.buffer.subarray(0, eol).toString("latin1");
                this.buffer = this.buffer.subarray(eol + 2);
                if (r.chunkState === "trailer") {
                    if (line === "") {
                        r.cleanEnd = true;
                        return true;
                    }
                    continue;
                }
                const size = parseInt(line.split(";")[0], 16);
                if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]/.test(line)) {
                    this.error = `bad chunk size line ${JSON.stringify(line.slice(0, 40))}`;
                    return false;
                }
                if (size === 0) {
                    r.chunkState = "trailer";
                } else {
                    r.remaining = size;
                    r.chunkState = "data";
                }
            } else if (r.chunkState === "data") {
                const n = Math.min(r.remaining, this.buffer.length);
                if (n > 0) this.take(n);
                r.remaining -= n;
                if (r.remaining > 0) return false;
                r.chunkState = "crlf";
            } else {  // crlf after a chunk's data
                if (this.buffer.length < 2) return false;
                if (this.buffer[0] !== 13 || this.buffer[1] !== 10) {
                    this.error = "chunk data not followed by CRLF";
                    return false;
                }
                this.buffer = this.buffer.subarray(2);
                r.chunkState = "size";
            }
        }
    }

    // The connection closed: a close-delimited body is complete now; returns it, if any.
    end() {
        const r = this.current;
        if (r && r.framing === "close" && !this.error) {
            r.complete = true;
            r.body = Buffer.concat(r.parts);
            delete r.parts;
            this.current = null;
            return r;
        }
        return null;
    }
}

// One HTTP/1.1 request as bytes. headers: [[name, value], ...].
export function rawRequest(method, path, headers, body = "") {
    const bodyBytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
    let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
    for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
    if (bodyBytes.length || method === "POST" || method === "PUT") {
        head += `Content-Length: ${bodyBytes.length}\r\n`;
    }
    return Buffer.concat([Buffer.from(head + "\r\n", "latin1"), bodyBytes]);
}

// The SSE events of a (de-chunked) event-stream body: [{event, data}].
export function sseEvents(text) {
    const events = [];
    for (const block of text.split(/\r?\n\r?\n/)) {
        if (!block.trim()) continue;
        let event = "message";
        const data = [];
        for (const line of block.split(/\r?\n/)) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        events.push({ event, data: data.join("\n") });
    }
    return events;
}

// --- plain requests to the admin and status listeners --------------------------------------

// Resolves {status, headers, text, json} or {error}; never rejects. Bounded by timeoutMs.
export function request(port, method, path, { headers = {}, body, timeoutMs = 10000 } = {}) {
    return new Promise((resolve) => {
        const data = body === undefined ? undefined
            : Buffer.isBuffer(body) || typeof body === "string" ? body : JSON.stringify(body);
        const req = http.request({
            host: "127.0.0.1", port, method, path, agent: false,
            headers: data === undefined ? headers : { ...headers, "Content-Length": Buffer.byteLength(data) },
        }, (res) => {
            const parts = [];
            res.on("data", (c) => parts.push(c));
            res.on("end", () => {
                clearTimeout(timer);
                const text = Buffer.concat(parts).toString("utf8");
                let json;
                try { json = JSON.parse(text); } catch { json = undefined; }
                resolve({ status: res.statusCode, headers: res.headers, text, json });
            });
            res.on("error", (e) => { clearTimeout(timer); resolve({ error: e.code ?? e.message }); });
        });
        const timer = setTimeout(() => req.destroy(new Error("timeout")), timeoutMs);
        req.on("error", (e) => { clearTimeout(timer); resolve({ error: e.code ?? e.message }); });
        if (data !== undefined) req.write(data);
        req.end();
    });
}

// Prometheus text -> Map("name{labels}" -> number); labels kept as written by the daemon.
export function parseMetrics(text) {
    const out = new Map();
    for (const line of text.split("\n")) {
        if (!line || line.startsWith("#")) continue;
        const space = line.lastIndexOf(" ");
        out.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
    return out;
}

export function fmtMs(ms) {
    if (ms >= 10000) return `${(ms / 1000).toFixed(0)}s`;
    return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}
