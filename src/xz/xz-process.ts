import { spawn } from 'node:child_process';

/**
 * xz(1) as a decoder in a child process. The system's xz (5.4 on current
 * distributions) decodes 2.5 to 4 times as fast as the liblzma 5.2.3 in
 * lzma-native's prebuilt binding (docs/layout.md), which pays for the
 * process start (about 5 ms) once a read spans more than a few hundred KiB.
 * node:child_process is used directly: importing execa alone takes longer
 * than xz needs for a whole 2 MiB Block.
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

/** XZ_OPT and XZ_DEFAULTS may hold a memory limit or other settings meant for the user's own runs. */
function xzEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['XZ_OPT'];
  delete env['XZ_DEFAULTS'];
  return env;
}

/**
 * Decodes `input` with `xz --decompress`, handing the output to `consumer`
 * chunk by chunk until it returns false (xz is then killed) or xz ends.
 * Rejects with XzMissingError when xz cannot be started, with XzFailedError
 * (xz's own message) when the data is bad, and with what the consumer threw.
 */
export function decodeWithXzProcess(input: XzProcessInput, consumer: XzChunkConsumer): Promise<XzProcessResult> {
  return new Promise((resolve, reject) => {
    const args = ['--decompress', '--stdout', '--quiet', '--no-warn'];
    if (input.file !== undefined) args.push('--', input.file);
    const piped = input.data !== undefined || input.pieces !== undefined;
    const child = spawn('xz', args, { stdio: [piped ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: xzEnvironment() });
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
      else
        reject(
          new XzFailedError(
            Buffer.concat(stderr)
              .toString()
              .trim()
              .replace(/^xz: [^:]*: /, '') || `xz exited with status ${code}`,
          ),
        );
    };
    child.on('error', (err) => {
      const missing = child.pid === undefined;
      failure ??= missing ? new XzMissingError(err) : err;
      // A process that never started emits no 'close' on every Node version.
      if (missing) settle(null);
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
