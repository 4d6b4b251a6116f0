/**
 * Every bad value a user can give, through the environment or an option,
 * is a usage error: exit 2 and one line naming the variable or option, no
 * stack trace, nothing written. pack, from-binpkg and the hook read the
 * environment through the same functions (src/portage/environment.ts).
 * The CLI runs from dist/ (built by `pretest`).
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const IDENTITY_ARGS = ['--category', 'app-misc', '--pn', 'hello', '--pf', 'hello-1.0', '--build-id', '1'];
const hasTools = ['cp', 'xz'].every((t) => requireTool(t));

async function cli(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', PACKDEBUG_CACHE_DIR: '' };
  for (const key of Object.keys(env)) if (key === 'SOURCE_DATE_EPOCH' || key.startsWith('PACKDEBUG_')) delete env[key];
  const r = await execa('node', [CLI, ...args], {
    env: { ...env, ...extra },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Exit 2, and the first line of stderr names `what` (yargs' usage errors follow theirs with the help text). */
function expectUsageError(r: Awaited<ReturnType<typeof cli>>, what: string, wholeMessage = true): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(r.exitCode, r.stderr).toBe(2);
  expect(lines[0], r.stderr).toContain(what);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  if (wholeMessage) expect(lines, r.stderr).toHaveLength(1);
}

const BAD_EPOCHS = ['abc', '-5', '1e9', '1.5', '99999999999999999999'];

describe.skipIf(!hasTools)('usage errors', () => {
  it('pack: a bad SOURCE_DATE_EPOCH is one line naming it, exit 2, nothing written', async () => {
    const image = await makeImage('hello');
    const out = path.join(await tmpdir('usage-pack'), 'out.tar.xz');
    for (const value of BAD_EPOCHS) {
      const r = await cli(['pack', '--image', image, ...IDENTITY_ARGS, '--out', out], { SOURCE_DATE_EPOCH: value });
      expectUsageError(r, `SOURCE_DATE_EPOCH=${value}`);
      expect(existsSync(out)).toBe(false);
    }
    // Unset or empty: none; surrounding blanks are allowed, as in the hook.
    for (const value of ['', ' 1700000000 ']) {
      const r = await cli(['pack', '--image', image, ...IDENTITY_ARGS, '--out', out], { SOURCE_DATE_EPOCH: value });
      expect(r.exitCode, r.stderr).toBe(0);
    }
  });

  it('from-binpkg: a bad SOURCE_DATE_EPOCH is one line naming it, exit 2, nothing written', async () => {
    const dir = await tmpdir('usage-from-binpkg');
    const tree = path.join(dir, 'tree');
    for (const value of BAD_EPOCHS) {
      const r = await cli(['from-binpkg', dir, '--out', tree], { SOURCE_DATE_EPOCH: value });
      expectUsageError(r, `SOURCE_DATE_EPOCH=${value}`);
    }
    expect(existsSync(tree)).toBe(false);
  });

  const hookBadValues =
    'hook: bad SOURCE_DATE_EPOCH and PACKDEBUG_* values are one line naming them, exit 2, nothing written';
  it(hookBadValues, async () => {
    const image = await makeImage('hello');
    const portage = { ED: image, CATEGORY: 'app-misc', PN: 'hello', PF: 'hello-1.0', BUILD_ID: '1' };
    const cases: Record<string, string> = {
      SOURCE_DATE_EPOCH: 'abc',
      PACKDEBUG_PRESET: '11',
      PACKDEBUG_THREADS: '0',
      PACKDEBUG_BLOCK_SIZE: '1',
      PACKDEBUG_SOURCE_BLOCK_SIZE: 'lots',
      PACKDEBUG_ENCODER: 'zstd',
      PACKDEBUG_REMOVE_PACKED: 'maybe',
      PACKDEBUG_STRICT: 'maybe',
    };
    for (const [name, value] of Object.entries(cases)) {
      const r = await cli(['hook'], { ...portage, [name]: value });
      expectUsageError(r, `${name}=${value}`);
    }
    expect(await readdir(path.join(image, 'usr/lib/debug'))).not.toContain('.tarball');
  });

  it('an option given twice is named (yargs would hand its reader an array)', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('usage-repeated');
    const out = path.join(dir, 'out.tar.xz');
    const pack = ['pack', '--image', image, ...IDENTITY_ARGS];
    const cases: [string[], string][] = [
      [[...pack, '--out', out, '--pf', 'hello-1.0'], '--pf given more than once'],
      [[...pack, '--out', out, '--out', out], '--out given more than once'],
      [[...pack, '--out', out, '-D', image], '--image given more than once'],
      [[...pack, '--out', out, '--block-size', '64KiB', '--block-size', '64KiB'], '--block-size given more than once'],
      [[...pack, '--out', out, '-T', '1', '--threads', '2'], '--threads given more than once'],
      [['extract', dir, '--path', '/a', '--path', '/b'], '--path given more than once'],
    ];
    for (const [args, message] of cases) expectUsageError(await cli(args), message, false);
    expect(existsSync(out)).toBe(false);
  });

  it('repack: a bad option is a usage error once, not a failure of each tarball', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('usage-repack');
    const tarball = path.join(dir, 'hello-1.0-1-debug.tar.xz');
    await execa('bash', ['-c', `tar -C '${image}' -cf - usr/lib/debug | xz -T1 -1 > '${tarball}'`], {
      env: { XZ_OPT: '', XZ_DEFAULTS: '' },
    });
    const cases: [string[], string][] = [
      [['--block-size', '1'], 'block size 1'],
      [['--source-block-size', '1KiB'], 'source block size 1024'],
      [['--threads', '0'], "thread count '0'"],
      [['--preset', '11'], "preset '11'"],
    ];
    for (const [args, what] of cases) expectUsageError(await cli(['repack', tarball, tarball, ...args]), what);
  });
});
