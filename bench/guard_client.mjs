// Drives a fixed workload through the gateway for bench/guard.sh: COUNT requests, one after the
// other on one keep-alive connection, either plain chat completions or streams read to the end.
// Exits 1 on any answer but 200 (a guard that measured errors would measure the wrong work).
import http from 'node:http';

const [port, kind, countText] = process.argv.slice(2);
const count = Number(countText);
const stream = kind === 'stream';
const body = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Hello' }],
  ...(stream ? { stream: true } : {}),
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function once() {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1', port, path: '/llm/chat/completions', method: 'POST', agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (response) => {
        response.on('data', () => {});
        response.on('end', () => (response.statusCode === 200
          ? resolve()
          : reject(new Error(`status ${response.statusCode}`))));
      });
    request.on('error', reject);
    request.end(body);
  });
}

for (let i = 0; i < count; i++) await once();
agent.destroy();
