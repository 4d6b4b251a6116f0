import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type Result } from 'execa';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../../dist/cli.js');
const RECORDER = path.resolve(here, 'record-peak-rss.cjs');

/**
 * Runs `node dist/cli.js ...args` and returns its result with its peak RSS
 * (VmHWM, read by the child itself as it exits, so nothing is missed
 * between samples). `timeout` (ms) fails a run that hangs instead of waiting.
 */
export async function cliPeakRss(
  args: string[],
  options: { timeout?: number; env?: Record<string, string> } = {},
): Promise<{ result: Result<{ reject: false }>; peakRss: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'packdebug-rss-'));
  const out = path.join(dir, 'peak');
  try {
    const result = await execa('node', ['--require', RECORDER, CLI, ...args], {
      reject: false,
      timeout: options.timeout ?? 60_000,
      env: { ...options.env, PACKDEBUG_PEAK_RSS_FILE: out },
    });
    const peakRss = Number(await readFile(out, 'utf8').catch(() => 'NaN'));
    return { result, peakRss };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
