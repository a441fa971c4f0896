// Streamed tool calls through the gateway's API translation, reassembled by the official SDKs'
// own stream helpers: the openai SDK against an Anthropic upstream, and the Anthropic SDK against
// an OpenAI-style upstream. Both upstreams are scripted here, event by event, so that the test
// decides exactly what the translators see: a text block before the tools, a tool without
// arguments, parallel calls interleaved by index.
//
// Started by sdk_tools.sh, which provides AIPROXYD and E2E_TMP. The mocks listen first (port 0),
// so this file writes the daemon's config with their ports and runs aiproxyd itself, on port 0,
// its output in $E2E_TMP/aiproxyd.log.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import {
    anthropicUpstreamEntry, assertDrained, clientOptions, kTimeoutMs, routeEntry, startGateway,
    stopGateway, upstreamEntry, writeGatewayConfig,
} from './sdk_lib.mjs';

const aiproxyd = process.env.AIPROXYD;
const tmp = process.env.E2E_TMP;
assert.ok(aiproxyd && tmp, 'AIPROXYD and E2E_TMP must be set (run through sdk_tools.sh)');

const kMaxMockBodyBytes = 1 << 20;

// ---- What the upstreams stream ------------------------------------------------------------------

// Anthropic names each event twice, in "event:" and in data.type.
const anthropicEvent = (type, data = {}) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

function anthropicMessageStart(id, inputTokens) {
    return anthropicEvent('message_start', {
        message: {
            id,
            type: 'message',
            role: 'assistant',
            model: 'claude-sonnet-4-5',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: inputTokens, output_tokens: 1 },
        },
    });
}

// Text, then a tool whose input arrives in fragments (after the empty one Anthropic sends
// first), then a tool that takes no arguments: no input_json_delta at all.
const kAnthropicToolTurn = [
    anthropicMessageStart('msg_e2e_tools', 42),
    anthropicEvent('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    anthropicEvent('ping'),
    ...['Let me ', 'check.'].map((text) =>
        anthropicEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
    anthropicEvent('content_block_stop', { index: 0 }),
    anthropicEvent('content_block_start', {
        index: 1,
        content_block: { type: 'tool_use', id: 'toolu_weather', name: 'get_weather', input: {} },
    }),
    ...['', '{"city": "Par', 'is", "unit"', ': "celsius"}'].map((partial) =>
        anthropicEvent('content_block_delta', {
            index: 1,
            delta: { type: 'input_json_delta', partial_json: partial },
        })),
    anthropicEvent('content_block_stop', { index: 1 }),
    anthropicEvent('content_block_start', {
        index: 2,
        content_block: { type: 'tool_use', id: 'toolu_time', name: 'get_time', input: {} },
    }),
    anthropicEvent('content_block_stop', { index: 2 }),
    anthropicEvent('message_delta', {
        delta: { stop_reason: 'tool_use', stop_sequence: null },
        usage: { output_tokens: 37 },
    }),
    anthropicEvent('message_stop'),
];

const kAnswer = ['In Paris it is 18 °C and sunny; ', 'the local time is 14:05.'];

const kAnthropicAnswerTurn = [
    anthropicMessageStart('msg_e2e_answer', 80),
    anthropicEvent('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...kAnswer.map((text) =>
        anthropicEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
    anthropicEvent('content_block_stop', { index: 0 }),
    anthropicEvent('message_delta', {
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: 15 },
    }),
    anthropicEvent('message_stop'),
];

function openAiChunk(id, delta, finishReason = null) {
    return `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created: 1700000000,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    })}\n\n`;
}

function openAiUsageChunk(id, prompt, completion) {
    return `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created: 1700000000,
        model: 'gpt-4o-mini',
        choices: [],
        usage: { prompt_tokens: prompt, completion_tokens: completion,
            total_tokens: prompt + completion },
    })}\n\n`;
}

const toolCallDelta = (call) => openAiChunk('chatcmpl-e2e-tools', { tool_calls: [call] });

// Two parallel calls whose deltas interleave by index 0, 1, 0, 1: the first delta of each names
// it, the later ones carry only argument fragments.
const kOpenAiToolTurn = [
    openAiChunk('chatcmpl-e2e-tools', { role: 'assistant', content: null }),
    toolCallDelta({ index: 0, id: 'call_weather', type: 'function',
        function: { name: 'get_weather', arguments: '' } }),
    toolCallDelta({ index: 1, id: 'call_time', type: 'function',
        function: { name: 'get_time', arguments: '' } }),
    toolCallDelta({ index: 0, function: { arguments: '{"city": "Pa' } }),
    toolCallDelta({ index: 1, function: { arguments: '{"timezone": "Europe/' } }),
    toolCallDelta({ index: 0, function: { arguments: 'ris", "unit": "celsius"}' } }),
    toolCallDelta({ index: 1, function: { arguments: 'Paris"}' } }),
    openAiChunk('chatcmpl-e2e-tools', {}, 'tool_calls'),
    openAiUsageChunk('chatcmpl-e2e-tools', 50, 20),
    'data: [DONE]\n\n',
];

const kOpenAiAnswerTurn = [
    openAiChunk('chatcmpl-e2e-answer', { role: 'assistant', content: '' }),
    ...kAnswer.map((content) => openAiChunk('chatcmpl-e2e-answer', { content })),
    openAiChunk('chatcmpl-e2e-answer', {}, 'stop'),
    openAiUsageChunk('chatcmpl-e2e-answer', 90, 15),
    'data: [DONE]\n\n',
];

// ---- Mock upstreams -----------------------------------------------------------------------------

// A scripted upstream on 127.0.0.1:0. answer({method, url, json}) returns {events} for an event
// stream (one write per event) or {status, body} for a JSON answer. Every request is recorded.
async function startMock(answer) {
    const requests = [];
    const server = createServer(async (req, res) => {
        const chunks = [];
        let size = 0;
        for await (const chunk of req) {
            size += chunk.length;
            if (size > kMaxMockBodyBytes) {
                res.writeHead(413).end();
                return;
            }
            chunks.push(chunk);
        }
        const record = {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
        };
        requests.push(record);
        let json = null;
        try {
            json = JSON.parse(record.body);
        } catch {
            // answer() sees null
        }
        const reply = answer({ method: req.method, url: req.url, json });
        if (!reply.events) {
            res.writeHead(reply.status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(reply.body));
            return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        for (const event of reply.events) {
            res.write(event);
            await new Promise(setImmediate);  // a pause between events, as a model streams
        }
        res.end();
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
    });
    return {
        port: server.address().port,
        lastRequest() {
            assert.ok(requests.length > 0, 'the upstream got no request');
            const last = requests.at(-1);
            return { ...last, json: JSON.parse(last.body) };
        },
        close() {
            server.closeAllConnections();
            return new Promise((resolve) => server.close(resolve));
        },
    };
}

// Anthropic Messages: tool calls first; text once the request carries the tool results.
function anthropicUpstream({ method, url, json }) {
    if (method !== 'POST' || url !== '/v1/messages') {
        return { status: 404, body: { type: 'error',
            error: { type: 'not_found_error', message: `no ${method} ${url} here` } } };
    }
    if (json?.stream !== true) {
        return { status: 400, body: { type: 'error',
            error: { type: 'invalid_request_error', message: 'this mock only streams' } } };
    }
    const last = json.messages?.at(-1)?.content;
    const answering = Array.isArray(last) && last.some((block) => block.type === 'tool_result');
    return { events: answering ? kAnthropicAnswerTurn : kAnthropicToolTurn };
}

// OpenAI chat completions: tool calls first; text once the last message is a tool result.
function openAiUpstream({ method, url, json }) {
    if (method !== 'POST' || url !== '/v1/chat/completions') {
        return { status: 404, body: { error: { message: `no ${method} ${url} here`,
            type: 'invalid_request_error', code: 'not_found' } } };
    }
    if (json?.stream !== true) {
        return { status: 400, body: { error: { message: 'this mock only streams',
            type: 'invalid_request_error', code: null } } };
    }
    const answering = json.messages?.at(-1)?.role === 'tool';
    return { events: answering ? kOpenAiAnswerTurn : kOpenAiToolTurn };
}

// ---- The daemon ---------------------------------------------------------------------------------

let claudeMock;
let gptMock;
let gateway;

before(async () => {
    claudeMock = await startMock(anthropicUpstream);
    gptMock = await startMock(openAiUpstream);
    const configPath = writeGatewayConfig(tmp, {
        upstreams: [
            anthropicUpstreamEntry('claude', claudeMock.port, 'sk-ant-e2e'),
            upstreamEntry('gpt', gptMock.port,
                ['auth: {header: {Authorization: "Bearer sk-openai-e2e"}}']),
        ],
        routes: [
            routeEntry('claude', '/claude/*', { upstream: 'claude' }),
            routeEntry('llm', '/llm/*', { upstream: 'gpt' }),
        ],
    });
    gateway = await startGateway(aiproxyd, configPath, join(tmp, 'aiproxyd.log'));
});

after(async () => {
    const status = gateway && (await stopGateway(gateway));
    await Promise.all([claudeMock?.close(), gptMock?.close()]);
    if (gateway) assertDrained(status);  // else before() failed, and said why
});

// On a failure, the raw event stream the gateway sends for the same request (a plain fetch) is
// the evidence that tells a translation bug from an SDK quirk: it goes into the error message.
async function withRawStreamOnFailure(path, headers, body, check) {
    try {
        return await check();
    } catch (error) {
        let raw;
        try {
            const response = await fetch(`${gateway.url}${path}`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...headers },
                body: JSON.stringify({ ...body, stream: true }),
                signal: AbortSignal.timeout(kTimeoutMs),
            });
            raw = `HTTP ${response.status}\n${await response.text()}`;
        } catch (fetchError) {
            raw = `(could not capture it: ${fetchError})`;
        }
        throw new Error(`${error.message}\n--- raw SSE the gateway sends for POST ${path}:\n${raw}`,
            { cause: error });
    }
}

const kSystem = 'You are a travel assistant.';
const kQuestion = 'What is the weather in Paris, and what time is it there?';
const kToolResults = ['18 °C, sunny', '14:05'];
const kWeatherInput = { city: 'Paris', unit: 'celsius' };
const kTimeInput = { timezone: 'Europe/Paris' };
const kWeatherSchema = {
    type: 'object',
    properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    },
    required: ['city'],
};

// ---- openai SDK -> gateway -> Anthropic upstream ------------------------------------------------

const kChatPath = '/claude/v1/chat/completions';
const kChatHeaders = { authorization: 'Bearer sk-client-openai' };
const kChatRequest = {
    model: 'claude-sonnet-4-5',
    max_tokens: 1024,
    messages: [
        { role: 'system', content: kSystem },
        { role: 'user', content: kQuestion },
    ],
    tools: [
        { type: 'function', function: { name: 'get_weather',
            description: 'Current weather in a city', parameters: kWeatherSchema } },
        // No parameters at all: a tool that takes no arguments.
        { type: 'function', function: { name: 'get_time', description: 'Local time of the user' } },
    ],
    tool_choice: 'auto',
    stream_options: { include_usage: true },
};

function openAiClient() {
    return new OpenAI(clientOptions(`${gateway.url}/claude/v1`, 'sk-client-openai'));
}

// Streams `request` with the SDK's helper; returns what the helper assembled and announced.
async function streamChat(request) {
    const stream = openAiClient().chat.completions.stream(request);
    const argumentsDone = [];
    let usage = null;
    stream.on('tool_calls.function.arguments.done', ({ index, name, arguments: args }) => {
        argumentsDone.push({ index, name, arguments: args });
    });
    stream.on('chunk', (chunk) => {
        if (chunk.usage) usage = chunk.usage;
    });
    return { completion: await stream.finalChatCompletion(), argumentsDone, usage };
}

test('openai SDK: two tool calls streamed by an Anthropic upstream reassemble',
    { timeout: kTimeoutMs }, async () => {
        await withRawStreamOnFailure(kChatPath, kChatHeaders, kChatRequest, async () => {
            const { completion, argumentsDone, usage } = await streamChat(kChatRequest);
            assert.equal(completion.id, 'msg_e2e_tools');
            assert.equal(completion.model, 'claude-sonnet-4-5');
            const choice = completion.choices[0];
            assert.equal(choice.finish_reason, 'tool_calls');
            assert.equal(choice.message.role, 'assistant');
            assert.equal(choice.message.content, 'Let me check.');
            const calls = choice.message.tool_calls;
            assert.equal(calls?.length, 2, `two tool calls, got ${JSON.stringify(calls)}`);
            assert.deepEqual(calls.map((call) => [call.id, call.type, call.function.name]), [
                ['toolu_weather', 'function', 'get_weather'],
                ['toolu_time', 'function', 'get_time'],
            ]);
            assert.deepEqual(JSON.parse(calls[0].function.arguments), kWeatherInput);
            // No input_json_delta upstream, still arguments a client can JSON.parse.
            assert.equal(calls[1].function.arguments, '{}');
            assert.deepEqual(JSON.parse(calls[1].function.arguments), {});
            // The helper announced each call complete once, in order.
            assert.deepEqual(argumentsDone, [
                { index: 0, name: 'get_weather', arguments: calls[0].function.arguments },
                { index: 1, name: 'get_time', arguments: '{}' },
            ]);
            assert.deepEqual(usage, { prompt_tokens: 42, completion_tokens: 37, total_tokens: 79 });
        });

        const upstream = claudeMock.lastRequest();
        assert.equal(upstream.method, 'POST');
        assert.equal(upstream.url, '/v1/messages');
        assert.equal(upstream.headers['x-api-key'], 'sk-ant-e2e');
        assert.equal(upstream.headers['anthropic-version'], '2023-06-01');
        assert.equal(upstream.headers['authorization'], undefined, 'the client key stays home');
        assert.equal(upstream.headers['accept-encoding'], 'identity');
        const body = upstream.json;
        assert.deepEqual(Object.keys(body).sort(),
            ['max_tokens', 'messages', 'model', 'stream', 'system', 'tool_choice', 'tools']);
        assert.equal(body.model, 'claude-sonnet-4-5');
        assert.equal(body.max_tokens, 1024);
        assert.equal(body.stream, true);
        assert.equal(body.system, kSystem);
        assert.deepEqual(body.messages, [{ role: 'user', content: kQuestion }]);
        assert.deepEqual(body.tools, [
            { name: 'get_weather', description: 'Current weather in a city',
                input_schema: kWeatherSchema },
            { name: 'get_time', description: 'Local time of the user',
                input_schema: { type: 'object', properties: {} } },
        ]);
        assert.deepEqual(body.tool_choice, { type: 'auto' });
    });

test('openai SDK: the results of those calls reach the Anthropic upstream as tool_result blocks',
    { timeout: kTimeoutMs }, async () => {
        const { completion } = await streamChat(kChatRequest);
        const assistant = completion.choices[0].message;
        const request = {
            ...kChatRequest,
            messages: [
                ...kChatRequest.messages,
                assistant,  // as the SDK assembled it, the way applications send it back
                ...assistant.tool_calls.map((call, i) => ({
                    role: 'tool', tool_call_id: call.id, content: kToolResults[i] })),
            ],
        };
        await withRawStreamOnFailure(kChatPath, kChatHeaders, request, async () => {
            const answer = (await streamChat(request)).completion.choices[0];
            assert.equal(answer.finish_reason, 'stop');
            assert.equal(answer.message.content, kAnswer.join(''));
            assert.equal(answer.message.tool_calls, undefined);
        });

        const body = claudeMock.lastRequest().json;
        assert.equal(body.system, kSystem);
        assert.deepEqual(body.messages, [
            { role: 'user', content: kQuestion },
            { role: 'assistant', content: [
                { type: 'text', text: 'Let me check.' },
                { type: 'tool_use', id: 'toolu_weather', name: 'get_weather',
                    input: kWeatherInput },
                { type: 'tool_use', id: 'toolu_time', name: 'get_time', input: {} },
            ] },
            // Consecutive tool messages merge into one user turn: Anthropic wants alternation.
            { role: 'user', content: [
                { type: 'tool_result', tool_use_id: 'toolu_weather', content: kToolResults[0] },
                { type: 'tool_result', tool_use_id: 'toolu_time', content: kToolResults[1] },
            ] },
        ]);
    });

// ---- Anthropic SDK -> gateway -> OpenAI-style upstream ------------------------------------------

const kMessagesPath = '/llm/v1/messages';
const kMessagesHeaders = { 'x-api-key': 'sk-client-anthropic', 'anthropic-version': '2023-06-01' };
const kTimeSchema = {
    type: 'object',
    properties: { timezone: { type: 'string' } },
    required: ['timezone'],
};
const kMessagesRequest = {
    model: 'gpt-4o-mini',
    max_tokens: 1024,
    system: kSystem,
    messages: [{ role: 'user', content: kQuestion }],
    tools: [
        { name: 'get_weather', description: 'Current weather in a city',
            input_schema: kWeatherSchema },
        { name: 'get_time', description: 'Local time in a time zone', input_schema: kTimeSchema },
    ],
    tool_choice: { type: 'auto' },
};

// The SDK posts to {baseURL}/v1/messages: the gateway's /llm/* route, rest "v1/messages".
function anthropicClient() {
    return new Anthropic(clientOptions(`${gateway.url}/llm`, 'sk-client-anthropic'));
}

// Streams `request` with the SDK's helper; returns the final message and the raw events.
async function streamMessages(request) {
    const stream = anthropicClient().messages.stream(request);
    const events = [];
    const finishedBlocks = [];
    stream.on('streamEvent', (event) => events.push(event));
    stream.on('contentBlock', (block) => finishedBlocks.push(block.type));
    return { message: await stream.finalMessage(), events, finishedBlocks };
}

// Anthropic streams one content block at a time, indices 0, 1, ...: start, deltas, stop.
function assertBlocksInSequence(events) {
    let open = null;
    let next = 0;
    for (const event of events) {
        const at = `${event.type} ${JSON.stringify(event)}`;
        if (event.type === 'content_block_start') {
            assert.equal(open, null, `${at} while block ${open} is open`);
            assert.equal(event.index, next, at);
            open = next++;
        } else if (event.type === 'content_block_delta') {
            assert.equal(event.index, open, at);
        } else if (event.type === 'content_block_stop') {
            assert.equal(event.index, open, at);
            open = null;
        }
    }
    assert.equal(open, null, 'every block is stopped');
}

test('Anthropic SDK: two interleaved tool calls from an OpenAI-style upstream reassemble',
    { timeout: kTimeoutMs }, async () => {
        await withRawStreamOnFailure(kMessagesPath, kMessagesHeaders, kMessagesRequest,
            async () => {
                const { message, events, finishedBlocks } = await streamMessages(kMessagesRequest);
                assert.equal(message.id, 'chatcmpl-e2e-tools');
                assert.equal(message.model, 'gpt-4o-mini');
                assert.equal(message.role, 'assistant');
                assert.equal(message.stop_reason, 'tool_use');
                assert.deepEqual(message.content.map((block) => block.type),
                    ['tool_use', 'tool_use'], JSON.stringify(message.content));
                const calls = message.content.map(({ id, name, input }) => ({ id, name, input }));
                assert.deepEqual(calls, [
                    { id: 'call_weather', name: 'get_weather', input: kWeatherInput },
                    { id: 'call_time', name: 'get_time', input: kTimeInput },
                ]);
                assert.deepEqual(finishedBlocks, ['tool_use', 'tool_use']);
                assert.equal(message.usage.input_tokens, 50);
                assert.equal(message.usage.output_tokens, 20);

                // The SDK parses input leniently (partial JSON): each block's fragments must
                // also be complete JSON on their own.
                assertBlocksInSequence(events);
                const json = [];
                for (const event of events) {
                    if (event.type === 'content_block_delta' &&
                        event.delta.type === 'input_json_delta') {
                        json[event.index] = (json[event.index] ?? '') + event.delta.partial_json;
                    }
                }
                assert.deepEqual(json.map((text) => JSON.parse(text)), [kWeatherInput, kTimeInput]);
            });

        const upstream = gptMock.lastRequest();
        assert.equal(upstream.method, 'POST');
        assert.equal(upstream.url, '/v1/chat/completions');
        assert.equal(upstream.headers['authorization'], 'Bearer sk-openai-e2e');
        assert.equal(upstream.headers['x-api-key'], undefined, 'the client key stays home');
        assert.equal(upstream.headers['anthropic-version'], undefined);
        assert.equal(upstream.headers['accept-encoding'], 'identity');
        const body = upstream.json;
        assert.deepEqual(Object.keys(body).sort(), ['max_tokens', 'messages', 'model', 'stream',
            'stream_options', 'tool_choice', 'tools']);
        assert.equal(body.model, 'gpt-4o-mini');
        assert.equal(body.max_tokens, 1024);
        assert.equal(body.stream, true);
        assert.deepEqual(body.stream_options, { include_usage: true });
        assert.deepEqual(body.messages, [
            { role: 'system', content: kSystem },
            { role: 'user', content: kQuestion },
        ]);
        assert.deepEqual(body.tools, [
            { type: 'function', function: { name: 'get_weather',
                description: 'Current weather in a city', parameters: kWeatherSchema } },
            { type: 'function', function: { name: 'get_time',
                description: 'Local time in a time zone', parameters: kTimeSchema } },
        ]);
        assert.equal(body.tool_choice, 'auto');
    });

test('Anthropic SDK: the results of those calls reach the OpenAI-style upstream as tool messages',
    { timeout: kTimeoutMs }, async () => {
        const { message } = await streamMessages(kMessagesRequest);
        const request = {
            ...kMessagesRequest,
            messages: [
                ...kMessagesRequest.messages,
                { role: 'assistant', content: message.content },
                { role: 'user', content: message.content.map((block, i) => ({
                    type: 'tool_result', tool_use_id: block.id, content: kToolResults[i] })) },
            ],
        };
        await withRawStreamOnFailure(kMessagesPath, kMessagesHeaders, request, async () => {
            const answer = (await streamMessages(request)).message;
            assert.equal(answer.stop_reason, 'end_turn');
            assert.deepEqual(answer.content, [{ type: 'text', text: kAnswer.join('') }]);
        });

        const { messages } = gptMock.lastRequest().json;
        // Arguments are a JSON text whose spacing is the gateway's: compared parsed.
        const calls = messages[2]?.tool_calls?.map((call) => ({
            ...call, function: { ...call.function, arguments: JSON.parse(call.function.arguments) },
        }));
        assert.deepEqual({ ...messages[2], tool_calls: calls }, {
            role: 'assistant',
            content: null,
            tool_calls: [
                { id: 'call_weather', type: 'function',
                    function: { name: 'get_weather', arguments: kWeatherInput } },
                { id: 'call_time', type: 'function',
                    function: { name: 'get_time', arguments: kTimeInput } },
            ],
        });
        assert.deepEqual(messages.filter((_, i) => i !== 2), [
            { role: 'system', content: kSystem },
            { role: 'user', content: kQuestion },
            { role: 'tool', tool_call_id: 'call_weather', content: kToolResults[0] },
            { role: 'tool', tool_call_id: 'call_time', content: kToolResults[1] },
        ]);
    });
