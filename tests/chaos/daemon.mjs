// The aiproxyd process under test: start (ports from its "listening on" lines), planned stops,
// unplanned exits, SIGHUP, and what /proc says about it.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import { sleep } from "./lib.mjs";

export class Daemon {
    // onCrash(info) is called when the process exits without a planned stop.
    constructor({ binary, configPath, logPath, stdoutPath, onCrash, name = "node1" }) {
        this.name = name;  // in reports (the etcd mode runs two)
        this.binary = binary;
        this.configPath = configPath;
        this.logPath = logPath;
        this.stdoutPath = stdoutPath;
        this.onCrash = onCrash;
        this.child = null;
        this.starts = 0;
        this.asan = false;
    }

    get pid() {
        return this.child?.pid;
    }

    get alive() {
        return !!this.child && this.exit === null;
    }

    // Starts the daemon and waits (bounded) for its ready line; throws with the log tail.
    async start(timeoutMs) {
        const offset = fs.existsSync(this.logPath) ? fs.statSync(this.logPath).size : 0;
        const mark = `---- chaos: start #${this.starts + 1} at ${new Date().toISOString()}\n`;
        fs.appendFileSync(this.logPath, mark);
        const err = fs.openSync(this.logPath, "a");
        const out = fs.openSync(this.stdoutPath, "a");
        const env = { ...process.env };
        // ASan: a bounded quarantine keeps RSS comparable between rounds; reports abort.
        const asanDefaults = "quarantine_size_mb=64:abort_on_error=1:detect_leaks=1";
        env.ASAN_OPTIONS = env.ASAN_OPTIONS ? `${asanDefaults}:${env.ASAN_OPTIONS}` : asanDefaults;
        env.UBSAN_OPTIONS ??= "print_stacktrace=1:halt_on_error=1";
        this.child = spawn(this.binary, ["-c", this.configPath], { stdio: ["ignore", out, err], env });
        fs.closeSync(err);
        fs.closeSync(out);
        this.starts++;
        this.exit = null;
        this.planned = false;
        const child = this.child;
        this.exited = new Promise((resolve) => {
            child.on("exit", (code, signal) => {
                this.exit = { code, signal, at: Date.now() };
                resolve(this.exit);
                if (!this.planned && this.onCrash) this.onCrash(this.exit);
            });
        });
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const text = readFrom(this.logPath, offset);
            if (/aiproxyd \S+ ready:/.test(text)) {
                this.port = portOf(text, /listening on 127\.0\.0\.1:(\d+)/);
                this.adminPort = portOf(text, /admin API on 127\.0\.0\.1:(\d+)/);
                this.statusPort = portOf(text, /status endpoint on 127\.0\.0\.1:(\d+)/);
                if (!this.port || !this.adminPort || !this.statusPort) {
                    throw new Error(`ready, but ports not found in the log:\n${text.slice(-2000)}`);
                }
                // GCC links libasan dynamically; `make test-asan` sets ASAN_OPTIONS; else say so.
                try {
                    this.asan = fs.readFileSync(`/proc/${this.pid}/maps`, "utf8").includes("libasan") ||
                        !!process.env.CHAOS_ASAN || !!process.env.ASAN_OPTIONS;
                } catch { /* raced with an exit; reported by onCrash */ }
                return;
            }
            if (this.exit !== null || Date.now() > deadline) {
                if (this.exit === null) child.kill("SIGKILL");
                throw new Error(`aiproxyd did not become ready (exit ${JSON.stringify(this.exit)}):\n` +
                    text.slice(-3000));
            }
            await sleep(50);
        }
    }

    // Planned stop: SIGTERM, wait up to timeoutMs, SIGKILL after that. Returns {code, signal,
    // killed, ms}.
    async stop(timeoutMs) {
        if (!this.alive) return { ...this.exit, killed: false, ms: 0 };
        this.planned = true;
        const started = Date.now();
        this.child.kill("SIGTERM");
        let timer;
        const result = await Promise.race([
            this.exited,
            new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); }),
        ]);
        clearTimeout(timer);
        if (result) return { ...result, killed: false, ms: Date.now() - started };
        this.child.kill("SIGKILL");
        const killedExit = await this.exited;
        return { ...killedExit, killed: true, ms: Date.now() - started };
    }

    // For the end of a run that already failed: no report, just gone.
    async kill() {
        if (!this.alive) return;
        this.planned = true;
        this.child.kill("SIGKILL");
        await this.exited;
    }

    sighup() {
        if (this.alive) this.child.kill("SIGHUP");
    }

    logTail(lines = 60) {
        try {
            const size = fs.statSync(this.logPath).size;
            const text = readFrom(this.logPath, Math.max(0, size - 256 * 1024)).split("\n");
            return text.slice(-lines - 1).join("\n");
        } catch {
            return "(no log)";
        }
    }

    // --- /proc (zero or empty once the process is gone: the crash watcher reports that) --------

    fdCount() {
        try {
            return fs.readdirSync(`/proc/${this.pid}/fd`).length;
        } catch {
            return 0;
        }
    }

    fdSummary() {
        const kinds = {};
        let fds = [];
        try { fds = fs.readdirSync(`/proc/${this.pid}/fd`); } catch { /* gone */ }
        for (const fd of fds) {
            let target;
            try { target = fs.readlinkSync(`/proc/${this.pid}/fd/${fd}`); } catch { continue; }
            const kind = target.replace(/\[\d+\]$/, "").replace(/^\/.*/, "file");
            kinds[kind] = (kinds[kind] ?? 0) + 1;
        }
        return Object.entries(kinds).map(([k, n]) => `${k}=${n}`).join(" ");
    }

    rssKb() {
        try {
            const status = fs.readFileSync(`/proc/${this.pid}/status`, "utf8");
            return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
        } catch {
            return 0;
        }
    }

    // utime + stime in clock ticks, for the process and for each thread.
    cpuTicks() {
        let total = 0;
        let tids = [];
        try {
            total = statTicks(fs.readFileSync(`/proc/${this.pid}/stat`, "utf8"));
            tids = fs.readdirSync(`/proc/${this.pid}/task`);
        } catch { /* gone */ }
        const threads = {};
        for (const tid of tids) {
            try {
                const stat = fs.readFileSync(`/proc/${this.pid}/task/${tid}/stat`, "utf8");
                const name = /\((.*)\)/.exec(stat)[1];
                threads[`${tid}:${name}`] = statTicks(stat);
            } catch { /* thread ended */ }
        }
        return { total, threads };
    }
}

// The file's text from a byte offset on.
function readFrom(path, offset) {
    const fd = fs.openSync(path, "r");
    try {
        const size = fs.fstatSync(fd).size;
        const buffer = Buffer.alloc(Math.max(0, size - offset));
        fs.readSync(fd, buffer, 0, buffer.length, offset);
        return buffer.toString("utf8");
    } finally {
        fs.closeSync(fd);
    }
}

function portOf(text, re) {
    const m = re.exec(text);
    return m ? Number(m[1]) : 0;
}

function statTicks(stat) {
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);  // utime, stime (fields 14, 15 of stat)
}

export const clockTicks = (() => {
    try {
        return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
    } catch {
        return 100;
    }
})();
