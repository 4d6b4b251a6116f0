import type { CommandIO } from '../../src/util/io.js';

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
