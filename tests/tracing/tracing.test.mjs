// Tracing end to end: aiproxyd (started here on port 0, path in AIPROXYD, scratch dir in
// E2E_TMP) sends its spans to the OTLP receiver in otlp_receiver.mjs, which checks each batch
// against the official OTLP protobuf definitions. Mock upstreams here record the traceparent
// they receive, so trace continuity is checked from the client's header to the upstream's.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { startGateway, stopGateway, assertDrained } from '../e2e/sdk_lib.mjs';
import { startReceiver, waitForTrace } from './otlp_receiver.mjs';

const aiproxyd = process.env.AIPROXYD;
const tmp = process.env.E2E_TMP;
assert.ok(aiproxyd && tmp, 'AIPROXYD and E2E_TMP must be set (run through tracing.sh)');

const kKey = 'k-alice';
const kServedModel = 'gpt-4o-mini';
const kTraceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const kParentId = '00f067aa0ba902b7';

// ---- Mock upstreams ----------------------------------------------------------------------------

// An OpenAI-compatible backend that records what it receives; `status` other than 200 answers
// every request with that error.
async function startMock(status) {
    const mock = { received: [], port: 0 };
    mock.server = createServer((req, res) => {
        const chunks = [];
        req.on('data', (chunk) => chunks.push(chunk));
        req.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
            mock.received.push({ headers: req.headers, body });
            if (status !== 200) {
                res.writeHead(status, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ error: { message: 'mock failure', type: 'server_error' } }));
                return;
            }
            const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
            if (body.stream) {
                res.writeHead(200, { 'content-type': 'text/event-stream' });
                const chunk = (delta, extra = {}) => `data: ${JSON.stringify({
                    id: 'c1', object: 'chat.completion.chunk', model: kServedModel,
                    choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
                res.write(chunk({ role: 'assistant' }));
                res.write(chunk({ content: 'Hel' }));
                res.write(chunk({ content: 'lo' }));
                res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk',
                    model: kServedModel, choices: [], usage })}\n\n`);
                res.end('data: [DONE]\n\n');
                return;
            }
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({
                id: 'c1', object: 'chat.completion', model: kServedModel,
                choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' },
                    finish_reason: 'stop' }],
                usage,
            }));
        });
    });
    await new Promise((resolve) => mock.server.listen(0, '127.0.0.1', resolve));
    mock.port = mock.server.address().port;
    return mock;
}

// ---- The gateway -------------------------------------------------------------------------------

function writeConfig(name, { collectorPort, failingPort, answeringPort, maxQueue = 1024 }) {
    const dir = join(tmp, name);
    const path = join(tmp, `${name}.yaml`);
    const yaml = `server:
  listen: ["127.0.0.1:0"]
  workers: 1
  drain_timeout: 5
status:
  listen: "127.0.0.1:0"
admin:
  enabled: false
storage:
  data_dir: "${join(dir, 'data')}"
pricing:
  ${kServedModel}: {input_per_mtok: 0.15, output_per_mtok: 0.6}
tracing:
  endpoint: "http://127.0.0.1:${collectorPort}"
  headers: {x-tenant: tests}
  batch: {max_spans: 64, max_delay_ms: 50, max_queue: ${maxQueue}}
consumers:
  - username: alice
    plugins: {key-auth: {key: ${kKey}}}
upstreams:
  - id: primary
    nodes: {"127.0.0.1:${failingPort}": 1}
  - id: fallback
    nodes: {"127.0.0.1:${answeringPort}": 1}
routes:
  - id: chat
    uri: /llm/*
    plugins:
      key-auth: {}
      ai-proxy: {upstream_id: primary, upstream_fallback_id: fallback, timeout: 10000, retry: 1}
  - id: direct
    uri: /direct/*
    plugins:
      key-auth: {}
      ai-proxy: {upstream_id: fallback, timeout: 10000}
`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, yaml);
    return path;
}

// The status port, from the line the daemon logs when its status endpoint listens.
async function statusUrl(logPath) {
    for (let i = 0; i < 200; ++i) {
        const match = readFileSync(logPath, 'utf8').match(/status endpoint on \S+:(\d+)\D/);
        if (match) return `http://127.0.0.1:${match[1]}`;
        await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the daemon never logged its status endpoint');
}

async function metric(url, name) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const match = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
    assert.ok(match, `${name} is in /metrics`);
    return Number(match[1]);
}

function chat(gatewayUrl, prefix, { traceparent, tracestate, stream = false } = {}) {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${kKey}` };
    if (traceparent) headers.traceparent = traceparent;
    if (tracestate) headers.tracestate = tracestate;
    return fetch(`${gatewayUrl}/${prefix}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: 'gpt-4o-mini', stream,
            messages: [{ role: 'user', content: 'Hello' }] }),
    });
}

function parseTraceparent(header) {
    const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(header ?? '');
    assert.ok(match, `a valid traceparent reached the upstream: ${header}`);
    return { traceId: match[1], spanId: match[2], sampled: match[3] === '01' };
}

// ---- Tests -------------------------------------------------------------------------------------

let receiver;
let failing;
let answering;
let gateway;
let gatewayUrl;
let logPath;

before(async () => {
    receiver = await startReceiver();
    failing = await startMock(500);
    answering = await startMock(200);
    logPath = join(tmp, 'aiproxyd.log');
    const config = writeConfig('main', { collectorPort: receiver.port, failingPort: failing.port,
        answeringPort: answering.port });
    gateway = await startGateway(aiproxyd, config, logPath);
    gatewayUrl = gateway.url;
});

after(async () => {
    if (gateway) await stopGateway(gateway).catch(() => {});
    for (const server of [receiver?.server, failing?.server, answering?.server]) {
        server?.closeAllConnections();
        server?.close();
    }
});

test('a fallback is one trace: server span, stage spans, an attempt span per upstream try',
    async () => {
        failing.received.length = 0;
        answering.received.length = 0;
        const response = await chat(gatewayUrl, 'llm', {
            traceparent: `00-${kTraceId}-${kParentId}-01`, tracestate: 'vendor=abc,other=1' });
        assert.equal(response.status, 200);
        await response.json();
        assert.match(response.headers.get('x-aiproxy-trace'),
            /^primary:500:\d+ms,fallback:200:ttft=\d+ms$/, 'X-AIProxy-Trace stays as it was');

        // Trace continuity: both upstreams see the client's trace id, each with its own parent.
        const toPrimary = parseTraceparent(failing.received[0].headers.traceparent);
        const toFallback = parseTraceparent(answering.received[0].headers.traceparent);
        assert.equal(toPrimary.traceId, kTraceId);
        assert.equal(toFallback.traceId, kTraceId);
        assert.ok(toPrimary.sampled && toFallback.sampled);
        assert.notEqual(toPrimary.spanId, toFallback.spanId);
        assert.notEqual(toPrimary.spanId, kParentId);
        assert.equal(answering.received[0].headers.tracestate, 'vendor=abc,other=1');

        // server, key-auth, ai-proxy, two attempts
        const spans = await waitForTrace(receiver, kTraceId, 5);
        assert.equal(spans.length, 5);
        const byName = (name) => spans.filter((span) => span.name === name);
        const [server] = spans.filter((span) => span.kind === 2);
        assert.ok(server, 'one server span');
        assert.equal(server.parentSpanId, kParentId, 'the server span continues the client span');
        assert.equal(server.traceState, 'vendor=abc,other=1');
        assert.equal(server.name, 'POST chat');
        assert.equal(server.resource['service.name'], 'aiproxyd');
        assert.equal(server.attrs['aiproxy.route'], 'chat');
        assert.equal(server.attrs['aiproxy.upstream'], 'fallback');
        assert.equal(server.attrs['http.response.status_code'], 200);
        assert.equal(server.attrs['gen_ai.operation.name'], 'chat');
        assert.equal(server.attrs['gen_ai.request.model'], 'gpt-4o-mini');
        assert.equal(server.attrs['gen_ai.response.model'], kServedModel);
        assert.equal(server.attrs['gen_ai.usage.input_tokens'], 11);
        assert.equal(server.attrs['gen_ai.usage.output_tokens'], 7);
        assert.ok(server.attrs['aiproxy.cost_usd'] > 0);
        assert.equal(server.attrs['aiproxy.request.body'], undefined, 'no prompt text by default');

        const [keyAuth] = byName('key-auth');
        const [proxy] = byName('ai-proxy');
        assert.ok(keyAuth && proxy, 'a span per stage that ran');
        assert.equal(keyAuth.parentSpanId, server.spanId);
        assert.equal(proxy.parentSpanId, server.spanId);
        assert.equal(keyAuth.kind, 1);

        const attempts = spans.filter((span) => span.kind === 3)
            .sort((a, b) => a.attrs['aiproxy.attempt'] - b.attrs['aiproxy.attempt']);
        assert.equal(attempts.length, 2);
        for (const attempt of attempts) {
            assert.equal(attempt.parentSpanId, proxy.spanId);
            assert.equal(attempt.name, 'chat gpt-4o-mini');
            assert.equal(attempt.attrs['gen_ai.operation.name'], 'chat');
            assert.equal(attempt.attrs['gen_ai.provider.name'], 'openai-compatible');
            assert.equal(attempt.attrs['gen_ai.request.model'], 'gpt-4o-mini');
            assert.equal(attempt.attrs['server.address'], '127.0.0.1');
        }
        const [first, second] = attempts;
        assert.equal(first.spanId, toPrimary.spanId, 'the primary saw the first attempt as parent');
        assert.equal(second.spanId, toFallback.spanId, 'the fallback saw the second attempt');
        assert.equal(first.attrs['aiproxy.attempt'], 1);
        assert.equal(first.attrs['aiproxy.upstream'], 'primary');
        assert.equal(first.attrs['aiproxy.node'], `127.0.0.1:${failing.port}`);
        assert.equal(first.attrs['server.port'], failing.port);
        assert.equal(first.attrs['aiproxy.attempt.outcome'], 'status_5xx');
        assert.equal(first.attrs['http.response.status_code'], 500);
        assert.equal(first.attrs['error.type'], '500');
        assert.equal(first.status.code, 2);
        assert.equal(second.attrs['aiproxy.attempt'], 2);
        assert.equal(second.attrs['aiproxy.upstream'], 'fallback');
        assert.equal(second.attrs['aiproxy.attempt.outcome'], 'success');
        assert.equal(second.attrs['http.response.status_code'], 200);
        assert.equal(second.attrs['error.type'], undefined);
        assert.equal(second.attrs['gen_ai.usage.input_tokens'], 11);
        assert.equal(second.attrs['gen_ai.response.model'], kServedModel);
        assert.ok(BigInt(first.endTimeUnixNano) <= BigInt(second.startTimeUnixNano),
            'attempts in order');
        assert.ok(BigInt(server.startTimeUnixNano) <= BigInt(first.startTimeUnixNano));
        assert.ok(BigInt(server.endTimeUnixNano) >= BigInt(second.endTimeUnixNano));
        assert.deepEqual(receiver.errors, []);
        assert.equal(receiver.requests[0].headers['x-tenant'], 'tests', 'tracing.headers are sent');
    });

test('a stream is traced with its time to first token', async () => {
    const traceId = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1';
    const response = await chat(gatewayUrl, 'direct', {
        traceparent: `00-${traceId}-${kParentId}-01`, stream: true });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /\[DONE\]/);
    const spans = await waitForTrace(receiver, traceId, 4);
    const server = spans.find((span) => span.kind === 2);
    const attempts = spans.filter((span) => span.kind === 3);
    assert.deepEqual(spans.map((span) => span.name).sort(),
        ['POST direct', 'ai-proxy', 'chat gpt-4o-mini', 'key-auth']);
    assert.equal(attempts.length, 1);
    assert.equal(server.attrs['aiproxy.stream'], 'complete');
    assert.equal(server.attrs['gen_ai.usage.output_tokens'], 7);
    assert.equal(attempts[0].attrs['aiproxy.attempt.outcome'], 'success');
    assert.equal(typeof attempts[0].attrs['aiproxy.ttft_ms'], 'number');
    assert.ok(attempts[0].attrs['aiproxy.ttft_ms'] >= 0);
    assert.deepEqual(receiver.errors, []);
});

test('a malformed traceparent is replaced by a new trace, never forwarded', async () => {
    answering.received.length = 0;
    const bad = '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01';  // uppercase
    const response = await chat(gatewayUrl, 'direct', { traceparent: bad, tracestate: 'a=b' });
    assert.equal(response.status, 200);
    await response.json();
    const sent = answering.received[0].headers;
    const forwarded = parseTraceparent(sent.traceparent);
    assert.notEqual(forwarded.traceId, kTraceId);
    assert.ok(forwarded.sampled, 'a new trace is sampled at ratio 1');
    assert.equal(sent.tracestate, undefined, 'its tracestate goes with it');
    const spans = await waitForTrace(receiver, forwarded.traceId, 4);
    const server = spans.find((span) => span.kind === 2);
    assert.equal(server.parentSpanId, undefined, 'a new trace starts at the gateway');
});

test('an unsampled caller is honoured: ids go upstream, no spans are sent', async () => {
    answering.received.length = 0;
    const unsampled = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2';
    let response = await chat(gatewayUrl, 'direct', { traceparent: `00-${unsampled}-${kParentId}-00` });
    assert.equal(response.status, 200);
    await response.json();
    const forwarded = parseTraceparent(answering.received[0].headers.traceparent);
    assert.equal(forwarded.traceId, unsampled);
    assert.equal(forwarded.sampled, false);
    // A sampled request after it: its spans arriving means the earlier ones would have too.
    const later = 'ccccccccccccccccccccccccccccccc3';
    response = await chat(gatewayUrl, 'direct', { traceparent: `00-${later}-${kParentId}-01` });
    await response.json();
    await waitForTrace(receiver, later, 4);
    assert.equal(receiver.spans.filter((span) => span.traceId === unsampled).length, 0);
});

test('the access log carries trace_id and span_id', async () => {
    const traceId = 'ddddddddddddddddddddddddddddddd4';
    const response = await chat(gatewayUrl, 'direct', { traceparent: `00-${traceId}-${kParentId}-01` });
    await response.json();
    const requestId = response.headers.get('x-request-id');
    const spans = await waitForTrace(receiver, traceId, 4);
    const server = spans.find((span) => span.kind === 2);
    const status = await stopGateway(gateway);
    gateway = null;
    assertDrained(status);
    const line = readFileSync(logPath, 'utf8').split('\n')
        .filter((text) => text.startsWith('{'))
        .map((text) => JSON.parse(text))
        .find((record) => record.request_id === requestId);
    assert.ok(line, 'the request has an access log line');
    assert.equal(line.trace_id, traceId);
    assert.equal(line.span_id, server.spanId);
    const keys = Object.keys(line);
    assert.deepEqual(keys.slice(0, 4), ['time', 'request_id', 'trace_id', 'span_id']);
});

test('a collector that is down costs requests nothing; dropped spans are counted', async () => {
    // A port that refuses connections: listen, note it, close.
    const probe = createServer();
    await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const downPort = probe.address().port;
    await new Promise((resolve) => probe.close(resolve));
    const config = writeConfig('down', { collectorPort: downPort, failingPort: failing.port,
        answeringPort: answering.port, maxQueue: 64 });
    const down = await startGateway(aiproxyd, config, join(tmp, 'aiproxyd-down.log'));
    try {
        const status = await statusUrl(join(tmp, 'aiproxyd-down.log'));
        for (let i = 0; i < 10; ++i) {
            const response = await chat(down.url, 'direct', { stream: i % 2 === 1 });
            assert.equal(response.status, 200);
            await response.text();
        }
        // 10 requests of 4 spans each: every one of them is dropped, by the queue or the export.
        let dropped = 0;
        for (let i = 0; i < 400 && dropped < 40; ++i) {
            dropped = await metric(status, 'aiproxy_trace_spans_dropped_total');
            if (dropped < 40) await new Promise((resolve) => setTimeout(resolve, 25));
        }
        assert.equal(dropped, 40);
        assert.equal(await metric(status, 'aiproxy_trace_spans_exported_total'), 0);
    } finally {
        assertDrained(await stopGateway(down));
    }
});
