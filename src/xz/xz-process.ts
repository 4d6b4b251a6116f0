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
}

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
export function decodeWithXzProcess(
  input: XzProcessInput,
  consumer: (chunk: Buffer) => boolean | void,
): Promise<XzProcessResult> {
  return new Promise((resolve, reject) => {
    const args = ['--decompress', '--stdout', '--quiet', '--no-warn'];
    if (input.file !== undefined) args.push('--', input.file);
    const child = spawn('xz', args, { stdio: [input.data ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: xzEnvironment() });
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
    const settle = (code: number | null) => {
      if (settled) return;
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
    child.stdout!.on('data', (chunk: Buffer) => {
      if (stopped) return;
      produced += chunk.length;
      try {
        if (consumer(chunk) === false) stop();
      } catch (err) {
        failure ??= err;
        stop();
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (input.data) {
      // xz killed early, or failing, closes the pipe: that is not our error.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input.data);
    }
    child.on('close', settle);
  });
}
