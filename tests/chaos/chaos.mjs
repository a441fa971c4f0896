#!/usr/bin/env node
// The randomized chaos run of aiproxyd (ARCHITECTURE.md section 7): mock backends that fail in
// every way at random, clients that cancel, pipeline, read slowly and send garbage, Admin API
// writes (some hostile), SIGHUP reloads and a planned restart, all at once, with invariants
// checked throughout. Every random decision comes from the printed seed.
//
// usage: node chaos.mjs AIPROXYD
// environment:
//   CHAOS_SEED=<n>        replay the decisions of a run (printed at its start and in failures)
//   CHAOS_SECONDS=<n>     load time (default 30); CHAOS_MINUTES=<n> takes precedence
//   CHAOS_ROUND_SECONDS   length of one round (default 10, or 15 for runs over a minute)
//   CHAOS_CLIENTS         concurrent client loops (default 10, or 14 for runs over a minute)
//   CHAOS_CONTINUE=1      after an unplanned exit, start the daemon again and go on (up to 5)
//   CHAOS_KEEP_TMP=1      keep the temp directory (kept anyway when a check failed)
//   CHAOS_VERBOSE=1       print every driver action, not only round summaries and failures
//   CHAOS_ASAN=1          a sanitizer build: deadlines x3 (automatic with GCC's libasan or when
//                         ASAN_OPTIONS is set, as `make test-asan` does)
//   CHAOS_STORE=etcd      a real etcd on loopback and two nodes sharing it (storage.type etcd),
//                         Admin API writes to either node, etcd killed or stopped now and then
//                         (etcd.mjs lists the invariants it adds); skipped (77) without etcd.
//                         Default: file (one node, <data_dir>/state.json).
// exit: 0 all invariants held, 1 violations (listed at the end), 2 the run could not start.
//
// Files: lib.mjs (seeded random streams, HTTP parsing), mocks.mjs (backends and the switcher),
// clients.mjs (client kinds and the judge of answers), operators.mjs (Admin API writes and
// their model), config_file.mjs (the config file and its reloads), invariants.mjs (quiet-time
// and final checks), daemon.mjs, etcd.mjs (the etcd mode: etcd, the second node, outages).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { rngFor, sleep, fmtMs, lock } from "./lib.mjs";
import { MockFleet, runSwitcher } from "./mocks.mjs";
import { Daemon } from "./daemon.mjs";
import { ClientLoop, Judge } from "./clients.mjs";
import { AdminOperator, runAdmin } from "./operators.mjs";
import { runReloader, baseConfig, writeConfig } from "./config_file.mjs";
import { Cluster, EtcdServer, etcdExecutable, STORE_TIMEOUT_S } from "./etcd.mjs";
import {
    takeBaseline, quietChecks, checkRss, healAndCheck, cancelProbe, runWatchdog,
} from "./invariants.mjs";

const binary = process.argv[2];
if (!binary || !fs.existsSync(binary)) {
    console.error(`usage: node chaos.mjs AIPROXYD (got ${JSON.stringify(binary)})`);
    process.exit(2);
}
const env = process.env;
const store = env.CHAOS_STORE || "file";
if (store !== "file" && store !== "etcd") {
    console.error(`CHAOS_STORE must be file or etcd (got ${JSON.stringify(store)})`);
    process.exit(2);
}
if (store === "etcd" && !etcdExecutable()) {
    console.log("SKIP: CHAOS_STORE=etcd needs etcd (Debian package etcd-server; `make deps` installs it)");
    process.exit(77);
}
const seed = env.CHAOS_SEED ? Number(env.CHAOS_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32);
const loadSeconds = env.CHAOS_MINUTES ? Number(env.CHAOS_MINUTES) * 60
    : Number(env.CHAOS_SECONDS || 30);
const roundSeconds = Number(env.CHAOS_ROUND_SECONDS || (loadSeconds > 60 ? 15 : 10));
const rounds = Math.max(2, Math.ceil(loadSeconds / roundSeconds));
const clientCount = Number(env.CHAOS_CLIENTS || (loadSeconds > 60 ? 14 : 10));
const runStart = Date.now();

const tmp = fs.mkdtempSync(path.join(env.TMPDIR || os.tmpdir(), "aiproxy-chaos."));
const driverLog = fs.openSync(path.join(tmp, "driver.log"), "a");
const recentLog = [];  // the driver's last actions, for crash reports

const ctx = {
    seed,
    runTag: `ch${(seed % 100000).toString(36)}${Date.now() % 100000}`,  // request id prefix
    scale: 1,  // 3 for a sanitizer build: every deadline is multiplied by it
    round: 0,
    adminUpstreams: 4,
    adminRoutes: 4,
    consumers: 3,
    maxHeaderBytes: 16384,
    maxIdleTimeoutS: 4,  // the largest keepalive_pool.idle_timeout the run configures
    requestDeadlineMs: 30000,
    closeGraceMs: 5000,
    violations: [],
    rss: [],
    windows: [],  // the planned restart and crashes: {from, readyAt, drainMs, crash}
    aborted: false,
    counts: {
        adminOk: 0, adminRejected: 0, adminLost: 0, adminHostile: 0, adminUnavailable: 0,
        reloads: 0, reloadsRejected: 0, restarts: 0, crashes: 0,
    },
    configPath: path.join(tmp, "aiproxy.json"),

    log(text) {
        const line = `${((Date.now() - runStart) / 1000).toFixed(3).padStart(8)} ${text}`;
        fs.writeSync(driverLog, line + "\n");
        if (!text.startsWith("VIOLATION")) {
            recentLog.push(line);
            if (recentLog.length > 40) recentLog.shift();
        }
        if (env.CHAOS_VERBOSE) console.log(`  ${line}`);
    },

    // category groups violations in the final list (default: the message, numbers masked).
    violation(message, details = {}, category = undefined) {
        const at = ((Date.now() - runStart) / 1000).toFixed(1);
        ctx.violations.push({ message, details, at, round: ctx.round, category });
        const lines = Object.entries(details)
            .map(([k, v]) => `    ${k}: ${String(v).replace(/\n/g, "\n      ")}`);
        ctx.log(`VIOLATION ${message}\n${lines.join("\n")}`);
        if (ctx.violations.length <= 30) {
            console.log(`VIOLATION [seed ${seed}, t=${at}s, round ${ctx.round}]: ${message}`);
            if (lines.length) console.log(lines.join("\n"));
        } else if (ctx.violations.length === 31) {
            console.log("(further violations only in the final list and the driver log)");
        }
    },

    // True in a window where connection-level failures are expected: from SIGTERM (or a crash)
    // until a second after the new process is ready.
    excusedAt(t) {
        return ctx.windows.some((w) => t >= w.from - 200 && t <= (w.readyAt ?? Infinity) + 1000);
    },

    // Whether a connection-level failure is excused by a restart or crash window. what:
    // "connect" (refused while down), "close" (bare close of a request sent around SIGTERM, or
    // once the drain timeout ran out), "cut" (an answer cut: only by the drain timeout).
    excuse(result, what, sentAt) {
        if (result.peer) return false;  // node2 never restarts
        const closed = result.closedAt ?? Date.now();
        return ctx.windows.some((w) => {
            const end = (w.readyAt ?? Infinity) + 1000;
            if (w.crash) return closed >= w.from - 1000 && closed <= end;
            if (what === "connect") return result.openedAt >= w.from - 200 && result.openedAt <= end;
            if (closed < w.from - 200 || closed > end) return false;
            const drainEnded = closed >= w.from + w.drainMs - 500;
            return what === "cut" ? drainEnded : drainEnded || sentAt >= w.from - 200;
        });
    },

    // Every admin object read back from every node.
    async verifyAll(label) {
        let checked = await operator.verify(label);
        const peer = ctx.cluster?.peer;
        if (peer?.alive) checked += await operator.verify(`${label} (node2)`, peer);
        return checked;
    },

    fileLock: lock(),   // held while the config file may be broken, and across the restart
    adminLock: lock(),  // one Admin API step at a time, and none while writes are verified
};

function exitText(exit) {
    if (exit.killed) return "did not exit and was killed";
    return `exited with ${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}`;
}

const fleet = new MockFleet(6, (name) => rngFor(seed, name));
ctx.fleet = fleet;
const judge = new Judge(ctx);
ctx.judge = judge;
let operator = null;

function onCrash(exit) {
    ctx.counts.crashes++;
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    ctx.violation(`aiproxyd died unplanned: ${how}`, {
        what_the_driver_did_last: recentLog.slice(-15).join("\n"),
        recent_admin_writes: operator?.recent.join("\n") ?? "",
        backends: fleet.modes(),
        daemon_log_tail: daemon.logTail(40),
    });
    const window = { from: exit.at, readyAt: null, crash: true };
    ctx.windows.push(window);
    if (!env.CHAOS_CONTINUE || ctx.counts.crashes > 5) {
        ctx.aborted = true;
        return;
    }
    daemon.start(30000 * ctx.scale).then(() => {
        window.readyAt = Date.now();
        ctx.log(`started again after the crash (pid ${daemon.pid})`);
    }, (e) => {
        ctx.violation(`cannot start aiproxyd again after the crash: ${e.message}`);
        ctx.aborted = true;
    });
}

const daemon = new Daemon({
    binary, configPath: ctx.configPath, logPath: path.join(tmp, "aiproxyd.log"),
    stdoutPath: path.join(tmp, "aiproxyd.stdout"), onCrash,
});
ctx.daemon = daemon;

// The etcd mode: etcd first (the nodes wait for it at start), then the second node on a copy of
// the first node's file with its own data dir and access log. Neither may exit unplanned.
async function startEtcd() {
    const etcd = new EtcdServer({
        binary: etcdExecutable(), dir: tmp,
        onCrash: (exit) => {
            ctx.violation(`etcd exited unplanned: ${JSON.stringify(exit)} (see ${path.join(tmp, "etcd.log")})`);
            ctx.aborted = true;
        },
    });
    ctx.cluster = new Cluster(ctx, etcd);
    await etcd.start(30000);
    ctx.log(`etcd pid ${etcd.child.pid} on ${etcd.url}, data in ${etcd.dataDir}`);
}

async function startPeer() {
    const configPath = path.join(tmp, "node2.json");
    const config = structuredClone(ctx.fileConfig);
    config.storage.data_dir = path.join(tmp, "data2");
    config.log.access_log = path.join(tmp, "access2.log");
    writeConfig(configPath, config);
    const peer = new Daemon({
        binary, configPath, logPath: path.join(tmp, "node2.log"), stdoutPath: path.join(tmp, "node2.stdout"),
        name: "node2",
        onCrash: (exit) => {
            ctx.counts.crashes++;
            ctx.violation(`node2 died unplanned: ${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`}`,
                { daemon_log_tail: peer.logTail(40) });
            ctx.aborted = true;
        },
    });
    ctx.cluster.peer = peer;
    await peer.start(30000);
    ctx.log(`node2 pid ${peer.pid}: data ${peer.port}, admin ${peer.adminPort}, status ${peer.statusPort}`);
}

// The planned restart: SIGTERM under load, exit code 0 within the drain timeout, start again on
// the same data dir, then every acknowledged Admin API write must read back.
async function plannedRestart() {
    const release = await ctx.fileLock.acquire();
    // Not during an etcd outage: a node started without etcd serves only its file's objects.
    const releaseEtcd = ctx.cluster ? await ctx.cluster.lock.acquire() : () => {};
    const window = { from: Date.now(), readyAt: null, drainMs: ctx.drainMs };
    try {
        if (!daemon.alive || ctx.aborted) return;
        ctx.windows.push(window);
        ctx.log(`restart: SIGTERM to pid ${daemon.pid}`);
        const exit = await daemon.stop(ctx.drainMs + 15000 * ctx.scale);
        ctx.log(`restart: ${JSON.stringify(exit)}`);
        if (exit.killed || exit.code !== 0 || exit.signal) {
            ctx.violation(`planned SIGTERM: aiproxyd ${exitText(exit)} after ${fmtMs(exit.ms)} ` +
                "(want exit code 0 within drain_timeout)", { daemon_log_tail: daemon.logTail(30) });
        }
        ctx.counts.restarts++;
        try {
            await daemon.start(30000 * ctx.scale);
        } catch (e) {
            ctx.violation(`cannot start aiproxyd again after the planned restart: ${e.message}`);
            ctx.aborted = true;
            return;
        }
        window.readyAt = Date.now();
        ctx.log(`restart: pid ${daemon.pid} ready after ${fmtMs(window.readyAt - window.from)}`);
    } finally {
        release();
    }
    const releaseAdmin = await ctx.adminLock.acquire();
    try {
        const checked = await ctx.verifyAll("after the restart");
        ctx.log(`restart: ${checked} admin objects read back`);
    } finally {
        releaseAdmin();
        releaseEtcd();
    }
}

// Every admin object in place before the load starts, so their routes carry traffic at once.
async function bootstrapAdminObjects() {
    for (const res of ["upstreams", "routes", "consumers"]) {
        for (const id of operator.ids[res]) {
            operator.rng = operator.stream.fork();
            let value;
            if (res === "upstreams") {
                value = operator.upstreamValue();
            } else if (res === "routes") {
                value = operator.routeValue(id);
                value.plugins["ai-proxy"].upstream_id = `a-u${id.slice(3)}`;
            } else {
                value = { username: id, plugins: { "key-auth": { key: `chaos-key-${id}` } } };
            }
            const got = await operator.call("PUT", `/apisix/admin/${res}/${id}`, value);
            const problem = got.status >= 400 ? ` ${got.text.slice(0, 200)}` : "";
            operator.note(`bootstrap PUT ${res}/${id} -> ${got.status ?? got.error}${problem}`);
            operator.account(`${res}/${id}`, "PUT", got, value);
        }
    }
}

async function runRound(r, clients, rngs, restartAt) {
    ctx.round = r + 1;
    let stop = false;
    const shouldStop = () => stop || ctx.aborted;
    const roundEnd = Date.now() + roundSeconds * 1000;
    ctx.log(`round ${r + 1}: start`);
    const tasks = [
        ...clients.map((c) => c.run(shouldStop, roundEnd + 2000, c.count + 20000)),
        runAdmin(ctx, operator, shouldStop),
        runReloader(ctx, rngs.reload, shouldStop),
        runSwitcher(fleet, rngs.backends, shouldStop, ctx.log),
        runWatchdog(ctx, shouldStop),
        ...(ctx.cluster ? [ctx.cluster.runOutages(rngs.etcd, shouldStop), ctx.cluster.runMonitor(shouldStop)] : []),
    ];
    const restart = restartAt === null ? null
        : sleep(roundSeconds * 1000 * restartAt).then(() => (ctx.aborted ? null : plannedRestart()));
    while (Date.now() < roundEnd && !ctx.aborted) await sleep(Math.min(250, roundEnd - Date.now()));
    await restart;
    stop = true;
    const boundMs = ctx.requestDeadlineMs + 30000 * ctx.scale;
    const settled = await Promise.race([
        Promise.all(tasks).then(() => true),
        sleep(boundMs).then(() => false),
    ]);
    if (!settled) ctx.violation(`round ${r + 1}: load did not stop within ${fmtMs(boundMs)}`);
    await judge.settle();
    await fleet.allHealthy();
}

// The end: writes read back, healed nodes healthy within their cooldown, cancels that eject
// nobody, resources back to baseline, RSS flat, and a clean SIGTERM.
async function finalChecks() {
    ctx.round = "final";
    const checked = await ctx.verifyAll("at the end");
    ctx.log(`final: ${checked} admin objects read back`);
    if (await healAndCheck(ctx, operator)) await cancelProbe(ctx, rngFor(seed, "probe"));
    await quietChecks(ctx, "final");
    await ctx.cluster?.quietChecks("final");
    checkRss(ctx);
    const exit = await daemon.stop(ctx.drainMs + 15000 * ctx.scale);
    ctx.log(`final stop: ${JSON.stringify(exit)}`);
    if (exit.killed || exit.code !== 0 || exit.signal) {
        ctx.violation(`final SIGTERM: aiproxyd ${exitText(exit)} (want exit code 0)`,
            { daemon_log_tail: daemon.logTail(30) });
    }
    const peer = ctx.cluster?.peer;
    if (!peer?.alive) return;
    const peerExit = await peer.stop(ctx.drainMs + 15000 * ctx.scale);
    if (peerExit.killed || peerExit.code !== 0 || peerExit.signal) {
        ctx.violation(`final SIGTERM: node2 ${exitText(peerExit)} (want exit code 0)`,
            { daemon_log_tail: peer.logTail(30) });
    }
}

async function main() {
    console.log(`chaos: seed ${seed} (replay: CHAOS_SEED=${seed}), ${rounds} rounds of ` +
        `${roundSeconds} s, ${clientCount} clients, ${store} store, binary ${binary}`);
    console.log(`chaos: temp dir ${tmp}`);
    await fleet.start();
    ctx.log(`mocks: ${fleet.mocks.map((m) => `${m.name}=${m.port}`).join(" ")}`);
    let storage = {};
    if (store === "etcd") {
        try {
            await startEtcd();
        } catch (e) {
            ctx.violation(`cannot start etcd: ${e.message}`);
            return 2;
        }
        storage = { type: "etcd", etcd: { endpoints: [ctx.cluster.etcd.url], prefix: "/chaos", timeout: STORE_TIMEOUT_S } };
    }
    ctx.fileConfig = baseConfig({
        dataDir: path.join(tmp, "data"), accessLog: path.join(tmp, "access.log"), fleet,
        maxHeaderBytes: ctx.maxHeaderBytes, storage,
    });
    ctx.drainMs = ctx.fileConfig.server.drain_timeout * 1000;
    writeConfig(ctx.configPath, ctx.fileConfig);
    try {
        await daemon.start(30000);
        if (ctx.cluster) await startPeer();
    } catch (e) {
        ctx.violation(`cannot start aiproxyd: ${e.message}`);
        return 2;
    }
    if (daemon.asan) ctx.scale = 3;
    ctx.requestDeadlineMs *= ctx.scale;
    ctx.closeGraceMs *= ctx.scale;
    ctx.log(`aiproxyd pid ${daemon.pid}: data ${daemon.port}, admin ${daemon.adminPort}, ` +
        `status ${daemon.statusPort}${daemon.asan ? " (sanitizer build)" : ""}`);
    await takeBaseline(ctx);
    operator = new AdminOperator(ctx, rngFor(seed, "admin"));
    await bootstrapAdminObjects();
    if (ctx.cluster) {
        ctx.cluster.operator = operator;
        await ctx.cluster.bootstrap();
        ctx.cluster.peerFds = ctx.cluster.peer.fdCount();
    }

    const plan = rngFor(seed, "plan");
    const restartRound = Math.floor(rounds / 2);
    const restartAt = plan.int(30, 70) / 100;
    const clients = Array.from({ length: clientCount },
        (_, i) => new ClientLoop(`c${i}`, rngFor(seed, `client-${i}`), ctx));
    if (ctx.cluster) clients.forEach((c, i) => { c.node = i % 2 ? ctx.cluster.peer : null; });
    const rngs = { reload: rngFor(seed, "reload"), backends: rngFor(seed, "backends"), etcd: rngFor(seed, "etcd") };
    for (let r = 0; r < rounds && !ctx.aborted; r++) {
        await runRound(r, clients, rngs, r === restartRound ? restartAt : null);
        if (ctx.aborted) break;
        // The last round's quiet checks are the final ones, right after the backends healed.
        if (r < rounds - 1) {
            await quietChecks(ctx, `round ${r + 1}`);
            await ctx.cluster?.quietChecks(`round ${r + 1}`);
        }
        const sent = Object.values(judge.kinds).reduce((a, s) => a + s.sent, 0);
        const c = ctx.counts;
        console.log(`chaos: round ${r + 1}/${rounds} done at ${fmtMs(Date.now() - runStart)}: ` +
            `${sent} requests so far, ${c.adminOk + c.adminRejected} admin writes, ` +
            `${c.reloads} reloads, ${c.restarts} restarts, ${ctx.violations.length} violations`);
    }
    if (!ctx.aborted && daemon.alive) await finalChecks();
    return ctx.violations.length ? 1 : 0;
}

function summary() {
    const zero = { sent: 0, completed: 0, cancelled: 0, excused: 0, failed: 0 };
    const total = Object.values(judge.kinds).reduce((a, s) => Object.fromEntries(
        Object.keys(zero).map((k) => [k, a[k] + s[k]])), zero);
    const c = ctx.counts;
    const list = (o, sep = " ") => Object.entries(o).map(([k, n]) => `${k}=${n}`).join(sep);
    const served = {};
    for (const m of fleet.mocks) {
        for (const [mode, n] of Object.entries(m.served)) served[mode] = (served[mode] ?? 0) + n;
    }
    const lines = [
        `chaos summary (seed ${seed}, ${rounds} rounds of ${roundSeconds} s, ${clientCount} ` +
            `clients, ${fmtMs(Date.now() - runStart)} in all${daemon.asan ? ", sanitizer build" : ""})`,
        `  requests: ${total.sent} sent, ${total.completed} completed, ${total.cancelled} ` +
            `cancelled by the client, ${total.excused} unanswered with an excuse, ${total.failed} failed`,
    ];
    for (const [kind, s] of Object.entries(judge.kinds)) lines.push(`    ${kind.padEnd(12)} ${list(s, ", ")}`);
    lines.push(`  excuses: ${list(judge.excuses, ", ") || "none"}`);
    lines.push(`  statuses: ${list(judge.statuses)}`);
    lines.push(`  admin writes: ${c.adminOk} ok, ${c.adminRejected} rejected (${c.adminHostile} ` +
        `hostile sent), ${c.adminLost} unanswered${ctx.cluster ? `, ${c.adminUnavailable} 503 while etcd was down` : ""}`);
    lines.push(`  reloads: ${c.reloads} (${c.reloadsRejected} with a broken file); restarts: ` +
        `${c.restarts}; unplanned exits: ${c.crashes}`);
    lines.push(`  backend answers by behaviour: ${list(served)}`);
    if (ctx.cluster) lines.push(ctx.cluster.summary());
    lines.push(`  invariant failures: ${ctx.violations.length}`);
    return lines.join("\n");
}

// Violations grouped by category, or by their message with numbers masked.
function violationList() {
    const groups = new Map();
    for (const v of ctx.violations) {
        const key = (v.category ?? v.message).replace(/\d+/g, "#");
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(v);
    }
    const lines = [`violations (seed ${seed}; replay with CHAOS_SEED=${seed}):`];
    for (const list of groups.values()) {
        const first = list[0];
        const count = list.length > 1 ? `${list.length}x ${first.category ?? "like"}; first: ` : "";
        lines.push(`  - ${count}[t=${first.at}s round ${first.round}] ${first.message}`);
    }
    return lines.join("\n");
}

let code = 2;
try {
    code = await main();
} catch (e) {
    console.log(`chaos: driver error: ${e.stack}`);
    ctx.violations.push({ message: `driver error: ${e.message}`, details: {}, at: "?", round: ctx.round });
    code = 1;
} finally {
    await judge.settle();
    await daemon.kill();
    await ctx.cluster?.peer?.kill();
    await ctx.cluster?.etcd.kill();
    await fleet.close();
}
console.log(summary());
if (ctx.violations.length) {
    console.log(violationList());
    console.log(`---- aiproxyd log tail (${path.join(tmp, "aiproxyd.log")}):`);
    console.log(daemon.logTail(60).replace(/^/gm, "    "));
    console.log(`chaos: FAILED, seed ${seed}; files kept in ${tmp}`);
} else if (env.CHAOS_KEEP_TMP) {
    console.log(`chaos: passed; files kept in ${tmp}`);
} else {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log("chaos: passed");
}
process.exit(code);
