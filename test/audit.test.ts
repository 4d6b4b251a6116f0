import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditTree, type AuditSummary, type TarballReport } from '../src/audit/audit.js';
import { FINDINGS, type Finding, type FindingCode } from '../src/audit/findings.js';
import { bufferSource, gnuBuildIdFromSegments, inspectElf, type ByteSource } from '../src/elf/index.js';
import { auditTarball } from '../src/audit/tarball.js';
import { MemberChecks } from '../src/audit/members.js';
import { Hash64Table, hashName } from '../src/audit/name-hash.js';
import type { TarEntry } from '../src/tar/parse.js';
import { memoryIO } from './helpers/io.js';
import { runAudit } from '../src/commands/audit.js';
import { parseTarballName } from '../src/portage/naming.js';
import { compareVersions, parseVersion } from '../src/portage/version.js';
import { makeGpkg, makeXpak } from './helpers/binpkg.js';
import { makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';
import { XZ_CONFORMANCE } from './helpers/fixtures.js';
import {
  packInto,
  paxHexSizeTar,
  portageTarball,
  rawTar,
  snapshot,
  tarballPath,
  withEditedIndex,
  xzInto,
  xzThreadedTarball,
} from './helpers/trees.js';

const hasTools =
  requireTool('tar') &&
  requireTool('xz') &&
  requireTool('gcc') &&
  requireTool('gzip') &&
  requireTool('zstd') &&
  requireTool('bzip2');
const CLI = path.resolve(__dirname, '../dist/cli.js');

interface Collected {
  summary: AuditSummary;
  tarballs: TarballReport[];
  findings: Finding[];
}

/** Every code any test met, for the last test. */
const triggered = new Set<FindingCode>();

async function audit(tree: string, opts: { deep?: boolean; pkgdir?: string; vdb?: string } = {}): Promise<Collected> {
  const tarballs: TarballReport[] = [];
  const findings: Finding[] = [];
  const summary = await auditTree(
    { tree, ...opts },
    { finding: (f) => findings.push(f), tarball: (t) => (tarballs.push(t), findings.push(...t.findings)) },
  );
  for (const f of findings) triggered.add(f.code);
  return { summary, tarballs, findings };
}

const codesOf = (fs_: Finding[], file?: string) =>
  new Set(fs_.filter((f) => file === undefined || f.file === file).map((f) => f.code));

describe('PMS versions and tarball names', () => {
  it('orders versions as PMS 3.3 does', () => {
    const order = [
      '1.0_alpha',
      '1.0_alpha1',
      '1.0_beta',
      '1.0_pre2',
      '1.0_rc1',
      '1.0',
      '1.0-r1',
      '1.0-r2',
      '1.0_p1',
      '1.0a',
      '1.01',
      '1.1',
      '1.2',
      '1.10',
      '2',
    ];
    for (let i = 0; i + 1 < order.length; i++) {
      expect(
        compareVersions(parseVersion(order[i]!)!, parseVersion(order[i + 1]!)!),
        `${order[i]} < ${order[i + 1]}`,
      ).toBeLessThan(0);
    }
    expect(compareVersions(parseVersion('1.0')!, parseVersion('1.00')!)).toBe(0);
    expect(parseVersion('1.0-r')).toBeUndefined();
    expect(parseVersion('x1')).toBeUndefined();
  });

  it('parses PF-BUILD_ID-debug.tar.xz and says what is wrong otherwise', () => {
    const n = parseTarballName('dev-ada', 'gprbuild', 'gprbuild-25.0.0-r5-1-debug.tar.xz');
    expect(typeof n === 'object' && [n.pf, n.buildNumber, n.version.text]).toEqual([
      'gprbuild-25.0.0-r5',
      '1',
      '25.0.0-r5',
    ]);
    expect(parseTarballName('app-misc', 'hello', 'hello-1.0-debug.tar.xz')).toMatch(/BUILD_ID|PMS version/);
    expect(parseTarballName('app-misc', 'hello', 'hullo-1.0-1-debug.tar.xz')).toMatch(/does not start with/);
    expect(parseTarballName('app-misc', 'hello', 'hello-x-1-debug.tar.xz')).toMatch(/not a PMS version/);
    expect(parseTarballName('app misc', 'hello', 'hello-1-1-debug.tar.xz')).toMatch(/category/);
    // PMS 3.1.2: PN may not end in a hyphen and a version.
    expect(parseTarballName('app-misc', 'foo-1', 'foo-1-2-3-debug.tar.xz')).toMatch(/not a PMS package name/);
    expect(typeof parseTarballName('app-misc', 'foo-bar2', 'foo-bar2-3-1-debug.tar.xz')).toBe('object');
  });
});

describe.skipIf(!hasTools)('audit', () => {
  let dir: string;
  let tree: string;
  let pkgdir: string;
  let vdb: string;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    dir = await tmpdir('audit');
    tree = path.join(dir, 'tree');
    const hello = await makeImage('hello');
    const odd = await makeImage('odd');
    const id = (category: string, pn: string, pf: string, buildNumber: string) => ({ category, pn, pf, buildNumber });

    // Healthy tarballs, two builds of one package and a copy under another package.
    files.hello1 = await packInto(tree, hello, id('app-misc', 'hello', 'hello-1.0', '1'));
    files.hello2 = await packInto(tree, hello, id('app-misc', 'hello', 'hello-1.0', '2'));
    files.other = await packInto(tree, hello, id('app-misc', 'other', 'other-2.0', '1'));
    // Multi-Block packdebug layout with large members (odd image: a 3 MiB big.debug, a symlink out of the roots).
    files.odd = await packInto(tree, odd, id('dev-util', 'odd', 'odd-1.0', '1'), 16 << 10);
    // Portage's single Block, larger than a default Block.
    files.portage = await portageTarball(odd, tarballPath(tree, id('dev-util', 'odd', 'odd-1.0', '2')));
    files.threaded = await xzThreadedTarball(odd, tarballPath(tree, id('dev-util', 'odd', 'odd-1.0', '3')));
    files.padded = tarballPath(tree, id('dev-util', 'odd', 'odd-1.0', '4'));
    await fs.writeFile(files.padded, Buffer.concat([await fs.readFile(files.odd), Buffer.alloc(4)]));

    // Damaged files.
    const good = await fs.readFile(files.odd);
    files.truncated = tarballPath(tree, id('dev-util', 'broken', 'broken-1', '1'));
    await fs.mkdir(path.dirname(files.truncated), { recursive: true });
    await fs.writeFile(files.truncated, good.subarray(0, good.length - 100));
    files.flipped = tarballPath(tree, id('dev-util', 'broken', 'broken-1', '2'));
    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x10;
    await fs.writeFile(files.flipped, flipped);

    // Hostile members, hand-made.
    const elf = await fs.readFile(path.join(hello, 'usr/lib/debug/usr/bin/hello.debug'));
    files.evil = await xzInto(
      rawTar([
        { name: './', type: '5', mode: 0o755 },
        { name: './usr/', type: '5', mode: 0o755 },
        { name: './usr/src/debug/', type: '5', mode: 0o2755 },
        { name: './usr/lib/debug/', type: '5', mode: 0o755 },
        { name: '/usr/lib/debug/abs.debug', data: Buffer.from('x') },
        { name: './usr/lib/debug/../../../etc/passwd', data: Buffer.from('root::0:0::/:/bin/sh\n') },
        { name: './etc/shadow', data: Buffer.from('x') },
        { name: './usr/lib/debug/null', type: '3', mode: 0o666 },
        { name: './usr/lib/debug/fifo', type: '6' },
        { name: './usr/lib/debug/suid', mode: 0o4755, data: Buffer.from('#!/bin/sh\n') },
        { name: './usr/lib/debug/sgid', mode: 0o2755, data: Buffer.from('#!/bin/sh\n') },
        { name: './usr/lib/debug/hardlink', type: '1', linkname: './usr/lib/debug/missing' },
        { name: './usr/lib/debug/escape', type: '2', linkname: '../../../../etc/passwd' },
        { name: './usr/lib/debug/.build-id/ab/cdef.debug', type: '2', linkname: '../../nothing.debug' },
        { name: './usr/lib/debug/.build-id/ab/cdef', type: '2', linkname: '../../../../../usr/bin/nothing' },
        { name: './usr/lib/debug/real.debug', data: elf },
        { name: './usr/lib/debug/.build-id/00/1122.debug', type: '2', linkname: '../../real.debug' },
      ]),
      tarballPath(tree, id('dev-util', 'evil', 'evil-1', '1')),
    );
    const cut = rawTar([{ name: './usr/lib/debug/cut.debug', data: Buffer.alloc(4096, 1) }], { end: false }).subarray(
      0,
      2048,
    );
    files.cut = await xzInto(cut, tarballPath(tree, id('dev-util', 'evil', 'evil-1', '2')));

    // Empty, foreign and unsupported files.
    files.noMembers = await xzInto(Buffer.alloc(10240), tarballPath(tree, id('dev-util', 'empty', 'empty-1', '1')));
    files.zero = tarballPath(tree, id('dev-util', 'empty', 'empty-1', '2'));
    await fs.writeFile(files.zero, '');
    files.gzip = tarballPath(tree, id('dev-util', 'empty', 'empty-1', '3'));
    await execa('bash', ['-c', 'echo hello | gzip -c > "$1"', '_', files.gzip]);
    files.unsupported = tarballPath(tree, id('dev-util', 'empty', 'empty-1', '4'));
    await fs.copyFile(path.join(XZ_CONFORMANCE, 'unsupported-check.xz'), files.unsupported);

    // An ELF file without a GNU build-id.
    const nobid = await tmpdir('nobid');
    await fs.mkdir(path.join(nobid, 'usr/lib/debug/usr/bin'), { recursive: true });
    await fs.writeFile(path.join(nobid, 'main.c'), 'int main(void) { return 0; }\n');
    await execa('gcc', [
      '-g',
      '-Wl,--build-id=none',
      '-o',
      path.join(nobid, 'usr/lib/debug/usr/bin/nobid.debug'),
      path.join(nobid, 'main.c'),
    ]);
    await fs.rm(path.join(nobid, 'main.c'));
    files.nobid = await packInto(tree, nobid, id('dev-util', 'nobid', 'nobid-1', '1'));

    // A .build-id link retargeted to another debug file.
    const mism = await makeImage('hello');
    const links = path.join(mism, 'usr/lib/debug/.build-id');
    for (const sub of await fs.readdir(links)) {
      for (const name of await fs.readdir(path.join(links, sub))) {
        const link = path.join(links, sub, name);
        if (name.endsWith('.debug') && (await fs.readlink(link)).includes('bin/hello.debug')) {
          await fs.rm(link);
          await fs.symlink('../../usr/lib64/libgreet.so.1.debug', link);
        }
      }
    }
    files.mismatch = await packInto(tree, mism, id('app-misc', 'mism', 'mism-1', '1'));

    // Layout problems.
    const helloDir = path.dirname(files.hello1);
    files.noBuildId = path.join(helloDir, 'hello-1.0-debug.tar.xz');
    await fs.copyFile(files.hello1, files.noBuildId);
    files.badVersion = path.join(helloDir, 'hello-x-1-debug.tar.xz');
    await fs.copyFile(files.hello1, files.badVersion);
    files.stray = path.join(helloDir, 'README');
    await fs.writeFile(files.stray, 'notes\n');
    files.topStray = path.join(tree, 'README');
    await fs.writeFile(files.topStray, 'notes\n');
    files.strayDir = path.join(helloDir, 'old');
    await fs.mkdir(files.strayDir);
    files.symlink = path.join(helloDir, 'hello-1.0-9-debug.tar.xz');
    await fs.symlink('/etc/passwd', files.symlink);
    files.temp = path.join(helloDir, '.hello-1.0-3-debug.tar.xz.123-abc.tmp');
    await fs.writeFile(files.temp, '');
    files.emptyDir = path.join(tree, 'app-misc', 'emptypn');
    await fs.mkdir(files.emptyDir);
    files.fifo = path.join(helloDir, 'fifo');
    await execa('mkfifo', [files.fifo]);

    // A PKGDIR: gpkg and xpak binpkgs, a Packages index, a binpkg without tarball and an unreadable one.
    pkgdir = path.join(dir, 'binpkgs');
    const b1 = await makeGpkg(hello, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), {
      category: 'app-misc',
      pf: 'hello-1.0',
      buildNumber: '1',
    });
    await makeXpak(hello, path.join(pkgdir, 'app-misc/other/other-2.0-1.xpak'), {
      category: 'app-misc',
      pf: 'other-2.0',
      buildNumber: '1',
    });
    await makeGpkg(hello, path.join(pkgdir, 'app-misc/gone/gone-3-1.gpkg.tar'), {
      category: 'app-misc',
      pf: 'gone-3',
      buildNumber: '1',
    });
    await fs.writeFile(path.join(pkgdir, 'app-misc/junk.gpkg.tar'), 'not a package');
    const size = (await fs.stat(b1)).size;
    await fs.writeFile(
      path.join(pkgdir, 'Packages'),
      'ARCH: amd64\nVERSION: 0\n\n' +
        `BUILD_ID: 1\nCPV: app-misc/hello-1.0\nPATH: app-misc/hello/hello-1.0-1.gpkg.tar\nSIZE: ${size}\n\n`,
    );

    // A VDB: hello-1.0 build 2 and other-2.0 (no BUILD_ID recorded) are installed.
    vdb = path.join(dir, 'vdb');
    await fs.mkdir(path.join(vdb, 'app-misc/hello-1.0'), { recursive: true });
    await fs.writeFile(path.join(vdb, 'app-misc/hello-1.0/BUILD_ID'), '2\n');
    await fs.mkdir(path.join(vdb, 'app-misc/other-2.0'), { recursive: true });
    await fs.mkdir(path.join(vdb, 'app-misc/-MERGING-odd-1.0'), { recursive: true });
  }, 240_000);

  it('reports each problem of a shallow audit with its code, file and fix, and writes nothing', async () => {
    const before = await snapshot(dir);
    const { summary, tarballs, findings } = await audit(tree, { pkgdir, vdb });
    expect(await snapshot(dir)).toEqual(before);

    const expectCode = (code: FindingCode, file: string) =>
      expect(codesOf(findings, file), `${code} on ${path.relative(tree, file)}`).toContain(code);
    expectCode('duplicate-build-id', files.hello2!);
    expectCode('build-id-conflict', files.other!);
    expectCode('symlink-escape', files.odd!);
    expectCode('not-seekable', files.portage!);
    expectCode('headers-not-checked', files.portage!);
    expectCode('blocks-unaligned', files.threaded!);
    expectCode('footer-not-last', files.padded!);
    expectCode('xz-corrupt', files.truncated!);
    for (const c of [
      'absolute-path',
      'dotdot-path',
      'outside-debug-roots',
      'special-file',
      'setuid-setgid',
      'hardlink-missing',
      'symlink-escape',
      'build-id-link-dangling',
      'build-id-link-mismatch',
    ] as const) {
      expectCode(c, files.evil!);
    }
    expectCode('tar-corrupt', files.cut!);
    expectCode('no-members', files.noMembers!);
    expectCode('empty-tarball', files.zero!);
    expectCode('not-xz', files.gzip!);
    expectCode('xz-unsupported', files.unsupported!);
    expectCode('no-build-id', files.nobid!);
    expectCode('build-id-link-mismatch', files.mismatch!);
    expectCode('bad-name', files.noBuildId!);
    expectCode('bad-name', files.badVersion!);
    expectCode('stray-file', files.stray!);
    expectCode('stray-file', files.topStray!);
    expectCode('stray-file', files.fifo!);
    expectCode('stray-dir', files.strayDir!);
    expectCode('symlink', files.symlink!);
    expectCode('temp-file', files.temp!);
    expectCode('empty-dir', files.emptyDir!);
    expectCode('orphaned-tarball', files.hello2!);
    expectCode('binpkg-without-tarball', path.join(pkgdir, 'app-misc/gone/gone-3-1.gpkg.tar'));
    expectCode('binpkg-unreadable', path.join(pkgdir, 'app-misc/junk.gpkg.tar'));

    // Healthy tarballs: nothing but what was planted.
    expect(codesOf(findings, files.hello1)).toEqual(new Set());
    const evil = findings.filter((f) => f.file === files.evil);
    expect(evil.find((f) => f.code === 'build-id-link-dangling')?.member).toBe(
      './usr/lib/debug/.build-id/ab/cdef.debug',
    );
    // The estrip link to the binary is dangling by design: no symlink-escape for it.
    expect(evil.filter((f) => f.code === 'symlink-escape').map((f) => f.member)).toEqual(['./usr/lib/debug/escape']);
    expect(evil.filter((f) => f.code === 'setuid-setgid').map((f) => f.member)).toEqual([
      './usr/lib/debug/suid',
      './usr/lib/debug/sgid',
    ]);
    // The parents of the roots are not outside them; a setgid directory is not a finding.
    expect(evil.filter((f) => f.code === 'outside-debug-roots').map((f) => f.member)).toEqual(['./etc/shadow']);

    // Binpkgs and installed builds.
    const byFile = new Map(tarballs.map((t) => [t.file, t]));
    expect(byFile.get(files.hello1!)).toMatchObject({
      binpkg: true,
      installed: false,
      category: 'app-misc',
      pn: 'hello',
      pf: 'hello-1.0',
      buildId: '1',
      layout: 'single-block',
      seekable: false,
    });
    expect(byFile.get(files.hello2!)).toMatchObject({ binpkg: false, installed: true });
    expect(byFile.get(files.other!)).toMatchObject({ binpkg: true, installed: true });
    expect(summary.installed).toBe(2);
    expect(byFile.get(files.odd!)).toMatchObject({ layout: 'packdebug', seekable: true });
    expect(byFile.get(files.threaded!)).toMatchObject({ layout: 'unaligned', seekable: true });
    // The header walk of an unaligned tarball sees every member too.
    expect(byFile.get(files.threaded!)!.members).toBe(byFile.get(files.odd!)!.members);
    expect(byFile.get(files.portage!)!.members).toBeNull();

    // Every severity is counted, every finding has a known code and the fix of its code.
    for (const f of findings) {
      expect(FINDINGS[f.code].severity).toBe(f.severity);
      expect(f.fix).toBe((FINDINGS[f.code] as { fix?: string }).fix);
    }
    expect(summary.findings.error).toBe(findings.filter((f) => f.severity === 'error').length);
  }, 120_000);

  it('deep: decodes every Block, verifies Checks and reads one-Block tarballs to the end', async () => {
    const before = await snapshot(dir);
    const { tarballs, findings } = await audit(tree, { deep: true });
    expect(await snapshot(dir)).toEqual(before);
    const byFile = new Map(tarballs.map((t) => [t.file, t]));
    expect(codesOf(findings, files.flipped)).toContain('block-corrupt');
    expect(codesOf(findings, files.portage)).not.toContain('headers-not-checked');
    expect(codesOf(findings, files.portage)).toContain('symlink-escape');
    expect(byFile.get(files.portage!)!.members).toBe(byFile.get(files.odd!)!.members);
    expect(byFile.get(files.portage!)!.buildIds).toBe(byFile.get(files.odd!)!.buildIds);
    // The same checks as shallow where shallow could read the members.
    for (const f of [files.odd!, files.evil!, files.threaded!, files.mismatch!, files.nobid!]) {
      expect(codesOf(findings, f)).toEqual(codesOf((await audit(tree)).findings, f));
    }
  }, 120_000);

  it('shallow skips the Blocks inside large members, and still reads their build-ids', async () => {
    const shallow = await auditTarball(files.odd!);
    const deep = await auditTarball(files.odd!, { deep: true });
    expect(deep.decodedBytes).toBe(deep.uncompressedBytes);
    expect(shallow.decodedBytes).toBeLessThan(deep.uncompressedBytes / 2);
    expect(shallow.members).toBe(deep.members);
    expect([...shallow.buildIds].sort()).toEqual([...deep.buildIds].sort());
    expect(shallow.elfFiles).toBe(deep.elfFiles);
    expect(shallow.elfNotInspected).toBe(0);
  });

  it('deep through xz(1) (large tarballs) finds what the in-process walk finds', async () => {
    for (const f of [
      files.odd!,
      files.portage!,
      files.threaded!,
      files.evil!,
      files.flipped!,
      files.truncated!,
      files.cut!,
      files.nobid!,
      files.mismatch!,
    ]) {
      const viaXz = await auditTarball(f, { deep: true, xzFrom: 0 });
      const inProcess = await auditTarball(f, { deep: true });
      expect(viaXz.findings, f).toEqual(inProcess.findings);
      expect([viaXz.members, viaXz.layout, [...viaXz.buildIds].sort()], f).toEqual([
        inProcess.members,
        inProcess.layout,
        [...inProcess.buildIds].sort(),
      ]);
    }
  });

  it('reports a file it cannot read as io-error', async () => {
    const r = await auditTarball(dir);
    expect(r.findings.map((f) => f.code)).toEqual(['io-error']);
    triggered.add('io-error');
    expect(r.ioError).toBe(true);
  });

  it('control-char-name: escape sequences and newlines in a member name or a link target (issue 12)', async () => {
    const t = path.join(await tmpdir('audit-control-chars'), 'tree');
    const file = tarballPath(t, { category: 'dev-util', pn: 'ctl', pf: 'ctl-1', buildNumber: '1' });
    await xzInto(
      rawTar([
        { name: './usr/lib/debug/a\x1b[31mRED\x1b]0;pwned\x07\nFAKE LINE ok', data: Buffer.from('x') },
        { name: './usr/lib/debug/link', type: '2', linkname: 'x\x1b[2J\r' },
        { name: './usr/lib/debug/fine\\name \u00e9', data: Buffer.from('y') },
      ]),
      file,
    );
    const { findings } = await audit(t);
    expect(findings.filter((f) => f.code === 'control-char-name').map((f) => [f.severity, f.member])).toEqual([
      ['warning', './usr/lib/debug/a\x1b[31mRED\x1b]0;pwned\x07\nFAKE LINE ok'],
      ['warning', './usr/lib/debug/link'],
    ]);
  });

  const lyingIndexIsError =
    'shallow: a tar stream cut inside a header, and an Index that misstates Block sizes, are errors (they passed ' +
    'with exit 0)';
  it(lyingIndexIsError, async () => {
    const t = path.join(await tmpdir('audit-lying-index'), 'tree');
    const at = (pn: string) => tarballPath(t, { category: 'dev-util', pn, pf: `${pn}-1`, buildNumber: '1' });
    // head -c 1200 full.tar | xz: the stream ends 176 bytes into the second header; at 700, in the first
    // member's padding.
    const tar = rawTar([
      { name: './usr/lib/debug/one', data: Buffer.from('x') },
      { name: './usr/lib/debug/two', data: Buffer.from('y') },
    ]);
    await xzInto(tar.subarray(0, 1200), at('cut'));
    await xzInto(tar.subarray(0, 700), at('cutpad'));
    // The same cut at a header boundary is only a missing end-of-archive marker (GNU tar warns): no finding.
    await xzInto(tar.subarray(0, 1024), at('nomarker'));
    // pack's Blocks at member headers (no sizes in the Block Headers): ./a, ./b, ./c in Blocks 2-4, the
    // end-of-archive marker and the tar padding in Block 4.
    const image = await tmpdir('audit-lying-image');
    await fs.mkdir(path.join(image, 'usr/lib/debug'), { recursive: true });
    for (const n of ['a', 'b', 'c']) await fs.writeFile(path.join(image, 'usr/lib/debug', n), Buffer.alloc(5000, n));
    const packed = await fs.readFile(
      await packInto(
        path.join(path.dirname(t), 'packed'),
        image,
        { category: 'dev-util', pn: 'p', pf: 'p-1', buildNumber: '1' },
        4096,
      ),
    );
    // Blocks 3 and 4 said to be empty (idx.py): the tar stream then ends cleanly after ./b.
    await fs.mkdir(path.dirname(at('empty')), { recursive: true });
    await fs.writeFile(
      at('empty'),
      withEditedIndex(packed, (r) => ((r[2]!.uncompressedSize = 0), (r[3]!.uncompressedSize = 0))),
    );
    // The last Block said to be 1 KiB shorter: the cut falls after the end-of-archive marker.
    await fs.mkdir(path.dirname(at('short')), { recursive: true });
    await fs.writeFile(
      at('short'),
      withEditedIndex(packed, (r) => void (r[3]!.uncompressedSize -= 1024)),
    );
    await fs.mkdir(path.dirname(at('ok')), { recursive: true });
    await fs.writeFile(at('ok'), packed);

    const { tarballs } = await audit(t);
    const codes = (pn: string) => tarballs.find((r) => r.file === at(pn))!.findings.map((f) => f.code);
    expect(codes('cut')).toEqual(['tar-corrupt']);
    expect(tarballs.find((r) => r.file === at('cut'))!.findings[0]!.message).toMatch(
      /ends inside a header at offset 1200/,
    );
    expect(codes('cutpad')).toEqual(['tar-corrupt']);
    expect(codes('nomarker')).toEqual([]);
    expect(codes('empty')).toEqual(['xz-corrupt']);
    expect(tarballs.find((r) => r.file === at('empty'))!.findings[0]!.message).toMatch(
      /Index says 0 uncompressed bytes, but the Block has \d+ bytes of LZMA2 data/,
    );
    expect(codes('short')).toEqual(['block-corrupt']);
    expect(codes('ok')).toEqual([]);
    const ok = tarballs.find((r) => r.file === at('ok'))!;
    expect([ok.blocks, ok.layout]).toEqual([4, 'packdebug']);
    // Deep agrees.
    const deep = await audit(t, { deep: true });
    for (const pn of ['cut', 'cutpad', 'empty', 'short'])
      expect(
        deep.tarballs.find((r) => r.file === at(pn))!.findings.some((f) => f.severity === 'error'),
        pn,
      ).toBe(true);
    const cli = await execa('node', [CLI, 'audit', t], { reject: false });
    expect(cli.exitCode).toBe(1);
  });

  const symlinkRules =
    'symlinks named like estrip links escape unless relative and inside the archive; members below a symlink; ' +
    '.build-id files and hardlinks are checked';
  it(symlinkRules, async () => {
    const t = path.join(await tmpdir('audit-links'), 'tree');
    const hello = await makeImage('hello');
    const elf = await fs.readFile(path.join(hello, 'usr/lib/debug/usr/bin/hello.debug'));
    const id = inspectElf(bufferSource(elf))!.gnuBuildId!;
    const link = (bid: string) => `./usr/lib/debug/.build-id/${bid.slice(0, 2)}/${bid.slice(2)}.debug`;
    const debug = './usr/lib/debug/usr/bin/hello.debug';
    const b = '/usr/lib/debug/.build-id';
    const bad = await xzInto(
      rawTar([
        { name: './usr/lib/debug/', type: '5', mode: 0o755 },
        // estrip's link to the binary: ./usr/bin/foo, in the archive, outside the debug roots: excepted.
        { name: `.${b}/12/3456`, type: '2', linkname: '../../../../../usr/bin/foo' },
        // Named like one, but climbing out of the archive (the reviewer's t16), or absolute.
        { name: `.${b}/ab/cdef`, type: '2', linkname: `${'../'.repeat(12)}tmp/victim` },
        { name: `.${b}/ab/cdef/pwned`, data: Buffer.from('hi\n') },
        { name: `.${b}/cd/ef01`, type: '2', linkname: '/etc' },
        { name: `.${b}/cd/ef01/cron.daily/evil`, mode: 0o755, data: Buffer.from('#!/bin/sh\n') },
        // Below the excepted link too: tar would write into ./usr/bin/foo.
        { name: `.${b}/12/3456/x`, data: Buffer.from('x') },
        { name: './usr/lib/debug/hl', type: '1', linkname: `.${b}/ab/cdef/pwned` },
        // .build-id/xx/yyyy.debug as the file itself and as a hardlink, each right once and wrong once.
        { name: debug, data: elf },
        { name: link(id), data: elf },
        { name: link('00'.repeat(20)), type: '1', linkname: debug },
        { name: link('11'.repeat(20)), data: elf },
      ]),
      tarballPath(t, { category: 'dev-util', pn: 'links', pf: 'links-1', buildNumber: '1' }),
    );
    const good = await xzInto(
      rawTar([
        { name: debug, data: elf },
        { name: link(id), type: '1', linkname: debug },
      ]),
      tarballPath(t, { category: 'dev-util', pn: 'links', pf: 'links-1', buildNumber: '2' }),
    );
    for (const deep of [false, true]) {
      const { tarballs } = await audit(t, { deep });
      const of = (file: string, code: FindingCode) =>
        tarballs
          .find((r) => r.file === file)!
          .findings.filter((f) => f.code === code)
          .map((f) => f.member);
      expect(of(bad, 'symlink-escape'), `deep ${deep}`).toEqual([`.${b}/ab/cdef`, `.${b}/cd/ef01`]);
      expect(of(bad, 'through-symlink'), `deep ${deep}`).toEqual([
        `.${b}/ab/cdef/pwned`,
        `.${b}/cd/ef01/cron.daily/evil`,
        `.${b}/12/3456/x`,
        './usr/lib/debug/hl',
      ]);
      expect(of(bad, 'build-id-link-mismatch').sort(), `deep ${deep}`).toEqual([
        link('00'.repeat(20)),
        link('11'.repeat(20)),
      ]);
      expect(of(bad, 'hardlink-missing'), `deep ${deep}`).toEqual([]);
      expect(
        tarballs.find((r) => r.file === good)!.findings.filter((f) => f.code !== 'duplicate-build-id'),
        `deep ${deep}`,
      ).toEqual([]);
    }
    expect((await execa('node', [CLI, 'audit', t], { reject: false })).exitCode).toBe(1);
  });

  it('a symlink swapped in for a tarball after the walk is the symlink finding, and is not read through', async () => {
    const link = path.join(await tmpdir('audit-swap'), 'hello-1.0-1-debug.tar.xz');
    await fs.symlink(files.hello1!, link);
    for (const deep of [false, true]) {
      const r = await auditTarball(link, { deep, xzFrom: 0 });
      expect(r.findings.map((f) => f.code)).toEqual(['symlink']);
      expect([r.members, r.ioError, r.blocks]).toEqual([undefined, false, 0]);
    }
  });

  it('files of 1 to 12 bytes are not-xz or xz-corrupt (exit 1), never io-error', async () => {
    const t = path.join(await tmpdir('audit-short'), 'tree');
    const xz = await fs.readFile(files.hello1!);
    const expected: Record<string, FindingCode> = {};
    for (let n = 1; n <= 12; n++) {
      for (const [kind, bytes, code] of [
        ['x', Buffer.alloc(n, 0x41), 'not-xz'],
        ['z', xz.subarray(0, n), 'xz-corrupt'],
      ] as const) {
        const file = tarballPath(t, {
          category: 'dev-util',
          pn: `short${kind}`,
          pf: `short${kind}-${n}`,
          buildNumber: '1',
        });
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.writeFile(file, bytes);
        expected[file] = code;
      }
    }
    const { summary, tarballs } = await audit(t);
    expect(tarballs).toHaveLength(24);
    for (const r of tarballs)
      expect(
        r.findings.map((f) => f.code),
        r.rel,
      ).toEqual([expected[r.file]]);
    expect(summary.ioErrors).toBe(0);
    const cli = await execa('node', [CLI, 'audit', t], { reject: false });
    expect(cli.exitCode).toBe(1);
    expect(cli.stdout).not.toMatch(/io-error|outside buffer bounds/);
  });

  it('never crashes on the XZ Utils test files; every bad one is an error in a deep audit', async () => {
    const t = path.join(await tmpdir('audit-conformance'), 'tree');
    const names = (await fs.readdir(XZ_CONFORMANCE)).filter((n) => n.endsWith('.xz'));
    await fs.mkdir(path.join(t, 'dev-util/xz'), { recursive: true });
    for (const [i, n] of names.entries())
      await fs.copyFile(path.join(XZ_CONFORMANCE, n), path.join(t, 'dev-util/xz', `xz-5.${i}-1-debug.tar.xz`));
    for (const deep of [false, true]) {
      const { tarballs } = await audit(t, { deep });
      expect(tarballs).toHaveLength(names.length);
      if (!deep) continue;
      for (const [i, n] of names.entries()) {
        if (!n.startsWith('bad-')) continue;
        const r = tarballs.find((x) => x.rel.endsWith(`xz-5.${i}-1-debug.tar.xz`))!;
        expect(
          r.findings.some((f) => f.severity === 'error'),
          n,
        ).toBe(true);
      }
    }
  }, 60_000);

  it('CLI: human summary and findings, --json with the documented fields, exit statuses 0, 1 and 2', async () => {
    const io = memoryIO();
    expect(await runAudit({ tree, pkgdir, vdb }, io)).toBe(1);
    expect(io.out()).toMatch(/^error\s+xz-corrupt\s+dev-util\/broken\/broken-1-1-debug\.tar\.xz: .*; fix: /m);
    expect(io.out()).toMatch(/^tarballs\s+\d+/m);
    expect(io.out()).toMatch(/^code\s+severity\s+count\s+meaning$/m);

    const errorsOnly = memoryIO();
    expect(await runAudit({ tree, severity: 'error' }, errorsOnly)).toBe(1);
    const lines = errorsOnly.out().split('\n\n')[0]!.split('\n');
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.every((l) => l.startsWith('error '))).toBe(true);

    const j = memoryIO();
    expect(await runAudit({ tree, json: true }, j)).toBe(1);
    const doc = JSON.parse(j.out());
    expect(doc.schema).toBe('packdebug-audit/1');
    expect(Object.keys(doc)).toEqual(['schema', 'tree', 'deep', 'tarballs', 'findings', 'summary']);
    expect(doc.tarballs[0]).toHaveProperty('findings');
    expect(doc.summary.tarballs).toBe(doc.tarballs.length);
    expect(doc.findings.every((f: Finding) => f.code && f.severity && f.file && f.message)).toBe(true);

    const clean = path.join(await tmpdir('audit-clean'), 'tree');
    await fs.mkdir(
      path.dirname(tarballPath(clean, { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' })),
      { recursive: true },
    );
    await fs.copyFile(
      files.hello1!,
      tarballPath(clean, { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' }),
    );
    const ok = await execa('node', [CLI, 'audit', clean], { reject: false });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toMatch(/0 errors, 0 warnings, 0 info/);
    const bad = await execa('node', [CLI, 'audit', tree, '--json'], { reject: false });
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stdout).summary.findings.error).toBeGreaterThan(0);
    const missing = await execa('node', [CLI, 'audit', path.join(dir, 'nope')], { reject: false });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/nope: no such directory/);
    const badPkgdir = await execa('node', [CLI, 'audit', clean, '--pkgdir', path.join(dir, 'nope')], { reject: false });
    expect(badPkgdir.exitCode).toBe(2);
  }, 60_000);

  it('CLI with --vdb names the tarballs of installed builds (at most 20, then a count)', async () => {
    const io = memoryIO();
    await runAudit({ tree, vdb, severity: 'error' }, io);
    const section = io.out().split('\ninstalled builds: ')[1]!.split('\n\n')[0]!.split('\n');
    expect(section[0]).toBe('2 tarballs');
    expect(section.slice(1).map((l) => l.trim())).toEqual([
      path.relative(tree, files.hello2!),
      path.relative(tree, files.other!),
    ]);
    expect(io.out()).toMatch(/^installed\s+2 tarballs belong to installed builds$/m);
    // Many installed builds: 20 names and a count.
    const t = path.join(await tmpdir('audit-installed'), 'tree');
    const v = path.join(path.dirname(t), 'vdb');
    for (let n = 1; n <= 25; n++) {
      const f = tarballPath(t, { category: 'app-misc', pn: `p${n}`, pf: `p${n}-1`, buildNumber: '1' });
      await fs.mkdir(path.dirname(f), { recursive: true });
      await fs.copyFile(files.hello1!, f);
      await fs.mkdir(path.join(v, `app-misc/p${n}-1`), { recursive: true });
    }
    const many = memoryIO();
    await runAudit({ tree: t, vdb: v, severity: 'error' }, many);
    const lines = many.out().split('\ninstalled builds: ')[1]!.split('\n\n')[0]!.split('\n');
    expect(lines[0]).toBe('25 tarballs');
    expect(lines.filter((l) => l.startsWith('  app-misc/'))).toHaveLength(20);
    expect(lines[21]).toMatch(/^ {2}\.\.\. and 5 more/);
    // Without --vdb there is no such section.
    const plain = memoryIO();
    await runAudit({ tree: t }, plain);
    expect(plain.out()).not.toMatch(/installed builds/);
  });

  const jsonMissingInput =
    'CLI --json: a missing tree, --pkgdir or --vdb prints nothing on stdout and one line on stderr (exit 2)';
  it(jsonMissingInput, async () => {
    const nope = path.join(dir, 'nope');
    for (const extra of [[nope], [tree, '--pkgdir', nope], [tree, '--vdb', nope], [files.hello1!]]) {
      const r = await execa('node', [CLI, 'audit', ...extra, '--json'], { reject: false });
      expect(r.exitCode, extra.join(' ')).toBe(2);
      expect(r.stdout, extra.join(' ')).toBe('');
      expect(r.stderr.trim().split('\n'), extra.join(' ')).toHaveLength(1);
    }
    // An empty tree is still one JSON document.
    const empty = path.join(await tmpdir('audit-empty'), 'tree');
    await fs.mkdir(empty);
    const r = await execa('node', [CLI, 'audit', empty, '--json'], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ tarballs: [], findings: [], summary: { tarballs: 0 } });
  });

  it.skipIf(!hasTools)(
    'sees what GNU tar extracts past a pax number it rejects (size=0x400 hid a ../ member: exit 0 before)',
    async () => {
      const t = path.join(await tmpdir('audit-pax-hex'), 'tree');
      const file = await xzInto(
        paxHexSizeTar(),
        tarballPath(t, { category: 'dev-util', pn: 'hexsize', pf: 'hexsize-1', buildNumber: '1' }),
      );
      const gnu = await execa('bash', ['-c', 'xz -dc "$1" | tar -tf -', '_', file], { reject: false });
      expect(gnu.stdout.split('\n')).toContain('../../../../tmp/x');
      expect(gnu.stderr).toMatch(/Malformed extended header: invalid size=0x400/);
      for (const deep of [false, true]) {
        const { findings } = await audit(t, { deep });
        expect(findings.map((f) => [f.code, f.member]).sort(), `deep: ${deep}`).toEqual([
          ['dotdot-path', '../../../../tmp/x'],
          ['tar-ambiguous', './usr/lib/debug/empty'],
        ]);
        expect(findings.find((f) => f.code === 'tar-ambiguous')!.message).toMatch(
          /member '\.\/usr\/lib\/debug\/empty' at offset 0: pax record size=0x400 is not a decimal number/,
        );
      }
      const cli = await execa('node', [CLI, 'audit', '--deep', t], { reject: false });
      expect(cli.exitCode).toBe(1);
    },
  );

  it('every finding code is triggered by one of the tests above', () => {
    expect([...triggered].sort()).toEqual(Object.keys(FINDINGS).sort());
  });
});

describe('member checks keep names as 64-bit hashes', () => {
  it('a hash table that grows, tells keys apart and keeps values', () => {
    const t = new Hash64Table(2);
    for (let i = 0; i < 100_000; i++) t.set(i, i * 7, i, ~i >>> 0);
    expect(t.size).toBe(100_000);
    expect(t.bytes).toBeLessThanOrEqual(100_000 * 16 * (8 / 3));
    for (const i of [0, 1, 4095, 99_999])
      expect([t.has(i, i * 7), t.get(i, i * 7, 0), t.get(i, i * 7, 1)]).toEqual([true, i, ~i >>> 0]);
    expect(t.has(1, 8)).toBe(false);
    expect(t.get(100_000, 700_000)).toBeUndefined();
    expect(t.set(5, 35)).toBe(false);
    const names = new Set<string>();
    const hashes = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      const n = `usr/lib/debug/d${i % 1000}/f${i}`;
      names.add(n);
      const h = hashName(n);
      hashes.add(`${h.hi}:${h.lo}`);
    }
    expect(hashes.size).toBe(names.size);
    // Ancestors found on the way.
    const dirs = new Hash64Table(0);
    for (const d of ['usr/lib/debug/.build-id/ab', 'usr/lib/debug/.build-id/ab/cdef']) {
      const h = hashName(d);
      dirs.set(h.hi, h.lo);
    }
    expect(hashName('usr/lib/debug/.build-id/ab/cdef/x/y', dirs).ancestor).toBe(
      'usr/lib/debug/.build-id/ab/cdef'.length,
    );
    expect(hashName('usr/lib/debug/.build-id/ab/cdef', dirs).ancestor).toBe('usr/lib/debug/.build-id/ab'.length);
    expect(hashName('usr/lib/debug/.build-id/abc/x', dirs).ancestor).toBe(-1);
  });

  it('hardlinks to earlier members pass and to missing ones do not, over 100,000 members', () => {
    const checks = new MemberChecks('/t.tar.xz');
    const entry = (path: string, type = '0', linkpath = ''): TarEntry => ({
      path,
      type: type as TarEntry['type'],
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 0,
      linkpath,
      uname: '',
      gname: '',
      headerOffset: 0,
      dataOffset: 0,
    });
    for (let i = 0; i < 50_000; i++) {
      checks.entry(entry(`./usr/lib/debug/d${i % 100}/f${i}`));
      checks.entry(entry(`./usr/lib/debug/d${i % 100}/h${i}`, '1', `usr/lib/debug/d${i % 100}/f${i}`));
    }
    checks.entry(entry('./usr/lib/debug/late', '1', './usr/lib/debug/d0/f50000'));
    checks.finish();
    expect(checks.members).toBe(100_001);
    expect(checks.findings.map((f) => [f.code, f.member])).toEqual([['hardlink-missing', './usr/lib/debug/late']]);
  });
});

describe.skipIf(!hasTools)('GNU build-id through the program headers (shallow audit of large members)', () => {
  it('agrees with the section-header lookup on real debug files, from their first 64 KiB', async () => {
    const image = await makeImage('odd');
    const { stdout } = await execa('find', [path.join(image, 'usr/lib/debug'), '-type', 'f', '-name', '*.debug']);
    let checked = 0;
    for (const f of stdout.split('\n')) {
      const data = await fs.readFile(f);
      const full = inspectElf(bufferSource(data));
      if (!full) continue;
      const head: ByteSource = {
        size: data.length,
        read: (o, n) => (o + n <= 65536 ? data.subarray(o, o + n) : undefined),
      };
      expect(gnuBuildIdFromSegments(head), f).toBe(full.gnuBuildId);
      checked++;
    }
    expect(checked).toBeGreaterThan(1);
    expect(gnuBuildIdFromSegments(bufferSource(Buffer.from('not ELF at all, not at all')))).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// One rule for symlinks in pack and audit (issue 12, item 13)
// ---------------------------------------------------------------------------

describe('pack and audit apply the same symlink rule (src/tar/symlink.ts)', () => {
  const sameSymlinkRule =
    'pack warns about exactly the links audit reports as symlink-escape (a warning), estrip links silent';
  it(sameSymlinkRule, async () => {
    const { packImage } = await import('../src/pack/pack.js');
    const image = await makeImage('hello');
    const dbg = path.join(image, 'usr/lib/debug');
    await fs.symlink('/etc', path.join(dbg, 'escape'));
    await fs.symlink('../../../../../../../tmp', path.join(dbg, 'climb'));
    await fs.symlink('../../bin/true', path.join(dbg, 'usr/lib-outside'));
    await fs.symlink('/usr/lib/debug/usr/bin/hello.debug', path.join(dbg, 'abs-inside.debug'));
    await fs.symlink('usr/bin/hello.debug', path.join(dbg, 'rel-inside.debug'));
    await fs.mkdir(path.join(dbg, '.build-id/ee'), { recursive: true });
    await fs.symlink('../../../../../usr/bin/foo', path.join(dbg, '.build-id/ee/ff00'));
    await fs.symlink('/usr/bin/foo', path.join(dbg, '.build-id/ee/ff01'));

    const tree = path.join(await tmpdir('symlink-rule'), 'tree');
    const id = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0', buildNumber: '1' };
    const out = tarballPath(tree, id);
    const warnings: string[] = [];
    await packImage({ image, ...id, out, log: { info: () => undefined, warn: (m) => warnings.push(m) } });
    const escaping = [
      './usr/lib/debug/.build-id/ee/ff01',
      './usr/lib/debug/climb',
      './usr/lib/debug/escape',
      './usr/lib/debug/usr/lib-outside',
    ];
    const targets: Record<string, string> = {
      './usr/lib/debug/.build-id/ee/ff01': '/usr/bin/foo',
      './usr/lib/debug/climb': '../../../../../../../tmp',
      './usr/lib/debug/escape': '/etc',
      './usr/lib/debug/usr/lib-outside': '../../bin/true',
    };
    expect(warnings.sort()).toEqual(
      escaping.map(
        (m) => `${out}: stored symlink '${m}' -> '${targets[m]}' leads outside the debug roots (audit: symlink-escape)`,
      ),
    );

    for (const deep of [false, true]) {
      const { findings } = await audit(tree, { deep });
      const escapes = findings.filter((f) => f.code === 'symlink-escape');
      expect(escapes.map((f) => f.member).sort(), `deep ${deep}`).toEqual(escaping);
      for (const f of escapes) {
        expect(f.severity).toBe('warning');
        expect(f.message).toBe(`symlink '${f.member}' -> '${targets[f.member!]}' leads outside the debug roots`);
        // Rebuilding the tarball writes the same links: the advice must name a fix that changes something.
        expect(f.fix).not.toMatch(/packdebug pack/);
      }
      expect(
        findings.filter((f) => f.severity === 'error'),
        `deep ${deep}`,
      ).toEqual([]);
    }
  });
});
