/**
 * Debian's debuginfod (0.188 in bookworm) on a free port over a tree of
 * tarballs, for interop tests. The server has no loopback-only option in
 * 0.188, so it listens on every address of this machine; tests only talk to
 * 127.0.0.1. It gets no DEBUGINFOD_URLS (it federates to nobody) and
 * proxies are cleared.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export const SCAN_DEADLINE_MS = 60_000;

/** The environment minus everything that could send a request elsewhere. */
export function isolatedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(DEBUGINFOD_|http_proxy$|https_proxy$|all_proxy$|ftp_proxy$)/i.test(key)) delete env[key];
  }
  return { ...env, no_proxy: '127.0.0.1', NO_PROXY: '127.0.0.1', LC_ALL: 'C', ...extra };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

export function metric(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A running `debuginfod -Z .tar.xz` over `tree`, scanned and ready. */
export class Debuginfod {
  readonly url: string;
  #child: ChildProcess;
  #log: string[] = [];
  #exited: Promise<void>;
  #exitedAlready = false;

  private constructor(port: number, child: ChildProcess) {
    this.url = `http://127.0.0.1:${port}`;
    this.#child = child;
    const keep = (chunk: Buffer) => {
      this.#log.push(chunk.toString());
      if (this.#log.length > 400) this.#log.splice(0, 100);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) =>
      child.once('exit', () => {
        this.#exitedAlready = true;
        resolve();
      }),
    );
  }

  get log(): string {
    return this.#log.join('').split('\n').slice(-40).join('\n');
  }

  /** `archives`: how many tarballs the scan must have read before the server counts as ready (default 1). */
  static async start(
    tree: string,
    db: string,
    opts: { archives?: number; sources?: boolean } = {},
  ): Promise<Debuginfod> {
    const port = await freePort();
    // -t0: scan once at start, no rescans; -g0: no grooming; no -F: only archives are indexed.
    const child = spawn('debuginfod', ['-p', String(port), '-d', db, '-Z', '.tar.xz', '-t0', '-g0', '-v', tree], {
      env: isolatedEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new Debuginfod(port, child);
    // Should the test process die without running afterAll, take the server along.
    const reap = () => {
      if (!server.#exitedAlready) child.kill('SIGKILL');
    };
    process.once('exit', reap);
    void server.#exited.then(() => process.off('exit', reap));
    try {
      await server.#waitForScan(opts.archives ?? 1, opts.sources ?? true);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** Polls /metrics until `archives` tarballs were scanned and debuginfo was found; fails after SCAN_DEADLINE_MS. */
  async #waitForScan(archives: number, sources: boolean): Promise<void> {
    const deadline = Date.now() + SCAN_DEADLINE_MS;
    let last = '(no answer yet)';
    while (Date.now() < deadline) {
      if (this.#exitedAlready)
        throw new Error(
          `debuginfod exited before it was ready ` +
            `(exit ${this.#child.exitCode}, signal ${this.#child.signalCode}):\n${this.log}`,
        );
      try {
        const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
        last = await res.text();
        if (
          res.ok &&
          metric(last, 'scanned_files_total') >= archives &&
          metric(last, 'found_debuginfo_total') >= 1 &&
          (!sources || metric(last, 'found_sourcerefs_total') >= 1)
        ) {
          return;
        }
      } catch (err) {
        last = String(err);
      }
      await sleep(200);
    }
    const counters = last
      .split('\n')
      .filter((l) => /^(scanned_|found_|ready|thread_)/.test(l))
      .join('\n');
    throw new Error(
      `debuginfod did not report a scanned tarball within ${SCAN_DEADLINE_MS / 1000} s; ` +
        `last metrics:\n${counters || last}\nserver log:\n${this.log}`,
    );
  }

  async stop(): Promise<void> {
    if (this.#exitedAlready) return;
    this.#child.kill('SIGTERM');
    const gone = await Promise.race([this.#exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!gone) {
      this.#child.kill('SIGKILL');
      await Promise.race([this.#exited, sleep(5_000)]);
    }
  }
}
