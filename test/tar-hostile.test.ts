/**
 * Hostile tar streams through the CLI (issue 12, items 4 and 10): what list,
 * extract and audit make of them, next to what GNU tar lists.
 */
import { execa } from 'execa';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';
import { globalPaxTar, paxHexSizeTar, tarballPath, xzInto } from './helpers/trees.js';

const hasTools = requireTool('tar') && requireTool('xz');
const CLI = path.resolve(__dirname, '../dist/cli.js');
const cli = (...args: string[]) => execa('node', [CLI, ...args], { reject: false });
const gnuList = (file: string) => execa('bash', ['-c', 'xz -dc "$1" | tar -tf -', '_', file], { reject: false });

describe.skipIf(!hasTools)('hostile tar streams through the CLI', () => {
  it('a pax size GNU tar rejects (0x400) is an error naming tarball and member, not a hidden member', async () => {
    const tree = path.join(await tmpdir('hostile-pax-hex'), 'tree');
    const file = await xzInto(
      paxHexSizeTar(),
      tarballPath(tree, { category: 'dev-util', pn: 'hex', pf: 'hex-1', buildNumber: '1' }),
    );
    const gnu = await gnuList(file);
    expect(gnu.stdout.split('\n')).toEqual(['./usr/lib/debug/empty', '../../../../tmp/x', './usr/lib/debug/padding']);
    // Before: exit 0, one member './usr/lib/debug/empty' of 1024 bytes.
    const list = await cli('list', file);
    expect(list.exitCode).toBe(1);
    expect(list.stderr.trim().split('\n')).toEqual([
      `packdebug: ${file}: member './usr/lib/debug/empty' at offset 0: pax record size=0x400 is not a decimal number ` +
        '(GNU tar ignores the record, other tools may not)',
    ]);
    const extract = await cli('extract', file, '--path', '/usr/lib/debug/empty');
    expect(extract.exitCode).toBe(1);
    expect(extract.stderr).toMatch(/pax record size=0x400/);
    // Audit goes on as GNU tar does, and sees the member GNU tar extracts.
    for (const deep of [[], ['--deep']]) {
      const audit = await cli('audit', ...deep, '--json', tree);
      expect(audit.exitCode).toBe(1);
      const findings = JSON.parse(audit.stdout).tarballs[0].findings as { code: string; member?: string }[];
      expect(findings.map((f) => [f.code, f.member]).sort()).toEqual([
        ['dotdot-path', '../../../../tmp/x'],
        ['tar-ambiguous', './usr/lib/debug/empty'],
      ]);
    }
  });

  it('a global pax header of 74,898 records before 1,000 members: every member, as GNU tar lists them', async () => {
    const tree = path.join(await tmpdir('hostile-global'), 'tree');
    const file = await xzInto(
      globalPaxTar(74_898, 1_000),
      tarballPath(tree, { category: 'dev-util', pn: 'global', pf: 'global-1', buildNumber: '1' }),
    );
    const gnu = (await gnuList(file)).stdout.split('\n');
    expect(gnu).toHaveLength(1_000);
    // Before: 71 s for list, audit --deep unfinished after 40 s (each member copied every global record).
    const list = await cli('list', '--json', file);
    expect(list.exitCode, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout).entries as { path: string }[]).map((e) => e.path)).toEqual(gnu);
    const audit = await cli('audit', '--deep', '--json', tree);
    expect(audit.exitCode, audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout).tarballs[0]).toMatchObject({ members: 1_000 });
  });
});
