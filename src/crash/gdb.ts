/**
 * The gdb command line that uses what `core --fetch DIR` wrote: the
 * settings go in with -iex, so they hold before gdb loads the program and
 * the core, and debuginfod is off, so nothing comes from the network.
 */
import path from 'node:path';

export interface GdbPlan {
  dir: string;
  /** The program: its path on this system, or the fetched executable; gdb finds it from the core otherwise. */
  program?: string;
  core?: string;
  /** DIR/sysroot, when some module's file is not on this system. */
  sysroot?: string;
}

export function gdbArgv(plan: GdbPlan): string[] {
  const argv = [
    'gdb',
    '-iex',
    'set debuginfod enabled off',
    '-iex',
    `set debug-file-directory ${path.join(plan.dir, 'usr/lib/debug')}:/usr/lib/debug`,
    '-iex',
    `set substitute-path /usr/src/debug ${path.join(plan.dir, 'usr/src/debug')}`,
  ];
  if (plan.sysroot !== undefined) argv.push('-iex', `set sysroot ${plan.sysroot}`);
  if (plan.program !== undefined) argv.push(plan.program);
  if (plan.core !== undefined) argv.push(plan.program !== undefined ? plan.core : `--core=${plan.core}`);
  return argv;
}

/** A word as a POSIX shell reads it back. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellLine(argv: readonly string[]): string {
  return argv.map(shellWord).join(' ');
}
