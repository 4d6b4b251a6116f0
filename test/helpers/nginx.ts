/**
 * Debian's nginx (1.22 in bookworm) serving a directory on 127.0.0.1, for
 * the HTTP range-read interop tests. Each server gets its own prefix
 * directory (config, pid, logs, the five temp directories), so nothing under
 * /etc/nginx, /var/lib/nginx or /var/log/nginx is read or written, and the
 * same code runs as root and as any other user.
 *
 * nginx runs in the foreground without a master process: one process, the
 * child of the test, which never changes user. As root it can therefore read
 * any file of the tree; `user root;` only spares it looking up the compiled-in
 * default user (nobody/nogroup), which a minimal container may lack.
 *
 * nginx behaviour the tests can rely on (checked with curl on 1.22.1):
 * - a single range `bytes=a-b`, `bytes=a-`, `bytes=-n` gets 206 with
 *   `Content-Range: bytes a-b/total`; an end past the file is clamped;
 *   several ranges get a multipart/byteranges 206;
 * - an unsatisfiable range (start past the end, `bytes=-0`) and also a
 *   reversed one (`bytes=5-2`) get 416 with `Content-Range: bytes *\/total`;
 * - HEAD with a Range gets the 206 headers (Content-Length of the range);
 * - a whole-file 200 carries `Accept-Ranges: bytes`;
 * - `noRange` sets `max_ranges 0`: every Range header is ignored, the answer
 *   is 200 with the whole body, and `Accept-Ranges` is left out;
 * - a directory gets 403 (autoindex off, no index file), a missing file 404;
 * - redirects carry an absolute Location (http://127.0.0.1:PORT/...).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from './debuginfod.js';
import { toolPath } from './tools.js';

export interface NginxOptions {
  /** Serve every Range request as a 200 with the whole file (`max_ranges 0`). */
  noRange?: boolean;
  /** Requests under this prefix (e.g. '/r/') get a 302 to the same path and query without it. */
  redirectPrefix?: string;
}

/** One line of the access log. */
export interface NginxLogEntry {
  method: string;
  /** The request target as the client sent it (percent-encoding and query kept). */
  path: string;
  status: number;
  /** Body bytes sent ($body_bytes_sent): 0 for HEAD, the error page's size for 4xx. */
  bytes: number;
  /** The Range request header, when there was one. */
  range?: string;
}

export interface NginxServer {
  /** http://127.0.0.1:PORT/ with the trailing slash. */
  url: string;
  port: number;
  /** Every request answered so far, in order (the helper's own requests left out). */
  accessLog(): Promise<NginxLogEntry[]>;
  /** Stops nginx and removes its prefix directory. Safe to call twice. */
  stop(): Promise<void>;
}

const START_DEADLINE_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const BIND_ATTEMPTS = 5;
/** Answered by nginx itself, not logged: proves the server is ours and flushes the log (see accessLog). */
const HELPER_PATH = '/.packdebug-nginx-helper';

/** Single-quoted nginx string. `$` is refused: root and access_log would expand it as a variable. */
function quote(value: string): string {
  if (value.includes('$') || [...value].some((c) => c.charCodeAt(0) < 0x20))
    throw new Error(`nginx helper: cannot put ${JSON.stringify(value)} in a config`);
  return `'${value.replace(/[\\']/g, '\\$&')}'`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function checkRedirectPrefix(prefix: string): void {
  if (!/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*\/$/.test(prefix)) {
    throw new Error(`nginx helper: redirectPrefix must look like '/r/', got ${JSON.stringify(prefix)}`);
  }
}

function config(prefix: string, port: number, token: string, options: NginxOptions): string {
  const at = (name: string) => quote(join(prefix, name));
  const lines = [
    'daemon off;',
    'master_process off;',
    `pid ${at('nginx.pid')};`,
    `error_log ${at('error.log')} warn;`,
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'events { worker_connections 256; }',
    'http {',
    // Tab-separated; nginx writes \xHH for tabs, quotes and other bytes it escapes inside a value.
    `  log_format packdebug '$request_method\\t$request_uri\\t$status\\t$body_bytes_sent\\t$http_range';`,
    // No buffer=: each line is written when its request ends.
    `  access_log ${at('access.log')} packdebug;`,
    `  client_body_temp_path ${at('client_body_temp')};`,
    `  proxy_temp_path ${at('proxy_temp')};`,
    `  fastcgi_temp_path ${at('fastcgi_temp')};`,
    `  uwsgi_temp_path ${at('uwsgi_temp')};`,
    `  scgi_temp_path ${at('scgi_temp')};`,
    '  default_type application/octet-stream;',
    '  sendfile on;',
    '  gzip off;',
  ];
  if (options.redirectPrefix !== undefined) {
    const head = escapeRegExp(options.redirectPrefix.slice(0, -1));
    // Matched against the raw $request_uri so that the Location keeps the client's encoding and query.
    lines.push(
      `  map $request_uri $packdebug_unprefixed { '~^${head}(?<packdebug_rest>/.*)$' $packdebug_rest; default /; }`,
    );
  }
  lines.push(
    '  server {',
    `    listen 127.0.0.1:${port};`,
    // A symlink to the served tree: its path needs no quoting whatever the tree is called.
    `    root ${at('root')};`,
    '    autoindex off;',
    ...(options.noRange ? ['    max_ranges 0;'] : []),
    `    location = ${HELPER_PATH} { access_log off; return 200 '${token}'; }`,
    ...(options.redirectPrefix !== undefined
      ? [`    location ^~ ${options.redirectPrefix} { return 302 $packdebug_unprefixed; }`]
      : []),
    '  }',
    '}',
    '',
  );
  return lines.join('\n');
}

/** GET of the helper location over a fresh connection; the body, or undefined when nothing answers yet. */
function askHelper(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: HELPER_PATH, agent: false, timeout: 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString() : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

function parseLog(text: string): NginxLogEntry[] {
  const unescape = (value: string) =>
    value.replace(/\\x([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const entries: NginxLogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split('\t');
    if (fields.length !== 5) throw new Error(`nginx helper: unexpected access log line ${JSON.stringify(line)}`);
    const [method, path, status, bytes, range] = fields;
    const entry: NginxLogEntry = { method, path: unescape(path), status: Number(status), bytes: Number(bytes) };
    if (range !== '-') entry.range = unescape(range);
    entries.push(entry);
  }
  return entries;
}

type Started = { kind: 'ready'; child: ChildProcess } | { kind: 'port-taken' };

async function launch(nginx: string, prefix: string, port: number, token: string): Promise<Started> {
  const child = spawn(nginx, ['-p', `${prefix}/`, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', (err) => {
    exited = true;
    stderr += String(err);
  });

  const deadline = Date.now() + START_DEADLINE_MS;
  while (!exited && Date.now() < deadline) {
    if ((await askHelper(port)) === token) return { kind: 'ready', child };
    if (!exited) await sleep(50);
  }
  const errorLog = await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '');
  const messages = `${stderr}${errorLog}`.trim();
  if (!exited) {
    child.kill('SIGKILL');
    throw new Error(`nginx did not answer on port ${port} within ${START_DEADLINE_MS / 1000} s:\n${messages}`);
  }
  // nginx itself retries bind() for 2.5 s before it gives up.
  if (/Address already in use/.test(messages)) return { kind: 'port-taken' };
  throw new Error(`nginx exited at start (exit ${child.exitCode}, signal ${child.signalCode}):\n${messages}`);
}

/** Starts nginx serving `root` (read-only) on a free port of 127.0.0.1. */
export async function startNginx(root: string, options: NginxOptions = {}): Promise<NginxServer> {
  const nginx = toolPath('nginx');
  if (nginx === undefined) throw new Error('nginx not found: install it (Debian package nginx, see .ci/run)');
  if (options.redirectPrefix !== undefined) checkRedirectPrefix(options.redirectPrefix);
  const tree = await realpath(root);
  if (!(await stat(tree)).isDirectory()) throw new Error(`nginx helper: ${root} is not a directory`);

  const prefix = await mkdtemp(join(os.tmpdir(), 'packdebug-nginx-'));
  try {
    await symlink(tree, join(prefix, 'root'));
    for (const temp of ['client_body_temp', 'proxy_temp', 'fastcgi_temp', 'uwsgi_temp', 'scgi_temp']) {
      await mkdir(join(prefix, temp));
    }
    const token = randomBytes(12).toString('hex');
    for (let attempt = 1; attempt <= BIND_ATTEMPTS; attempt++) {
      const port = await freePort();
      await writeFile(join(prefix, 'nginx.conf'), config(prefix, port, token, options));
      await rm(join(prefix, 'access.log'), { force: true });
      const started = await launch(nginx, prefix, port, token);
      if (started.kind === 'ready') return running(started.child, prefix, port, token);
    }
    throw new Error(`nginx helper: ${BIND_ATTEMPTS} free ports in a row were taken before nginx could bind them`);
  } catch (err) {
    await rm(prefix, { recursive: true, force: true });
    throw err;
  }
}

function running(child: ChildProcess, prefix: string, port: number, token: string): NginxServer {
  let alive = child.exitCode === null && child.signalCode === null;
  const exited = new Promise<void>((resolve) => {
    if (!alive) resolve();
    child.once('exit', () => {
      alive = false;
      resolve();
    });
  });
  // Should the test process die without running afterAll, take nginx along.
  const reap = () => {
    if (alive) child.kill('SIGKILL');
  };
  process.once('exit', reap);

  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    async accessLog() {
      // nginx is one process with one event loop and writes a request's log line right after its last
      // byte, before it reads anything else: once it has answered this later request, every request
      // whose response a client has received is in the file.
      if (alive && (await askHelper(port)) !== token) throw new Error('nginx helper: nginx stopped answering');
      return parseLog(await readFile(join(prefix, 'access.log'), 'utf8'));
    },
    stop() {
      stopping ??= (async () => {
        if (alive) {
          child.kill('SIGQUIT');
          await Promise.race([exited, sleep(STOP_GRACE_MS)]);
          if (alive) {
            child.kill('SIGKILL');
            await Promise.race([exited, sleep(STOP_GRACE_MS)]);
          }
        }
        process.off('exit', reap);
        await rm(prefix, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
