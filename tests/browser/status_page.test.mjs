// The status page in headless Chromium against the real daemon (status_page.sh starts it and the
// mocks): it loads without console errors, shows the route, turns the primary's node red within
// 3 s of its backend failing and green once it heals, and its chart follows new traffic. Every
// wait is a waitForFunction with a deadline; screenshots go to ARTIFACT_DIR.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import puppeteer from 'puppeteer-core';

const env = (name) => {
    const value = process.env[name];
    assert.ok(value, `${name} must be set (status_page.sh sets it)`);
    return value;
};
const statusUrl = env('STATUS_URL');
const gatewayUrl = env('GATEWAY_URL');
const primaryMockUrl = env('PRIMARY_MOCK_URL');
const primaryNode = env('PRIMARY_NODE');
const artifacts = env('ARTIFACT_DIR');
const kRequestTimeoutMs = 10000;

let browser;
let page;
const problems = [];  // console errors, page errors, failed or refused requests

async function chat() {
    const response = await fetch(`${gatewayUrl}/llm/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
        signal: AbortSignal.timeout(kRequestTimeoutMs),
    });
    await response.text();
    return response.status;
}

async function setPrimaryStatus(status) {
    const response = await fetch(`${primaryMockUrl}/_mock/config`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ status }),
        signal: AbortSignal.timeout(kRequestTimeoutMs),
    });
    assert.equal(response.status, 200, 'the mock takes its new behaviour');
}

const nodeSelector = `[data-node="primary/${primaryNode}"]`;
const nodeColor = () => page.$eval(nodeSelector, (node) => node.dataset.color);
const chartRequests = () =>
    page.$eval('[data-route="chat"] svg.chart', (svg) => Number(svg.dataset.requests));

before(async () => {
    browser = await puppeteer.launch({
        executablePath: env('CHROMIUM'),
        headless: true,
        // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    page = await browser.newPage();
    page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) =>
        problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
    page.on('response', (response) => {
        if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
    });
    await page.setViewport({ width: 1280, height: 900 });
});

after(async () => {
    await browser?.close();
});

test('the status page follows the gateway live', async (t) => {
    for (let i = 0; i < 5; i++) assert.equal(await chat(), 200);

    await t.test('loads and shows the route with its traffic', async () => {
        const response = await page.goto(`${statusUrl}/`, { waitUntil: 'load' });
        assert.equal(response.status(), 200);
        assert.match(response.headers()['content-type'], /^text\/html/);
        await page.waitForSelector('[data-route="chat"]', { timeout: 5000 });
        await page.waitForFunction(
            () => Number(document.querySelector('[data-route="chat"] svg.chart')?.dataset.requests) >= 5,
            { timeout: 5000 });
        const title = await page.$eval('[data-route="chat"] h3', (h) => h.textContent);
        assert.equal(title, 'chat');
        assert.equal(await nodeColor(), 'green');
    });

    await t.test('the chart takes new requests at the next poll', async () => {
        const before = await chartRequests();
        for (let i = 0; i < 3; i++) assert.equal(await chat(), 200);
        await page.waitForFunction(
            (count) => Number(document.querySelector('[data-route="chat"] svg.chart').dataset.requests) >= count,
            { timeout: 5000 }, before + 3);
        const bars = await page.$$eval('[data-route="chat"] svg.chart rect.req', (rects) => rects.length);
        assert.ok(bars >= 1, 'at least one bar drawn');
    });

    await t.test('a failing backend turns its node red within 3 s', async () => {
        const started = performance.now();
        await setPrimaryStatus(500);
        await page.waitForFunction(
            (selector) => document.querySelector(selector)?.dataset.color === 'red',
            { timeout: 3000 }, nodeSelector);
        const seconds = (performance.now() - started) / 1000;
        t.diagnostic(`red after ${seconds.toFixed(2)} s`);
        // Traffic now moves on to the fallback, which the page counts.
        for (let i = 0; i < 3; i++) assert.equal(await chat(), 200);
        await page.waitForFunction(
            () => document.querySelector('#total-fallbacks .v')?.textContent !== '0.0',
            { timeout: 5000 });
        const error = await page.$eval(`${nodeSelector} .detail:last-child`, (d) => d.textContent);
        assert.match(error, /last error: .*500/);
        await page.screenshot({ path: join(artifacts, 'status-page.png'), fullPage: true });
    });

    await t.test('the healed node turns green again', async () => {
        await setPrimaryStatus(0);
        // A probe brings it back; if a request had ejected it, its half-open trial needs a
        // request, so keep a little traffic going until the page shows green (bounded).
        const deadline = performance.now() + 15000;
        while ((await nodeColor()) !== 'green') {
            assert.ok(performance.now() < deadline, 'the node is green within 15 s of healing');
            await chat();
            await page.waitForFunction(
                (selector) => document.querySelector(selector)?.dataset.color === 'green',
                { timeout: 1000 }, nodeSelector).catch(() => {});
        }
    });

    await t.test('fits a phone screen without sideways scrolling', async () => {
        await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
        await page.waitForSelector('[data-route="chat"]', { timeout: 5000 });
        const overflow = await page.evaluate(
            () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `the page is ${overflow} px wider than the phone`);
        await page.screenshot({ path: join(artifacts, 'status-page-phone.png'), fullPage: true });
    });

    assert.deepEqual(problems, [], 'no console errors and no failed requests');
});
