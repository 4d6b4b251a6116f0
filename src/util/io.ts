/**
 * What a command may touch of the outside world. The CLI passes the real
 * process streams and environment; tests pass buffers and a fake env
 * (test/helpers/io.ts), so a command runs in-process without a subprocess.
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
