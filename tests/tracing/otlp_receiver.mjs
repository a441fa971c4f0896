// A test OTLP/HTTP receiver: accepts POST /v1/traces with the JSON encoding and checks every
// batch against the official OTLP protobuf definitions (opentelemetry-proto, as compiled by the
// OpenTelemetry JS project into a protobufjs module), not against a parser of our own: the
// message must convert (fromObject), verify, survive a binary round trip, and come back equal,
// so a misspelt field, a wrong type or a wrong enum shows up as a failure.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const { ExportTraceServiceRequest } = root.opentelemetry.proto.collector.trace.v1;

const kIdFields = { traceId: 32, spanId: 16, parentSpanId: 16 };

// OTLP/JSON writes trace and span ids as hex where the protobuf JSON mapping has base64; this is
// the one difference the OTLP spec makes, so the ids are converted before the protobuf library
// reads the rest.
function idsToBase64(request) {
    const copy = structuredClone(request);
    for (const resourceSpans of copy.resourceSpans ?? []) {
        for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
            for (const span of scopeSpans.spans ?? []) {
                for (const [field, length] of Object.entries(kIdFields)) {
                    if (span[field] === undefined) continue;
                    assert.match(span[field], new RegExp(`^[0-9a-f]{${length}}$`),
                        `${field} is ${length} lowercase hex digits`);
                    span[field] = Buffer.from(span[field], 'hex').toString('base64');
                }
            }
        }
    }
    return copy;
}

// Returns the decoded request (ids as hex again, int64 as strings, enums as numbers).
export function decodeExport(body) {
    const json = JSON.parse(body);
    const normalized = idsToBase64(json);
    const message = ExportTraceServiceRequest.fromObject(normalized);
    assert.equal(ExportTraceServiceRequest.verify(message), null, 'the batch verifies');
    const wire = ExportTraceServiceRequest.encode(message).finish();
    const back = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(wire),
        { longs: String, enums: Number, bytes: String });
    // Every field the gateway sent is one the schema knows, with the type it has there.
    assert.deepStrictEqual(back, normalized, 'the batch is exactly what the OTLP schema reads');
    return json;
}

// Flattens a decoded request into spans with attributes as a plain object and their resource.
export function spansOf(request) {
    const out = [];
    for (const resourceSpans of request.resourceSpans) {
        const resource = attributesOf(resourceSpans.resource.attributes);
        for (const scopeSpans of resourceSpans.scopeSpans) {
            for (const span of scopeSpans.spans) {
                out.push({ ...span, attrs: attributesOf(span.attributes ?? []), resource,
                    scope: scopeSpans.scope });
            }
        }
    }
    return out;
}

function attributesOf(list) {
    const attrs = {};
    for (const { key, value } of list) {
        if ('stringValue' in value) attrs[key] = value.stringValue;
        else if ('intValue' in value) attrs[key] = Number(value.intValue);
        else if ('doubleValue' in value) attrs[key] = value.doubleValue;
        else if ('boolValue' in value) attrs[key] = value.boolValue;
    }
    return attrs;
}

// Starts the receiver on 127.0.0.1:0. Every batch is decoded as it arrives; a batch that fails
// is answered 400 and kept in `errors`, which the tests assert empty.
export async function startReceiver() {
    const receiver = {
        spans: [],
        errors: [],
        requests: [],
        waiters: [],
        server: null,
        port: 0,
    };
    receiver.server = createServer((req, res) => {
        const chunks = [];
        req.on('data', (chunk) => chunks.push(chunk));
        req.on('end', () => {
            receiver.requests.push({ method: req.method, url: req.url, headers: req.headers });
            try {
                assert.equal(req.method, 'POST');
                assert.equal(req.url, '/v1/traces');
                assert.match(req.headers['content-type'] ?? '', /^application\/json/);
                const decoded = decodeExport(Buffer.concat(chunks).toString('utf8'));
                receiver.spans.push(...spansOf(decoded));
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end('{}');
            } catch (error) {
                receiver.errors.push(error);
                res.writeHead(400, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ message: String(error) }));
            }
            for (const waiter of receiver.waiters.splice(0)) waiter();
        });
    });
    await new Promise((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    receiver.port = receiver.server.address().port;
    return receiver;
}

// Resolves with the spans of `traceId` once `count` of them have arrived; rejects after ms.
export function waitForTrace(receiver, traceId, count, ms = 10000) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(
            `${receiver.spans.filter((s) => s.traceId === traceId).length} of ${count} spans ` +
            `of trace ${traceId} arrived within ${ms} ms`)), ms);
        const check = () => {
            const spans = receiver.spans.filter((span) => span.traceId === traceId);
            if (spans.length >= count) {
                clearTimeout(timer);
                resolve(spans);
                return;
            }
            receiver.waiters.push(check);
        };
        check();
    });
}
