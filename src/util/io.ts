/**
 * What a command may touch of the outside world. The CLI passes the real
 * process streams and environment; tests pass buffers and a fake env, so a
 * command runs in-process without a subprocess.
 */
export interface CommandIO {
  stdout: { write(chunk: string | Uint8Array): unknown };
  stderr: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** Progress and notices of a long library operation (the pack engine); the caller decides where they go. */
export interface PackLogger {
  info(message: string): void;
  warn(message: string): void;
  /** A transient progress line (only shown on a TTY). */
  progress?(message: string): void;
}

export function processIO(): CommandIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Collects a command's output in memory (for tests). */
export function memoryIO(env: NodeJS.ProcessEnv = {}): CommandIO & { out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const text = (c: string | Uint8Array) => (typeof c === 'string' ? c : Buffer.from(c).toString('utf8'));
  return {
    stdout: { write: (c) => out.push(text(c)) },
    stderr: { write: (c) => err.push(text(c)), isTTY: false },
    env,
    out: () => out.join(''),
    err: () => err.join(''),
  };
}
