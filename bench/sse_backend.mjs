// The streaming backend of the benchmark: POST /v1/chat/completions with "stream": true answers
// an OpenAI-shaped SSE stream of EVENTS content chunks, a finish chunk and "data: [DONE]";
// without "stream": true it answers one fixed chat completion. Standard library only.
//
// GAP_MS = 0 sends the whole stream in one write (a burst: every event arrives together);
// GAP_MS > 0 sends the first event at once and each next one GAP_MS later (paced). A request
// may override both with the headers X-Bench-Gap-Ms and X-Bench-Events (bench/streams.sh does).
//
// usage: node bench/sse_backend.mjs [--port P] [--events N] [--gap-ms G]
// Prints "listening on 127.0.0.1:PORT" once it accepts connections (port 0 picks a free one).
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
    options: {
        port: { type: 'string', default: '0' },
        events: { type: 'string', default: '20' },
        'gap-ms': { type: 'string', default: '0' },
    },
});

const kMaxEvents = 100_000;  // bounds every stream: at most this many timer ticks
const kMaxGapMs = 60_000;

function bounded(text, fallback, max) {
    const value = Number.parseInt(text ?? '', 10);
    return Number.isInteger(value) && value >= 0 && value <= max ? value : fallback;
}

const defaultEvents = bounded(args.events, 20, kMaxEvents);
const defaultGapMs = bounded(args['gap-ms'], 0, kMaxGapMs);

const chunkHead = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,' +
    '"model":"gpt-4o-mini","choices":[{"index":0,';
const contentEvent = (i) =>
    `data: ${chunkHead}"delta":{"content":"word${i % 10} "},"finish_reason":null}]}\n\n`;
const finishEvent = `data: ${chunkHead}"delta":{},"finish_reason":"stop"}]}\n\n`;
const doneEvent = 'data: [DONE]\n\n';
const completion = '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,' +
    '"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant",' +
    '"content":"Hello from the bench backend."},"finish_reason":"stop"}],' +
    '"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15}}';

// The events of one stream, content chunks then finish and [DONE]; bursts are built once.
const eventAt = (i, events) => (i < events ? contentEvent(i) : i === events ? finishEvent : doneEvent);
const burstBodies = new Map();
function burstBody(events) {
    let body = burstBodies.get(events);
    if (body === undefined) {
        body = '';
        for (let i = 0; i < events + 2; i++) body += eventAt(i, events);
        if (burstBodies.size < 64) burstBodies.set(events, body);
    }
    return body;
}

const sseHeaders = {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'Transfer-Encoding': 'chunked',  // as the real APIs stream; end(body) is one chunked write
};

function stream(req, res) {
    const events = bounded(req.headers['x-bench-events'], defaultEvents, kMaxEvents);
    const gapMs = bounded(req.headers['x-bench-gap-ms'], defaultGapMs, kMaxGapMs);
    res.writeHead(200, sseHeaders);
    if (gapMs === 0) {
        res.end(burstBody(events));
        return;
    }
    const last = events + 1;
    let next = 0;
    let timer = null;
    const tick = () => {
        if (next === last) {
            res.end(eventAt(next, events));
            return;
        }
        res.write(eventAt(next++, events));
        timer = setTimeout(tick, gapMs);
    };
    res.on('close', () => clearTimeout(timer));  // the client left: stop at once
    tick();
}

const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
        return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (part) => {
        if (body.length < 65536) body += part;  // a chat request; the rest is not looked at
    });
    req.on('end', () => {
        if (/"stream"\s*:\s*true/.test(body)) {
            stream(req, res);
        } else {
            res.writeHead(200, { 'Content-Type': 'application/json' }).end(completion);
        }
    });
});
// The proxies keep idle connections to us for as long as they like: a backend that closes them
// first races their next request and shows up as proxy errors, not as backend cost.
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
server.headersTimeout = 60_000;
server.listen({ host: '127.0.0.1', port: bounded(args.port, 0, 65535), backlog: 4096 }, () => {
    console.log(`listening on 127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
        server.close();
        server.closeAllConnections();
        process.exit(0);
    });
}
