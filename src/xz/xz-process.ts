import { spawn, type ChildProcess } from 'node:child_process';

/**
 * xz(1) in a child process: the one place that starts it (Block encoding,
 * decoding, the version probe, repack's streaming decode); the binpkg
 * decompressors run it through execa with xzEnvironment().
 *
 * The system's xz (5.4 on current distributions) decodes 2.5 to 4 times as
 * fast as the liblzma 5.2.3 in lzma-native's prebuilt binding
 * (docs/layout.md), which pays for the process start (about 5 ms) once a
 * read spans more than a few hundred KiB. node:child_process is used
 * directly: importing execa alone takes longer than xz needs for a whole
 * 2 MiB Block, and extract's start-up pays for the version probe.
 */

export interface XzProcessInput {
  /** The .xz data, written to xz's stdin. */
  data?: Buffer;
  /** Or a file xz opens itself. */
  file?: string;
  /**
   * Or the .xz data piece by piece, written to xz's stdin as the pipe takes
   * it (so no more than a piece or two is held), and no further once xz is
   * stopped or has ended.
   */
  pieces?: AsyncIterable<Buffer>;
}

/**
 * Takes one chunk of output; false stops xz. A promise holds xz's output
 * (xz then blocks on the full pipe) until it settles: backpressure for a
 * consumer that writes somewhere slow.
 */
export type XzChunkConsumer = (chunk: Buffer) => boolean | void | Promise<boolean | void>;

export interface XzProcessResult {
  /** The consumer asked to stop (xz was killed). */
  stopped: boolean;
  /** Bytes of output handed to the consumer or read before stopping. */
  produced: number;
}

/** The error of an xz(1) that could not start (no xz on PATH): callers may fall back. */
export class XzMissingError extends Error {
  constructor(cause: unknown) {
    super(`xz(1) could not be started: ${(cause as Error).message ?? String(cause)}`, { cause });
    this.name = 'XzMissingError';
  }
}

/** xz(1) ran and refused the data; the message is xz's own. */
export class XzFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XzFailedError';
  }
}

/**
 * The environment every xz(1) runs in. XZ_OPT and XZ_DEFAULTS hold settings
 * meant for the user's own runs (Portage passes them through): a
 * --block-size there splits the one Block an encode must produce, a memory
 * limit fails a decode. LC_ALL=C: xz's messages are parsed and quoted in
 * packdebug's English ones.
 */
export function xzEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  delete env['XZ_OPT'];
  delete env['XZ_DEFAULTS'];
  return env;
}

/** XZ Utils 5.0.0 (stable) as `xz --robot --version` numbers it: the oldest packdebug uses. */
const XZ_VERSION_MIN = 50000002;

/**
 * The version in `xz --robot --version`'s output (XZ_VERSION=MMMMMNNNPPPS),
 * as major.minor.patch, and whether it is 5.0 or later; undefined when the
 * output has none.
 */
export function parseXzVersion(robot: string): { version: string; usable: boolean } | undefined {
  const m = /XZ_VERSION=(\d+)/.exec(robot);
  if (!m) return undefined;
  const v = Number(m[1]);
  const version = `${Math.floor(v / 10000000)}.${Math.floor(v / 10000) % 1000}.${Math.floor(v / 10) % 1000}`;
  return { version, usable: v >= XZ_VERSION_MIN };
}

const DECODE_ARGS = ['--decompress', '--stdout', '--quiet', '--no-warn'];

function startXz(args: readonly string[], stdin: 'pipe' | 'ignore'): ChildProcess {
  return spawn('xz', args, { stdio: [stdin, 'pipe', 'pipe'], env: xzEnvironment() });
}

/** An 'error' of a child that never started (no pid) means xz is not there. */
function startFailure(child: ChildProcess, err: Error): Error {
  return child.pid === undefined ? new XzMissingError(err) : err;
}

/** xz's complaint without its `xz: FILE: ` prefix, or the exit status. */
function xzComplaint(stderr: Buffer[], code: number | null): string {
  return (
    Buffer.concat(stderr)
      .toString()
      .trim()
      .replace(/^xz: [^:]*: /, '') || `xz exited with status ${code}`
  );
}

export interface XzRun {
  /** Exit status; null when killed (the timeout). */
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs xz with `args`, `input` on its stdin, and collects its output.
 * Rejects with XzMissingError when xz cannot be started; a failing xz is a
 * result with a non-zero code (the caller knows what the failure means).
 */
export function runXz(args: readonly string[], opts: { input?: Buffer; timeoutMs?: number } = {}): Promise<XzRun> {
  return new Promise((resolve, reject) => {
    const child = startXz(args, opts.input ? 'pipe' : 'ignore');
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill(), opts.timeoutMs);
    let settled = false;
    const finish = (err: Error | undefined, code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve({ code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() });
    };
    // A process that never started emits no 'close' on every Node version.
    child.on('error', (err) => finish(startFailure(child, err), null));
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (opts.input) {
      // A failing xz closes the pipe: its exit status says why.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
    child.on('close', (code) => finish(undefined, code));
  });
}

/**
 * Decodes `input` with `xz --decompress`, handing the output to `consumer`
 * chunk by chunk until it returns false (xz is then killed) or xz ends.
 * A consumer that returns a promise (its output is busy) pauses xz's pipe
 * until it settles, so a slow consumer holds at most a pipe's worth.
 * Rejects with XzMissingError when xz cannot be started, with XzFailedError
 * (xz's own message) when the data is bad, and with what the consumer threw.
 */
export function decodeWithXzProcess(input: XzProcessInput, consumer: XzChunkConsumer): Promise<XzProcessResult> {
  return new Promise((resolve, reject) => {
    const args = [...DECODE_ARGS];
    if (input.file !== undefined) args.push('--', input.file);
    const piped = input.data !== undefined || input.pieces !== undefined;
    const child = startXz(args, piped ? 'pipe' : 'ignore');
    let produced = 0;
    let stopped = false;
    let failure: unknown;
    const stderr: Buffer[] = [];
    const stop = () => {
      stopped = true;
      child.stdout!.destroy();
      child.kill();
    };
    let settled = false;
    // Output handed to a consumer that has not finished with it: settle only after.
    let waiting: Promise<void> | undefined;
    const settle = (code: number | null) => {
      if (settled) return;
      if (waiting) {
        void waiting.then(() => settle(code));
        return;
      }
      settled = true;
      if (failure !== undefined) reject(failure);
      else if (stopped || code === 0) resolve({ stopped, produced });
      else reject(new XzFailedError(xzComplaint(stderr, code)));
    };
    child.on('error', (err) => {
      failure ??= startFailure(child, err);
      // A process that never started emits no 'close' on every Node version.
      if (child.pid === undefined) settle(null);
    });
    const stdout = child.stdout!;
    // Pulled with read() rather than taken from 'data' events: a paused stream is resumed by
    // child_process when xz exits (to flush it), which would hand over output while a consumer still waits.
    const pull = () => {
      let chunk: Buffer | null;
      while (!stopped && waiting === undefined && (chunk = stdout.read() as Buffer | null) !== null) {
        produced += chunk.length;
        let answer;
        try {
          answer = consumer(chunk);
        } catch (err) {
          failure ??= err;
          stop();
          return;
        }
        if (answer === false) stop();
        else if (isPromise(answer)) {
          waiting = answer.then(
            (more) => {
              waiting = undefined;
              if (more === false) stop();
              else pull();
            },
            (err: unknown) => {
              waiting = undefined;
              failure ??= err;
              stop();
            },
          );
        }
      }
    };
    stdout.on('readable', pull);
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (piped) {
      // xz killed early, or failing, closes the pipe: that is not our error.
      child.stdin!.on('error', () => undefined);
      if (input.data) child.stdin!.end(input.data);
      else
        void writePieces(child.stdin!, input.pieces!, () => stopped || settled).catch((err: unknown) => {
          failure ??= err;
          stop();
        });
    }
    child.on('close', settle);
  });
}

/** A promise from any realm (a test runner's module context has its own Promise). */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/** Writes `pieces` to `stdin`, waiting whenever the pipe is full, until they end or `done()`. */
async function writePieces(
  stdin: NodeJS.WritableStream & { destroyed?: boolean },
  pieces: AsyncIterable<Buffer>,
  done: () => boolean,
): Promise<void> {
  for await (const piece of pieces) {
    if (done() || stdin.destroyed) return;
    if (!stdin.write(piece)) {
      await new Promise<void>((resolve) => {
        const go = () => {
          stdin.off('drain', go);
          stdin.off('close', go);
          resolve();
        };
        stdin.on('drain', go);
        stdin.on('close', go);
      });
    }
  }
  if (!done() && !stdin.destroyed) stdin.end();
}

/**
 * The decoded contents of `file`, pulled chunk by chunk (xz waits while the
 * caller is busy). Throws XzMissingError before the first chunk when xz
 * cannot be started, XzFailedError after the last when the data is bad.
 * Leaving the loop early kills xz.
 */
export async function* decodeFileWithXzProcess(file: string): AsyncGenerator<Buffer> {
  const child = startXz([...DECODE_ARGS, '--', file], 'ignore');
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exit = new Promise<number | null>((resolve, reject) => {
    child.on('error', (err) => reject(startFailure(child, err)));
    child.on('close', resolve);
  });
  // Not awaited when the caller stops early.
  exit.catch(() => undefined);
  let finished = false;
  try {
    for await (const chunk of child.stdout!) yield chunk as Buffer;
    finished = true;
  } finally {
    if (!finished) {
      child.stdout!.destroy();
      child.kill();
    }
  }
  const code = await exit;
  if (code !== 0) throw new XzFailedError(xzComplaint(stderr, code));
}
