// What the SDK end-to-end tests share: aiproxyd run on port 0 with a config written for their
// mocks' ports, SDK clients that never retry on their own, and a chat stream read to its end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const kTimeoutMs = 20000;
const kStartMs = 15000;
const kDrainMs = 10000;

// ---- Config -------------------------------------------------------------------------------------

// An upstream entry on 127.0.0.1:`port`; `lines` are more keys of it, as written in YAML.
export function upstreamEntry(id, port, lines = []) {
    return [`  - id: ${id}`, `    nodes: {"127.0.0.1:${port}": 1}`,
        ...lines.map((line) => `    ${line}`)].join('\n');
}

// An upstream speaking Anthropic's Messages API, which it answers only with `key`.
export function anthropicUpstreamEntry(id, port, key) {
    return upstreamEntry(id, port,
        ['provider: anthropic', 'scheme: http', `auth: {header: {x-api-key: ${key}}}`]);
}

// A route entry with ai-proxy over `upstream` (and `fallback` behind it, when given).
export function routeEntry(id, uri, { upstream: primary, fallback, retry = 0 }) {
    return [
        `  - id: ${id}`,
        `    uri: ${uri}`,
        '    plugins:',
        '      ai-proxy:',
        `        upstream_id: ${primary}`,
        ...(fallback ? [`        upstream_fallback_id: ${fallback}`] : []),
        '        timeout: 10000',
        `        retry: ${retry}`,
    ].join('\n');
}

// Writes $tmp/aiproxy.yaml: one worker on 127.0.0.1:0, the status endpoint on port 0, no Admin
// API, state under $tmp/data, and the `upstreams` and `routes` entries. Returns its path.
export function writeGatewayConfig(tmp, { upstreams, routes }) {
    const path = join(tmp, 'aiproxy.yaml');
    writeFileSync(path, `server:
  listen: ["127.0.0.1:0"]
  workers: 1
  drain_timeout: 5
status:
  listen: "127.0.0.1:0"
admin:
  enabled: false
storage:
  data_dir: "${join(tmp, 'data')}"
log:
  level: info
upstreams:
${upstreams.join('\n')}
routes:
${routes.join('\n')}
`);
    return path;
}

// ---- The daemon ---------------------------------------------------------------------------------

// Runs `aiproxyd -c configPath` with its output in `logPath`; resolves with its URL once it
// reports "listening on", rejects when it exits or kStartMs pass first.
export function startGateway(aiproxyd, configPath, logPath) {
    const log = createWriteStream(logPath);
    const child = spawn(aiproxyd, ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Should this process die without running the after hook, the daemon goes with it.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    // 'close' comes after the output is read to its end, so the log is complete.
    const exited = new Promise((resolve) => {
        child.once('close', (code, signal) => {
            process.off('exit', killOnExit);
            resolve({ code, signal });
        });
    });
    return new Promise((resolve, reject) => {
        let pending = true;
        let output = '';
        const settle = (error, value) => {
            if (!pending) return;
            pending = false;
            clearTimeout(timer);
            output = '';
            if (error) {
                child.kill('SIGKILL');
                reject(error);
            } else {
                resolve(value);
            }
        };
        const timer = setTimeout(() => settle(new Error(
            `aiproxyd did not report 'listening on' within ${kStartMs} ms`)), kStartMs);
        const onData = (data) => {
            log.write(data);
            if (!pending) return;
            output += data;
            const match = output.match(/listening on \S+:(\d+)\D/);  // the whole port
            if (match) settle(null, { url: `http://127.0.0.1:${match[1]}`, child, exited, log });
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('error', (error) => settle(error));
        exited.then(({ code, signal }) => settle(
            new Error(`aiproxyd exited (code ${code}, signal ${signal}) before listening`)));
    });
}

// SIGTERM, SIGKILL after kDrainMs; resolves with how the daemon ended once its log is written.
export async function stopGateway({ child, exited, log }) {
    child.kill('SIGTERM');
    let timer;
    const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), kDrainMs);
    });
    let status = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (status === null) {
        child.kill('SIGKILL');
        await exited;
        status = { code: null, signal: `SIGKILL after ${kDrainMs} ms` };
    }
    await new Promise((resolve) => log.end(resolve));
    return status;
}

// The gateway drained its connections and exited 0 on SIGTERM.
export function assertDrained(status) {
    assert.deepEqual(status, { code: 0, signal: null }, 'aiproxyd drains and exits 0 on SIGTERM');
}

// ---- Clients ------------------------------------------------------------------------------------

// Options for an openai or Anthropic SDK client. maxRetries: 0 so that every retry seen is the
// gateway's, and every request a mock records is one the test made.
export function clientOptions(baseURL, apiKey) {
    return { baseURL, apiKey, maxRetries: 0, timeout: kTimeoutMs };
}

// Reads an openai SDK chat stream to its end: the text of its deltas, how many chunks came, the
// finish reason and the usage chunk's usage (null without one).
export async function readChatStream(stream) {
    let text = '';
    let chunks = 0;
    let finishReason = null;
    let usage = null;
    for await (const chunk of stream) {
        chunks += 1;
        assert.equal(chunk.object, 'chat.completion.chunk');
        const choice = chunk.choices[0];
        if (choice?.delta?.content) text += choice.delta.content;
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        if (chunk.usage) usage = chunk.usage;
    }
    return { text, chunks, finishReason, usage };
}
