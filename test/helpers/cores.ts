/**
 * Real ELF core files of the crash fixture (fixtures/src/crash, built by
 * fixtures/make-crash-image.sh): one gcore writes of a waiting process and
 * one the kernel writes when it dies of SIGSEGV, and eu-unstrip's view of
 * the modules in a core.
 *
 * Everything made here lives in images.ts's scratch directories (removed
 * after the test file); a crash process still running then is killed.
 */
import { copyFile, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { execa, type Result, type ResultPromise } from 'execa';
import { afterAll } from 'vitest';
import { tmpdir } from './images.js';

export const MAKE_CRASH_IMAGE = fileURLToPath(new URL('../../fixtures/make-crash-image.sh', import.meta.url));
export const MAKE_MANY_LIBS = fileURLToPath(new URL('../../fixtures/make-many-libs.sh', import.meta.url));

const READY_TIMEOUT_MS = 20_000;
const TOOL_TIMEOUT_MS = 120_000;
const CORE_PATTERN = '/proc/sys/kernel/core_pattern';
const CORE_USES_PID = '/proc/sys/kernel/core_uses_pid';

const builds = new Map<string, Promise<string>>();
const running = new Set<ResultPromise>();

afterAll(async () => {
  builds.clear();
  // A test that timed out never reached its finally.
  for (const child of running) child.kill('SIGKILL');
  await Promise.all([...running]);
});

/** Without DEBUGINFOD_URLS: gdb and libdwfl must not go out to the network for the system libraries. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DEBUGINFOD_URLS;
  return env;
}

/** A private copy of the image `script args` builds, built once per test file. */
async function copyOfBuild(prefix: string, script: string, args: string[]): Promise<string> {
  const key = [script, ...args].join('\0');
  let built = builds.get(key);
  if (built === undefined) {
    built = (async () => {
      const dir = await tmpdir(`fixture-${prefix}`);
      await execa('bash', [script, dir, ...args]);
      return join(dir, 'image');
    })();
    builds.set(key, built);
    // A failed build is not cached: the next caller gets a retry and the error.
    built.catch(() => builds.delete(key));
  }
  const source = await built;
  const dest = await tmpdir(`image-${prefix}`);
  await execa('cp', ['-a', '--', source, dest]);
  return join(dest, 'image');
}

/** A private copy of the app-misc/crash-1.0 image (usr/bin/crash, usr/lib64/libfault.so.1, their debug files). */
export function makeCrashImage(): Promise<string> {
  return copyOfBuild('crash', MAKE_CRASH_IMAGE, []);
}

/** A private copy of the app-misc/many-1.0 image: `count` libraries usr/lib64/many/libmany-K.so. */
export function makeManyLibsImage(count: number): Promise<string> {
  return copyOfBuild(`many${count}`, MAKE_MANY_LIBS, [String(count)]);
}

function describeEnd(result: Result): string {
  if (result.signal !== undefined) return `killed by ${result.signal}`;
  return `exit status ${result.exitCode}`;
}

/**
 * Waits for `readyFile` (the crash program writes its pid there, atomically)
 * and returns the pid; undefined when `ended()` turns true or the time is up.
 */
async function pollReadyFile(readyFile: string, ended: () => boolean): Promise<number | undefined> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const text = await readFile(readyFile, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      if (!/^\d+\n$/.test(text)) throw new Error(`${readyFile} holds ${JSON.stringify(text)}, not a pid`);
      return Number(text.trimEnd());
    }
    if (ended() || Date.now() > deadline) return undefined;
    await delay(25);
  }
}

/**
 * gcore's core of `image/usr/bin/crash wait` (stopped in fault_wait, in
 * libfault, called by run_mode in crash.c), or with `dlopenDir` of
 * `crash dlopen` after it loaded `count` libmany-K.so from there (default:
 * all of them). With `coredumpFilter`, the process's
 * /proc/PID/coredump_filter is set first (gcore honours it: 0x3 leaves out
 * the ELF header pages of file mappings). The process is killed before this
 * returns or throws.
 */
export async function gcoreOf(
  image: string,
  opts: { dlopenDir?: string; count?: number; coredumpFilter?: string } = {},
): Promise<{ core: string; pid: number }> {
  const dir = await tmpdir('gcore');
  const ready = join(dir, 'ready');
  let args = ['wait', ready];
  if (opts.dlopenDir !== undefined) {
    const count = opts.count ?? (await readdir(opts.dlopenDir)).filter((n) => /^libmany-\d+\.so$/.test(n)).length;
    args = ['dlopen', opts.dlopenDir, String(count), ready];
  }
  const program = join(image, 'usr/bin/crash');
  const command = [program, ...args].join(' ');

  const child = execa(program, args, { cwd: dir, reject: false, stdin: 'ignore', env: offlineEnv() });
  running.add(child);
  let result: Result | undefined;
  const ended = child.then((r) => (result = r));
  try {
    const pid = await pollReadyFile(ready, () => result !== undefined);
    if (pid === undefined) {
      const exitedEarly = result !== undefined;
      child.kill('SIGKILL');
      const r = await ended;
      const how = exitedEarly ? describeEnd(r) : `not ready after ${READY_TIMEOUT_MS / 1000} s`;
      throw new Error(`${command}: ${how}, no ${ready}; stderr: ${String(r.stderr).trim() || '(empty)'}`);
    }
    if (pid !== child.pid) throw new Error(`${command}: wrote pid ${pid}, but its pid is ${child.pid}`);

    if (opts.coredumpFilter !== undefined) await writeFile(`/proc/${pid}/coredump_filter`, opts.coredumpFilter);
    const prefix = join(dir, 'core');
    await execa('gcore', ['-o', prefix, String(pid)], { stdin: 'ignore', env: offlineEnv(), timeout: TOOL_TIMEOUT_MS });
    const core = `${prefix}.${pid}`;
    if (!(await stat(core).catch(() => undefined))?.isFile())
      throw new Error(`gcore -o ${prefix} ${pid} wrote no ${core}`);
    return { core, pid };
  } finally {
    child.kill('SIGKILL');
    await ended;
    running.delete(child);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The file names the kernel can give a core under `pattern` (core(5)):
 * %p, %e, %s, %u, %g and %h as they will be for `crash segv`, any other
 * specifier as a wildcard; with core_uses_pid and no %p, `.PID` appended.
 */
function corePatternRegExp(pattern: string, pid: number, usesPid: boolean): RegExp {
  const exact: Record<string, string> = {
    '%': '%',
    p: String(pid),
    e: 'crash',
    s: '11',
    u: String(process.getuid?.() ?? ''),
    g: String(process.getgid?.() ?? ''),
    h: hostname(),
  };
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '%') {
      source += escapeRegExp(pattern[i]!);
      continue;
    }
    const spec = pattern[++i];
    if (spec === undefined) break; // a trailing % is dropped
    if (spec in exact) source += escapeRegExp(exact[spec]!);
    else if ('cdEfiIPt'.includes(spec)) source += '[^/]*';
    // the kernel drops unknown specifiers
  }
  if (usesPid && !pattern.includes('%p')) source += `\\.${pid}`;
  return new RegExp(`^${source}$`);
}

/**
 * The core the kernel writes when `image/usr/bin/crash segv` dies (SIGSEGV
 * in fault_deref, in libfault), run with RLIMIT_CORE unlimited in a fresh
 * directory. Skipped, with the reason, when core_pattern hands cores to a
 * program (systemd-coredump, apport) or no core appears.
 */
export async function kernelCoreOf(image: string): Promise<{ core: string } | { skipped: string }> {
  const pattern = (await readFile(CORE_PATTERN, 'utf8')).replace(/\n$/, '');
  if (pattern.startsWith('|')) return { skipped: `${CORE_PATTERN} pipes cores to a program: ${pattern}` };
  if (pattern === '') return { skipped: `${CORE_PATTERN} is empty: the kernel writes no cores` };
  const usesPid = (await readFile(CORE_USES_PID, 'utf8').catch(() => '0')).trim() !== '0';

  const cwd = await tmpdir('kernel-core');
  const program = join(image, 'usr/bin/crash');
  const started = Date.now();
  const child = execa('bash', ['-c', 'ulimit -c unlimited || exit 97; exec "$0" segv', program], {
    cwd,
    reject: false,
    stdin: 'ignore',
    timeout: TOOL_TIMEOUT_MS,
  });
  const pid = child.pid!;
  const result = await child;
  if (result.exitCode === 97) return { skipped: `ulimit -c unlimited failed: ${String(result.stderr).trim()}` };
  if (result.signal !== 'SIGSEGV') {
    throw new Error(`${program} segv: ${describeEnd(result)}, not SIGSEGV; stderr: ${String(result.stderr).trim()}`);
  }

  // A relative pattern is relative to the dying process's cwd.
  const slash = pattern.lastIndexOf('/');
  const coreDir = resolve(cwd, pattern.slice(0, slash + 1) || '.');
  if (pattern.slice(0, slash).includes('%')) {
    return { skipped: `${CORE_PATTERN} has specifiers in its directory part: ${pattern}` };
  }
  const name = corePatternRegExp(pattern.slice(slash + 1), pid, usesPid);
  const candidates: { path: string; mtimeMs: number }[] = [];
  for (const entry of await readdir(coreDir).catch(() => [])) {
    if (!name.test(entry)) continue;
    const path = join(coreDir, entry);
    const st = await stat(path).catch(() => undefined);
    // Elsewhere than our fresh cwd, only a core written since the start is ours.
    if (st?.isFile() && (coreDir === cwd || st.mtimeMs >= started - 2000))
      candidates.push({ path, mtimeMs: st.mtimeMs });
  }
  const found = candidates.sort((a, b) => b.mtimeMs - a.mtimeMs)[0];
  if (found === undefined)
    return { skipped: `no core of pid ${pid} appeared in ${coreDir} (${CORE_PATTERN}: ${pattern})` };
  if (dirname(found.path) === cwd) return { core: found.path };

  // Moved into the scratch directory, so that it goes away after the test file.
  const core = join(cwd, 'core');
  await rename(found.path, core).catch(async () => {
    await copyFile(found.path, core);
    await rm(found.path, { force: true });
  });
  return { core };
}

export interface CoreModule {
  start: bigint;
  size: bigint;
  /** Lower-case hex; undefined when eu-unstrip found none (`-`). */
  buildId?: string;
  /** The ELF file eu-unstrip matched; `.` when it used the core's own copy, `-` when none. */
  file: string;
  /** The debug file eu-unstrip matched, or `.` (in `file` itself) or `-`. */
  debugFile: string;
  /** The module's name: its path in the link map or NT_FILE note, or its soname. */
  name: string;
}

const UNSTRIP_LINE = /^0x([0-9a-f]+)\+0x([0-9a-f]+) (-|[0-9a-f]+)(?:@0x[0-9a-f]+)? (\S+) (\S+) (.+)$/;

/** The modules of `core` as `eu-unstrip -n --core` lists them, in its order. */
export async function euUnstripModules(core: string): Promise<CoreModule[]> {
  const { stdout } = await execa('eu-unstrip', ['-n', '--core', core], {
    stdin: 'ignore',
    env: offlineEnv(),
    timeout: TOOL_TIMEOUT_MS,
  });
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const m = UNSTRIP_LINE.exec(line);
      if (m === null) throw new Error(`eu-unstrip -n --core ${core}: unexpected line ${JSON.stringify(line)}`);
      const [, start, size, buildId, file, debugFile, name] = m;
      return {
        start: BigInt(`0x${start}`),
        size: BigInt(`0x${size}`),
        ...(buildId === '-' ? {} : { buildId }),
        file: file!,
        debugFile: debugFile!,
        name: name!,
      };
    });
}
