/**
 * An in-process HTTP server over a directory that misbehaves on request, for
 * the HTTP client's fault tests: a plan function sees every request and may
 * answer it with a fault instead of the file.
 *
 * Without a fault it serves like nginx does for a single range: GET and HEAD,
 * `bytes=a-b`, `bytes=a-`, `bytes=-n` get 206 with `Content-Range: bytes
 * a-b/total` (an end past the file is clamped), an unsatisfiable or reversed
 * range gets 416 with `Content-Range: bytes *\/total`. Unlike nginx it does
 * not do several ranges: a Range it cannot parse (a list, another unit) is
 * ignored, which RFC 9110 allows, and the answer is the whole file.
 *
 * It never serves outside the directory: `..` and `.` segments (also
 * percent-encoded), encoded slashes and NUL are refused with 400, a path
 * whose real location (symlinks resolved) leaves the directory with 403.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, sep } from 'node:path';
import { sleep } from './debuginfod.js';

export type Fault =
  /** Answer with this status (and body, headers) instead of the file. */
  | { status: number; body?: string; headers?: Record<string, string> }
  /** The normal headers, then the connection is closed after this many body bytes (none cut if the body is shorter). */
  | { cut: number }
  /** The normal answer with the body byte at this offset (counted from the first byte sent) inverted, if there. */
  | { corrupt: number }
  /** Wait this long, then answer normally. */
  | { delayMs: number }
  /** 200 with the whole file whatever the Range header says (and no Accept-Ranges). */
  | { ignoreRange: true };

export interface FaultRequest {
  method: string;
  /** The request target as sent (percent-encoding and query kept). */
  path: string;
  range?: string;
  /** This is the count-th request for this path (any method), from 1. */
  count: number;
}

export interface FaultServerRequest {
  method: string;
  path: string;
  range?: string;
  /** The status sent (for a cut answer, the status of its headers). */
  status: number;
}

export interface FaultServer {
  /** http://127.0.0.1:PORT/ with the trailing slash. */
  url: string;
  /** Every request so far, in arrival order; filled in as answers start. */
  requests: FaultServerRequest[];
  stop(): Promise<void>;
}

export type FaultPlan = (req: FaultRequest) => Fault | undefined;

/** What the file answer would be, before any fault other than a status one. */
interface Answer {
  status: number;
  headers: Record<string, string | number>;
  /** The file and inclusive byte range to send, or a fixed body. */
  body: { file: string; start: number; end: number } | Buffer;
}

type RangeSpec = { kind: 'none' } | { kind: 'unsatisfiable' } | { kind: 'range'; start: number; end: number };

/** A single `bytes=` range against a file of `size` bytes. Anything else is treated as no Range (RFC 9110 §14.2). */
function parseRange(header: string | undefined, size: number): RangeSpec {
  if (header === undefined) return { kind: 'none' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'none' };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Number(match[2]);
  // A reversed range gets 416 as from nginx.
  if (start >= size || last < start) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end: Math.min(last, size - 1) };
}

function textAnswer(status: number, text: string, headers: Record<string, string> = {}): Answer {
  const body = Buffer.from(text);
  return { status, headers: { 'Content-Type': 'text/plain', 'Content-Length': body.length, ...headers }, body };
}

/** The file under `root` that `target` names, or an error answer. `root` is a real path. */
async function locate(root: string, target: string): Promise<string | Answer> {
  const rawPath = target.split('?', 1)[0];
  if (!rawPath.startsWith('/')) return textAnswer(400, 'bad request target\n');
  const segments: string[] = [];
  for (const raw of rawPath.slice(1).split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return textAnswer(400, 'bad percent-encoding\n');
    }
    if (segment === '.' || segment === '..' || segment.includes('/') || segment.includes('\0')) {
      return textAnswer(400, 'refused path segment\n');
    }
    if (segment !== '') segments.push(segment);
  }
  let real: string;
  try {
    real = await realpath(join(root, ...segments));
  } catch {
    return textAnswer(404, 'not found\n');
  }
  if (real !== root && !real.startsWith(root + sep)) return textAnswer(403, 'outside the served directory\n');
  const info = await stat(real);
  if (!info.isFile()) return textAnswer(404, 'not a file\n');
  return real;
}

async function fileAnswer(root: string, target: string, range: string | undefined, honourRange: boolean) {
  const file = await locate(root, target);
  if (typeof file !== 'string') return file;
  const size = (await stat(file)).size;
  const common = { 'Content-Type': 'application/octet-stream' };
  const spec = honourRange ? parseRange(range, size) : { kind: 'none' as const };
  const whole: Answer = {
    status: 200,
    headers: { ...common, 'Content-Length': size, ...(honourRange ? { 'Accept-Ranges': 'bytes' } : {}) },
    body: { file, start: 0, end: size - 1 },
  };
  if (spec.kind === 'none') return whole;
  if (spec.kind === 'unsatisfiable')
    return textAnswer(416, 'range not satisfiable\n', { 'Content-Range': `bytes */${size}` });
  return {
    status: 206,
    headers: {
      ...common,
      'Accept-Ranges': 'bytes',
      'Content-Length': spec.end - spec.start + 1,
      'Content-Range': `bytes ${spec.start}-${spec.end}/${size}`,
    },
    body: { file, start: spec.start, end: spec.end },
  } satisfies Answer;
}

async function* bodyChunks(body: Answer['body']): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    yield body;
    return;
  }
  if (body.end < body.start) return;
  for await (const chunk of createReadStream(body.file, { start: body.start, end: body.end })) yield chunk as Buffer;
}

function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error('client went away'));
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(new Error('client went away'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/** Sends `answer`, cut after `cut` body bytes or with the byte at `corrupt` inverted. */
async function send(res: ServerResponse, head: boolean, answer: Answer, cut?: number, corrupt?: number): Promise<void> {
  res.writeHead(answer.status, answer.headers);
  if (head) {
    res.end();
    return;
  }
  let offset = 0;
  for await (const original of bodyChunks(answer.body)) {
    let chunk = original;
    if (corrupt !== undefined && corrupt >= offset && corrupt < offset + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[corrupt - offset] ^= 0xff;
    }
    if (cut !== undefined && offset + chunk.length >= cut) {
      const last = chunk.subarray(0, cut - offset);
      // Flush the headers and the bytes before the cut, then drop the connection without finishing.
      if (last.length > 0) await write(res, last);
      else res.flushHeaders();
      const socket = res.socket;
      if (socket) await new Promise<void>((resolve) => socket.end(resolve));
      res.destroy();
      return;
    }
    await write(res, chunk);
    offset += chunk.length;
  }
  res.end();
}

/** Starts the server on a free port of 127.0.0.1. */
export async function startFaultServer(root: string, plan: FaultPlan): Promise<FaultServer> {
  const realRoot = await realpath(root);
  const requests: FaultServerRequest[] = [];
  const counts = new Map<string, number>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const range = req.headers.range;
    const count = (counts.get(path) ?? 0) + 1;
    counts.set(path, count);
    const record: FaultServerRequest = { method, path, status: 0, ...(range !== undefined ? { range } : {}) };
    requests.push(record);
    const head = method === 'HEAD';

    let fault: Fault | undefined;
    try {
      fault = plan({ method, path, count, ...(range !== undefined ? { range } : {}) });
    } catch (err) {
      fault = { status: 500, body: `fault plan threw: ${String(err)}\n` };
    }
    let answer: Answer;
    if (fault && 'status' in fault) {
      const body = Buffer.from(fault.body ?? '');
      answer = { status: fault.status, headers: { 'Content-Length': body.length, ...fault.headers }, body };
    } else {
      if (fault && 'delayMs' in fault) await sleep(fault.delayMs);
      if (method !== 'GET' && method !== 'HEAD') answer = textAnswer(405, 'GET or HEAD only\n', { Allow: 'GET, HEAD' });
      else answer = await fileAnswer(realRoot, path, range, !(fault && 'ignoreRange' in fault));
    }
    record.status = answer.status;
    await send(
      res,
      head,
      answer,
      fault && 'cut' in fault ? fault.cut : undefined,
      fault && 'corrupt' in fault ? fault.corrupt : undefined,
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
