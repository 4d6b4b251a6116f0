/**
 * The crash fixture gives real cores on this machine (test/helpers/cores.ts,
 * fixtures/make-crash-image.sh): gcore's and the kernel's, whose modules
 * eu-unstrip names with the build-ids of the image's binaries, and on which
 * gdb, given the image's debug files, shows the fixture's functions.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { euUnstripModules, gcoreOf, kernelCoreOf, makeCrashImage, makeManyLibsImage } from './helpers/cores.js';
import { readBuildId } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTools = ['gcc', 'objcopy', 'strip', 'readelf', 'cp', 'gdb', 'gcore', 'eu-unstrip']
  .map(requireTool)
  .every(Boolean);

/** [basename of the module's name, build-id] for every module of `core`. */
async function moduleIds(core: string): Promise<[string, string | undefined][]> {
  return (await euUnstripModules(core)).map((m) => [basename(m.name), m.buildId]);
}

/** gdb's backtrace of `core`, with the debug files of `image` and no debuginfod. */
async function backtrace(image: string, core: string): Promise<string> {
  const { stdout } = await execa(
    'gdb',
    [
      '-nx',
      '-batch',
      '-iex',
      'set debuginfod enabled off',
      '-iex',
      `set debug-file-directory ${join(image, 'usr/lib/debug')}`,
      '-ex',
      'bt',
      join(image, 'usr/bin/crash'),
      core,
    ],
    { stdin: 'ignore', env: { DEBUGINFOD_URLS: '' } },
  );
  return stdout;
}

describe.skipIf(!hasTools)('crash fixture cores', () => {
  let image: string;
  let ids: [string, string][];

  beforeAll(async () => {
    image = await makeCrashImage();
    ids = [];
    for (const rel of ['usr/bin/crash', 'usr/lib64/libfault.so.1']) {
      const id = await readBuildId(join(image, rel));
      expect(id, rel).toMatch(/^[0-9a-f]{40}$/);
      ids.push([basename(rel), id!]);
    }
  });

  it('gcore of `crash wait` holds crash and libfault.so.1, stopped in fault_wait', async () => {
    const { core, pid } = await gcoreOf(image);
    expect(basename(core)).toBe(`core.${pid}`);
    expect(await moduleIds(core)).toEqual(expect.arrayContaining(ids));

    const bt = await backtrace(image, core);
    expect(bt).toMatch(/\bfault_wait \(ready_file=/);
    expect(bt).toMatch(/\brun_mode \(argc=3,/);
    expect(bt).toMatch(/\bmain \(/);
  });

  it('gcore of `crash dlopen` holds the libmany libraries it loaded', async () => {
    const many = await makeManyLibsImage(3);
    const dir = join(many, 'usr/lib64/many');
    const { core } = await gcoreOf(image, { dlopenDir: dir });
    const manyIds: [string, string][] = [];
    for (const k of [0, 1, 2]) manyIds.push([`libmany-${k}.so`, (await readBuildId(join(dir, `libmany-${k}.so`)))!]);
    expect(await moduleIds(core)).toEqual(expect.arrayContaining([...ids, ...manyIds]));
  });

  it('the kernel core of `crash segv` holds them too, stopped in fault_deref', async (ctx) => {
    const result = await kernelCoreOf(image);
    if ('skipped' in result) {
      const piped = (await readFile('/proc/sys/kernel/core_pattern', 'utf8')).startsWith('|');
      if (process.env.CI === 'true' && !piped) throw new Error(`no kernel core: ${result.skipped}`);
      console.warn(`cores-fixture: kernel core skipped: ${result.skipped}`);
      return ctx.skip(result.skipped);
    }
    expect(await moduleIds(result.core)).toEqual(expect.arrayContaining(ids));

    const bt = await backtrace(image, result.core);
    expect(bt).toMatch(/\bfault_deref \(\) at fault\.c:\d+/);
    expect(bt).toMatch(/\brun_mode \(argc=2,/);
  });
});
