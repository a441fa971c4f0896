// The official openai SDK pointed at aiproxyd, as an application would use it. Started by
// openai_sdk.sh, which provides AIPROXYD, E2E_TMP and the mocks' URLs in the environment; this
// file writes the daemon's config with the mocks' ports and runs aiproxyd itself, on port 0, its
// output in $E2E_TMP/aiproxyd.log.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import {
    anthropicUpstreamEntry, assertDrained, clientOptions, kTimeoutMs, readChatStream, routeEntry,
    startGateway, stopGateway, upstreamEntry, writeGatewayConfig,
} from './sdk_lib.mjs';

const aiproxyd = process.env.AIPROXYD;
const tmp = process.env.E2E_TMP;
assert.ok(aiproxyd && tmp, 'AIPROXYD and E2E_TMP must be set (run through openai_sdk.sh)');

const messages = [{ role: 'user', content: 'Hello' }];
const mockPort = (envName) => new URL(process.env[envName]).port;

let gateway;
let gatewayUrl;
let llm;
// The route /claude/* goes to a mock speaking Anthropic's Messages API, which answers only with
// the upstream's own key: the gateway translates both ways and the SDK never notices.
let claude;

function client(prefix) {
    return new OpenAI(clientOptions(`${gatewayUrl}/${prefix}`, 'sk-test'));
}

before(async () => {
    const configPath = writeGatewayConfig(tmp, {
        upstreams: [
            upstreamEntry('primary', mockPort('MOCK_PRIMARY_URL')),
            upstreamEntry('fallback', mockPort('MOCK_FALLBACK_URL')),
            upstreamEntry('unavailable', mockPort('MOCK_UNAVAILABLE_URL')),
            upstreamEntry('unauthorized', mockPort('MOCK_UNAUTHORIZED_URL')),
            anthropicUpstreamEntry('claude', mockPort('MOCK_ANTHROPIC_URL'), 'sk-ant-e2e'),
        ],
        routes: [
            routeEntry('llm', '/llm/*', { upstream: 'primary', fallback: 'fallback', retry: 1 }),
            routeEntry('degraded', '/degraded/*',
                { upstream: 'unavailable', fallback: 'fallback', retry: 1 }),
            routeEntry('claude', '/claude/*', { upstream: 'claude' }),
            routeEntry('bad', '/bad/*', { upstream: 'unauthorized' }),
            // The mock streams one word per event, 20 ms apart: "secret is <word>" spans three.
            // A long pause bound keeps a slow machine from flushing the middle of a match.
            [routeEntry('redacted', '/redacted/*', { upstream: 'primary' }),
                '      ai-response-rewrite:',
                '        redact: [{pattern: "secret is \\\\w+", replace: "secret is [REDACTED]"}]',
                '        append_text: " (AI)"',
                '        max_holdback_ms: 5000'].join('\n'),
        ],
    });
    gateway = await startGateway(aiproxyd, configPath, join(tmp, 'aiproxyd.log'));
    gatewayUrl = gateway.url;
    llm = client('llm');
    claude = client('claude');
});

after(async () => {
    if (gateway) assertDrained(await stopGateway(gateway));
});

// The mock's own view: request counters and the last request it received.
async function mockStats(envName) {
    const response = await fetch(`${process.env[envName]}/_mock/stats`);
    assert.equal(response.status, 200);
    return response.json();
}

test('chat completion is answered by the primary upstream', { timeout: kTimeoutMs }, async () => {
    const { data, response } = await llm.chat.completions
        .create({ model: 'gpt-4o-mini', messages })
        .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.match(data.choices[0].message.content, /^\[primary-mock\] /);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.ok(data.usage.total_tokens > 0);
    assert.equal(response.headers.get('x-aiproxy-upstream'), 'primary');
    assert.equal(response.headers.get('x-aiproxy-attempts'), '1');
    assert.ok(data._request_id, 'X-Request-Id reaches the SDK');

    const upstream = (await mockStats('MOCK_PRIMARY_URL')).last_request;
    assert.equal(upstream.method, 'POST');
    assert.equal(upstream.target, '/v1/chat/completions');
    assert.equal(upstream.headers['authorization'], 'Bearer sk-test');
    assert.equal(upstream.headers['host'], new URL(process.env.MOCK_PRIMARY_URL).host);
    assert.equal(upstream.headers['x-request-id'], data._request_id);
    assert.equal(upstream.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(upstream.headers['x-forwarded-proto'], 'http');
    assert.equal(upstream.headers['x-forwarded-host'], new URL(gatewayUrl).host);
    assert.deepEqual(JSON.parse(upstream.body).messages, messages);
});

test('streaming chat relays every delta, the finish reason and usage', { timeout: kTimeoutMs },
    async () => {
        const stream = await llm.chat.completions.create({
            model: 'gpt-4o-mini',
            messages,
            stream: true,
            stream_options: { include_usage: true },
        });
        const { text, chunks, finishReason, usage } = await readChatStream(stream);
        assert.ok(chunks > 2, `expected several chunks, got ${chunks}`);
        assert.match(text, /^\[primary-mock\] .+/);
        assert.equal(finishReason, 'stop');
        assert.ok(usage, 'include_usage yields a usage chunk');
        assert.ok(usage.completion_tokens > 0);
        assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    });

test('a redacting route rewrites a streamed answer across deltas', { timeout: kTimeoutMs },
    async () => {
        const redacted = client('redacted');
        const stream = await redacted.chat.completions.create({
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: 'my secret is hunter2 okay' }],
            stream: true,
            stream_options: { include_usage: true },
        });
        const { text, finishReason, usage } = await readChatStream(stream);
        assert.match(text, /^\[primary-mock\] .* You said: my secret is \[REDACTED\] okay \(AI\)$/);
        assert.ok(!text.includes('hunter2'), text);
        assert.equal(finishReason, 'stop');
        assert.ok(usage && usage.completion_tokens > 0, 'usage is the upstream\'s');

        const plain = await redacted.chat.completions.create({
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: 'the secret is swordfish' }],
        });
        assert.match(plain.choices[0].message.content,
            /You said: the secret is \[REDACTED\] \(AI\)$/);
    });

test('embeddings come back as vectors', { timeout: kTimeoutMs }, async () => {
    const result = await llm.embeddings.create({
        model: 'text-embedding-3-small',
        input: ['first', 'second'],
        encoding_format: 'float',
    });
    assert.equal(result.object, 'list');
    assert.equal(result.data.length, 2);
    for (const [index, item] of result.data.entries()) {
        assert.equal(item.index, index);
        assert.ok(item.embedding.length > 0);
        assert.ok(item.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
    }
});

test('embeddings in the SDK default base64 encoding are decoded', { timeout: kTimeoutMs },
    async () => {
        const result = await llm.embeddings.create({
            model: 'text-embedding-3-small',
            input: 'hello',
        });
        assert.equal(result.data.length, 1);
        assert.ok(result.data[0].embedding.length > 0);
        assert.ok(result.data[0].embedding.every((x) => Number.isFinite(x)));
    });

test('models.list pages through the models', { timeout: kTimeoutMs }, async () => {
    const ids = [];
    for await (const model of llm.models.list()) ids.push(model.id);
    assert.ok(ids.length > 0);
    assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0));
});

test('a 401 from the upstream is an AuthenticationError, not retried', { timeout: kTimeoutMs },
    async () => {
        await assert.rejects(
            client('bad').chat.completions.create({ model: 'gpt-4o-mini', messages }),
            (error) => {
                assert.ok(error instanceof OpenAI.AuthenticationError, `got ${error}`);
                assert.equal(error.status, 401);
                assert.equal(error.headers.get('x-aiproxy-upstream'), 'unauthorized');
                assert.equal(error.headers.get('x-aiproxy-attempts'), '1');
                return true;
            });
        assert.equal((await mockStats('MOCK_UNAUTHORIZED_URL')).requests, 1);
    });

test('an unknown route is a NotFoundError with the gateway error code', { timeout: kTimeoutMs },
    async () => {
        await assert.rejects(
            client('nope').models.list(),
            (error) => {
                assert.ok(error instanceof OpenAI.NotFoundError, `got ${error}`);
                assert.equal(error.status, 404);
                assert.equal(error.code, 'route_not_found');
                assert.equal(error.type, 'invalid_request_error');
                return true;
            });
    });

test('a 503 primary falls back to the fallback upstream', { timeout: kTimeoutMs }, async () => {
    const degraded = client('degraded');
    const { data, response } = await degraded.chat.completions
        .create({ model: 'gpt-4o-mini', messages })
        .withResponse();
    assert.match(data.choices[0].message.content, /^\[fallback-mock\] /);
    assert.equal(response.headers.get('x-aiproxy-upstream'), 'fallback');
    assert.equal(response.headers.get('x-aiproxy-attempts'), '2');
    const unavailable = await mockStats('MOCK_UNAVAILABLE_URL');
    assert.equal(unavailable.requests, 1);
    assert.equal(unavailable.last_request.target, '/v1/chat/completions');

    const stream = await degraded.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.match(text, /^\[fallback-mock\] .+/);
});

async function expectAnthropicUpstreamRequest(stream) {
    const upstream = (await mockStats('MOCK_ANTHROPIC_URL')).last_request;
    assert.equal(upstream.method, 'POST');
    assert.equal(upstream.target, '/v1/messages');
    assert.equal(upstream.headers['x-api-key'], 'sk-ant-e2e');
    assert.ok(upstream.headers['anthropic-version'], 'anthropic-version is sent');
    assert.equal(upstream.headers['authorization'], undefined, 'the client key stays home');
    const body = JSON.parse(upstream.body);
    assert.equal(body.model, 'claude-3-5-haiku-latest');
    assert.ok(Number.isInteger(body.max_tokens) && body.max_tokens > 0);
    assert.deepEqual(body.messages, [{ role: 'user', content: 'Hello' }]);
    assert.equal(body.stream === true, stream);
}

test('chat completion from an Anthropic upstream comes back in OpenAI shape',
    { timeout: kTimeoutMs }, async () => {
        const { data, response } = await claude.chat.completions
            .create({ model: 'claude-3-5-haiku-latest', messages })
            .withResponse();
        assert.equal(data.object, 'chat.completion');
        assert.equal(data.choices[0].message.role, 'assistant');
        assert.match(data.choices[0].message.content,
            /^\[anthropic-mock\] Hello from anthropic-mock\. You said: Hello$/);
        assert.equal(data.choices[0].finish_reason, 'stop');
        assert.equal(data.usage.prompt_tokens, 1);
        assert.ok(data.usage.completion_tokens > 0);
        assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);
        assert.equal(response.headers.get('x-aiproxy-upstream'), 'claude');
        await expectAnthropicUpstreamRequest(false);
    });

test('streaming chat from an Anthropic upstream is a valid chunk stream', { timeout: kTimeoutMs },
    async () => {
        const stream = await claude.chat.completions.create({
            model: 'claude-3-5-haiku-latest',
            messages,
            stream: true,
            stream_options: { include_usage: true },
        });
        const { text, chunks, finishReason, usage } = await readChatStream(stream);
        assert.ok(chunks > 2, `expected several chunks, got ${chunks}`);
        assert.equal(text, '[anthropic-mock] Hello from anthropic-mock. You said: Hello');
        assert.equal(finishReason, 'stop');
        assert.ok(usage, 'include_usage yields a usage chunk');
        assert.equal(usage.prompt_tokens, 1);
        assert.equal(usage.completion_tokens, text.split(' ').length);
        await expectAnthropicUpstreamRequest(true);
    });

// ---- The Responses API ---------------------------------------------------------------------------

// The text of a response's message items, as the SDK's output_text convenience computes it.
function outputText(response) {
    return response.output
        .filter((item) => item.type === 'message')
        .flatMap((item) => item.content)
        .filter((part) => part.type === 'output_text')
        .map((part) => part.text)
        .join('');
}

// Reads a `responses.create({stream: true})` stream: event types in order and the text deltas.
async function readResponsesStream(stream) {
    const types = [];
    let text = '';
    let completed = null;
    for await (const event of stream) {
        types.push(event.type);
        assert.equal(event.sequence_number, types.length - 1, `sequence of ${event.type}`);
        if (event.type === 'response.output_text.delta') text += event.delta;
        if (event.type === 'response.completed') completed = event.response;
    }
    return { types, text, completed };
}

test('responses.create is answered by the primary upstream with usage', { timeout: kTimeoutMs },
    async () => {
        const { data, response } = await llm.responses
            .create({ model: 'gpt-4.1-mini', input: 'Hello', instructions: 'Be brief.' })
            .withResponse();
        assert.equal(data.object, 'response');
        assert.equal(data.status, 'completed');
        assert.match(data.output_text, /^\[primary-mock\] Hello from primary-mock\. You said: Hello$/);
        assert.equal(data.output[0].role, 'assistant');
        assert.ok(data.usage.output_tokens > 0);
        assert.equal(data.usage.total_tokens, data.usage.input_tokens + data.usage.output_tokens);
        assert.equal(response.headers.get('x-aiproxy-upstream'), 'primary');
        const upstream = (await mockStats('MOCK_PRIMARY_URL')).last_request;
        assert.equal(upstream.target, '/v1/responses');
    });

test('responses.create with stream: true relays every event in order', { timeout: kTimeoutMs },
    async () => {
        const stream = await llm.responses.create({ model: 'gpt-4.1-mini', input: 'Hello',
            stream: true });
        const { types, text, completed } = await readResponsesStream(stream);
        assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress',
            'response.output_item.added', 'response.content_part.added']);
        assert.equal(types.at(-1), 'response.completed');
        assert.match(text, /^\[primary-mock\] Hello from primary-mock\. You said: Hello$/);
        assert.equal(outputText(completed), text);
        assert.ok(completed.usage.output_tokens > 0);
    });

// The route /claude/* goes to the Anthropic mock: the gateway translates the Responses request
// to /v1/messages and the answer back, so the SDK's own accumulating stream helper is satisfied.
async function expectAnthropicResponsesRequest(stream) {
    const upstream = (await mockStats('MOCK_ANTHROPIC_URL')).last_request;
    assert.equal(upstream.target, '/v1/messages');
    const body = JSON.parse(upstream.body);
    assert.equal(body.system, 'Be brief.');
    assert.equal(body.max_tokens, 100);
    assert.deepEqual(body.messages, [{ role: 'user', content: 'Hello' }]);
    assert.equal(body.stream === true, stream);
}

test('responses.create from an Anthropic upstream comes back as a response',
    { timeout: kTimeoutMs }, async () => {
        const data = await claude.responses.create({ model: 'claude-3-5-haiku-latest',
            input: 'Hello', instructions: 'Be brief.', max_output_tokens: 100 });
        assert.equal(data.object, 'response');
        assert.equal(data.status, 'completed');
        assert.equal(data.output_text,
            '[anthropic-mock] Hello from anthropic-mock. You said: Hello');
        assert.equal(data.usage.input_tokens, 3);  // "Hello" and "Be brief."
        assert.equal(data.usage.output_tokens, data.output_text.split(' ').length);
        await expectAnthropicResponsesRequest(false);
    });

test('a streamed response from an Anthropic upstream satisfies the SDK stream helper',
    { timeout: kTimeoutMs }, async () => {
        const stream = claude.responses.stream({ model: 'claude-3-5-haiku-latest',
            input: 'Hello', instructions: 'Be brief.', max_output_tokens: 100 });
        let deltas = '';
        stream.on('response.output_text.delta', (event) => { deltas += event.delta; });
        const final = await stream.finalResponse();
        assert.equal(final.status, 'completed');
        assert.equal(final.output_text, '[anthropic-mock] Hello from anthropic-mock. You said: Hello');
        assert.equal(deltas, final.output_text);
        assert.equal(final.usage.input_tokens, 3);
        assert.equal(final.usage.output_tokens, final.output_text.split(' ').length);
        await expectAnthropicResponsesRequest(true);
    });
