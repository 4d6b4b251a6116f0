import { execa } from 'execa';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Binpkg, openBinpkg, readImage } from '../src/binpkg/binpkg.js';
import { compressionFromMagic } from '../src/binpkg/compression.js';
import { listOuterTar } from '../src/binpkg/outer-tar.js';
import { splitPf } from '../src/binpkg/metadata.js';
import { parsePackagesIndex } from '../src/binpkg/packages-index.js';
import { listPkgdir } from '../src/binpkg/pkgdir.js';
import { decodeXpak, encodeXpak } from '../src/binpkg/xpak.js';
import { PackdebugError } from '../src/errors.js';
import { walkDebugRoots } from '../src/image/walk.js';
import { encodePaxRecords } from '../src/tar/pax.js';
import { makeGpkg, makeXpak } from './helpers/binpkg.js';
import { makeImage, tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';
import { rawTar } from './helpers/trees.js';

const hasTools = ['tar', 'zstd', 'xz', 'bzip2', 'gzip', 'lz4', 'lzip'].every((t) => requireTool(t));
const SIG = { zstd: '.zst', xz: '.xz', bzip2: '.bz2', gzip: '.gz', lz4: '.lz4', lzip: '.lz', none: '' } as const;
const HELLO = { category: 'app-misc', pf: 'hello-1.0', buildNumber: '1' };

/** Every image member with its relative path, type and a digest of its data. */
async function imageListing(pkg: Binpkg): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let hash = createHash('sha256');
  await readImage(pkg, {
    entry: () => {
      hash = createHash('sha256');
    },
    data: (_e, chunk) => {
      hash.update(chunk);
    },
    entryEnd: (e) => {
      out.set(e.relPath, `${e.type}:${e.type === '0' ? hash.digest('hex') : e.linkpath}`);
    },
  });
  return out;
}

async function expectFormatError(p: Promise<unknown>, file: string, pattern: RegExp): Promise<PackdebugError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PackdebugError);
  const e = err as PackdebugError;
  expect(e.message).toContain(file);
  expect(e.message).toMatch(pattern);
  expect(e.message).not.toContain('\n');
  return e;
}

describe('GPKG outer tar', () => {
  it('reads pax sizes as GNU tar does, and refuses what tar readers would frame differently', async () => {
    const dir = await tmpdir('outer-tar');
    const outer = async (records: Record<string, string>, type = 'x') => {
      const file = path.join(dir, `${Math.random()}.gpkg.tar`);
      await fs.writeFile(
        file,
        rawTar([
          { name: 'p-1/PaxHeaders/gpkg-1', type, data: encodePaxRecords(records) },
          { name: 'p-1/gpkg-1' },
          { name: 'p-1/image.tar.xz', data: Buffer.alloc(1024, 1) },
        ]),
      );
      const fh = await fs.open(file);
      try {
        return await listOuterTar(fh, (await fh.stat()).size, file);
      } finally {
        await fh.close();
      }
    };
    expect((await outer({ size: '0' })).map((m) => [m.name, m.size])).toEqual([
      ['p-1/gpkg-1', 0],
      ['p-1/image.tar.xz', 1024],
    ]);
    // Number('0x200') was 512: the image's header was read as the marker's data.
    await expect(outer({ size: '0x200' })).rejects.toThrow(/pax record size=0x200 is not a decimal number/);
    await expect(outer({ size: ' 512' })).rejects.toThrow(/is not a decimal number/);
    await expect(outer({ size: '512' }, 'g')).rejects.toThrow(/global pax header at offset 0 sets the size/);
  });
});

describe('binpkg metadata helpers', () => {
  it('splits PF like catpkgsplit', () => {
    expect(splitPf('hello-1.0')).toEqual({ pn: 'hello', pvr: '1.0' });
    expect(splitPf('hello-1.0-r5')).toEqual({ pn: 'hello', pvr: '1.0-r5' });
    expect(splitPf('gprbuild-25.0.0-r5')).toEqual({ pn: 'gprbuild', pvr: '25.0.0-r5' });
    expect(splitPf('font-adobe-100dpi-1.0.3')).toEqual({ pn: 'font-adobe-100dpi', pvr: '1.0.3' });
    expect(splitPf('libfoo2-3_pre20240101_p1')).toEqual({ pn: 'libfoo2', pvr: '3_pre20240101_p1' });
    expect(splitPf('nover')).toBeUndefined();
    expect(splitPf('bad/name-1')).toBeUndefined();
  });

  it('round-trips an XPAK segment and refuses corrupt ones', () => {
    const seg = encodeXpak({
      CATEGORY: 'app-misc\n',
      PF: 'hello-1.0\n',
      'environment.bz2': Buffer.from([0x42, 0x5a, 0x68, 0x39, 0]),
    });
    const back = decodeXpak(seg, 'x.tbz2');
    expect(back.get('PF')!.toString()).toBe('hello-1.0\n');
    expect([...back.keys()]).toEqual(['CATEGORY', 'PF', 'environment.bz2']);
    const bad = Buffer.from(seg);
    bad.writeUInt32BE(0xffff, 8);
    expect(() => decodeXpak(bad, 'x.tbz2')).toThrow(/x\.tbz2: corrupt XPAK segment/);
  });

  it('parses a Packages index, with and without PATH', () => {
    const index = parsePackagesIndex(
      [
        'ARCH: amd64',
        'PACKAGES: 2',
        'VERSION: 0',
        '',
        'BUILD_ID: 3',
        'CPV: app-misc/hello-1.0',
        'PATH: app-misc/hello/hello-1.0-3.gpkg.tar',
        'SIZE: 100',
        '',
        'CPV: dev-libs/foo-2',
        'MTIME: 17',
        '',
      ].join('\n'),
    );
    expect(index.header.get('ARCH')).toBe('amd64');
    expect(index.entries.map((e) => [e.cpv, e.buildNumber, e.path, e.size, e.mtime])).toEqual([
      ['app-misc/hello-1.0', '3', 'app-misc/hello/hello-1.0-3.gpkg.tar', 100, undefined],
      ['dev-libs/foo-2', undefined, 'dev-libs/foo-2.tbz2', undefined, 17],
    ]);
  });

  it('knows the compressions by magic as Portage probes them', () => {
    expect(compressionFromMagic(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(compressionFromMagic(Buffer.from('BZh91AY', 'latin1'))).toBe('bzip2');
    expect(compressionFromMagic(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))).toBe('xz');
    expect(compressionFromMagic(Buffer.from('LZIP\x01', 'latin1'))).toBe('lzip');
    expect(compressionFromMagic(Buffer.from([0x1f, 0x8b, 8]))).toBe('gzip');
    expect(compressionFromMagic(Buffer.from([0x04, 0x22, 0x4d, 0x18]))).toBe('lz4');
    expect(compressionFromMagic(Buffer.from('hello world'))).toBeUndefined();
  });
});

describe.skipIf(!hasTools)('binpkg reading', () => {
  it.each([
    ['gpkg', 'zstd'],
    ['gpkg', 'xz'],
    ['gpkg', 'bzip2'],
    ['gpkg', 'gzip'],
    ['gpkg', 'lz4'],
    ['gpkg', 'lzip'],
    ['gpkg', 'none'],
    ['xpak', 'bzip2'],
    ['xpak', 'zstd'],
    ['xpak', 'xz'],
  ] as const)('reads a %s binpkg with a %s image: metadata and every image member', async (format, compression) => {
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg');
    const file = format === 'gpkg' ? path.join(dir, 'hello-1.0-1.gpkg.tar') : path.join(dir, 'hello-1.0-1.xpak');
    if (format === 'gpkg') await makeGpkg(image, file, { ...HELLO, compression, signatures: true });
    else await makeXpak(image, file, { ...HELLO, compression });
    const before = await fs.stat(file);
    const pkg = await openBinpkg(file);
    expect(pkg.format).toBe(format);
    expect(pkg.imageCompression).toBe(compression);
    expect(pkg.metadata).toMatchObject({
      category: 'app-misc',
      pf: 'hello-1.0',
      pn: 'hello',
      pvr: '1.0',
      buildNumber: '1',
      eprefix: '',
    });
    expect(pkg.metadata.values.get('EAPI')).toBe('8');
    if (format === 'gpkg')
      expect(pkg.signatures.sort()).toEqual([
        'Manifest',
        `image.tar${SIG[compression]}.sig`,
        `metadata.tar${SIG[compression]}.sig`,
      ]);

    const listing = await imageListing(pkg);
    // Every debug entry the walk of the unpacked image finds is in the binpkg, with the same data.
    const walk = await walkDebugRoots(image);
    for (const e of walk.entries) {
      const got = listing.get(e.relPath);
      expect(got, e.relPath).toBeDefined();
      if (e.kind === 'file') {
        const sha = createHash('sha256')
          .update(await fs.readFile(path.join(image, e.relPath)))
          .digest('hex');
        expect(got).toBe(`0:${sha}`);
      }
      if (e.kind === 'symlink') expect(got).toBe(`2:${e.linkTarget}`);
    }
    expect(listing.get('usr/bin/hello')).toMatch(/^0:/);
    expect(listing.has('')).toBe(true); // the image root itself
    // Read-only: the binpkg is untouched.
    const after = await fs.stat(file);
    expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs]);
  });

  it('reads both placements of gpkg-1 and Manifest, and payload members with or without the basename', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg-variants');
    const variants = [
      { topLevelMarker: true, innerBasename: false },
      { topLevelMarker: false, innerBasename: true },
      { topLevelMarker: true, innerBasename: true },
    ];
    let reference: Map<string, string> | undefined;
    for (const [i, v] of variants.entries()) {
      const file = await makeGpkg(image, path.join(dir, `v${i}.gpkg.tar`), { ...HELLO, signatures: true, ...v });
      const listing = (await execa('tar', ['-tf', file])).stdout.split('\n');
      expect(listing.includes('gpkg-1')).toBe(v.topLevelMarker);
      const pkg = await openBinpkg(file);
      expect(pkg.metadata).toMatchObject({ category: 'app-misc', pf: 'hello-1.0', buildNumber: '1' });
      // Hardlink targets keep their raw spelling (with the payload prefix): compare the rest.
      const got = new Map([...(await imageListing(pkg))].map(([k, val]) => [k, val.startsWith('1:') ? '1' : val]));
      reference ??= got;
      expect(got).toEqual(reference);
      expect(got.has('usr/lib/debug/usr/bin/hello.debug')).toBe(true);
    }
  });

  it('takes identity from the metadata, not the file name; EPREFIX when the package has one', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg-name');
    const file = await makeGpkg(image, path.join(dir, 'misleading-9.9-7.gpkg.tar'), {
      category: 'dev-util',
      pf: 'hello-2.1-r3',
      buildNumber: '42',
      eprefix: '/opt/gentoo/',
    });
    const pkg = await openBinpkg(file);
    expect(pkg.metadata).toMatchObject({
      category: 'dev-util',
      pf: 'hello-2.1-r3',
      pn: 'hello',
      pvr: '2.1-r3',
      buildNumber: '42',
      eprefix: '/opt/gentoo',
    });
    const xpak = await makeXpak(image, path.join(dir, 'whatever.tbz2'), { category: 'dev-util', pf: 'hello-2.1' });
    const x = await openBinpkg(xpak);
    expect(x.metadata).toMatchObject({ category: 'dev-util', pf: 'hello-2.1', buildNumber: undefined, eprefix: '' });
    // A file without a known suffix is recognised by content.
    const renamed = path.join(dir, 'noext');
    await fs.copyFile(xpak, renamed);
    expect((await openBinpkg(renamed)).format).toBe('xpak');
  });

  it('refuses metadata without CATEGORY or with a bad PF, naming the file', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg-meta');
    const file = await makeXpak(image, path.join(dir, 'a.xpak'), { category: 'app-misc', pf: 'hello' });
    await expectFormatError(openBinpkg(file), file, /PF 'hello' is not PN-VERSION/);
    const file2 = await makeGpkg(image, path.join(dir, 'b.gpkg.tar'), { category: '../x', pf: 'hello-1' });
    await expectFormatError(openBinpkg(file2), file2, /CATEGORY/);
  });

  it('reports truncated binpkgs as format errors naming the file', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg-trunc');
    const gpkg = await makeGpkg(image, path.join(dir, 'hello-1.0-1.gpkg.tar'), { ...HELLO, compression: 'zstd' });
    const size = (await fs.stat(gpkg)).size;
    // Cut inside the image payload: the outer tar is now short.
    const cut = path.join(dir, 'cut.gpkg.tar');
    await fs.writeFile(cut, (await fs.readFile(gpkg)).subarray(0, Math.floor(size / 2)));
    await expectFormatError(openBinpkg(cut), cut, /truncated/);

    // XPAK cut: the trailer is gone.
    const xpak = await makeXpak(image, path.join(dir, 'hello-1.0-1.xpak'), { ...HELLO, compression: 'xz' });
    const xcut = path.join(dir, 'cut.xpak');
    const xbytes = await fs.readFile(xpak);
    await fs.writeFile(xcut, xbytes.subarray(0, xbytes.length - 100));
    await expectFormatError(openBinpkg(xcut), xcut, /XPAK/);

    // Zero-length.
    const empty = path.join(dir, 'empty.gpkg.tar');
    await fs.writeFile(empty, '');
    await expectFormatError(openBinpkg(empty), empty, /truncated|not a valid GPKG/);
  });

  it('reports a corrupt image payload when the image is read', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg-corrupt');
    for (const compression of ['zstd', 'xz', 'bzip2'] as const) {
      const file = await makeGpkg(image, path.join(dir, `c-${compression}.gpkg.tar`), { ...HELLO, compression });
      const pkg = await openBinpkg(file);
      const bytes = await fs.readFile(file);
      // Damage the middle of the image payload (past its magic).
      const at = pkg.image.offset + Math.floor(pkg.image.size / 2);
      for (let i = 0; i < 64; i++) bytes[at + i] ^= 0x5a;
      await fs.writeFile(file, bytes);
      const damaged = await openBinpkg(file);
      await expectFormatError(readImage(damaged, {}), file, /corrupt|truncated|tar/);
    }
    // XPAK whose compressed tar is cut in the middle but keeps a valid trailer.
    const x = await makeXpak(image, path.join(dir, 'x.tbz2'), { ...HELLO, compression: 'bzip2' });
    const xpkg = await openBinpkg(x);
    const xb = await fs.readFile(x);
    const spliced = Buffer.concat([xb.subarray(0, Math.floor(xpkg.image.size / 2)), xb.subarray(xpkg.image.size)]);
    await fs.writeFile(x, spliced);
    await expectFormatError(readImage(await openBinpkg(x), {}), x, /corrupt|truncated/);
  });

  it('reads a payload to its end, so damage only its trailer shows is caught', async () => {
    // The tar inside decodes completely and well-formed; only the decompressor's
    // final check (gzip's CRC32, a missing xz Index or lz4 end mark) says the data is bad.
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg-trailer');
    const damage: [string, 'gzip' | 'xz' | 'lz4', (payload: Buffer) => Buffer][] = [
      [
        'gzip CRC32 flipped',
        'gzip',
        (p) =>
          Buffer.concat([
            p.subarray(0, p.length - 8),
            Buffer.from([p[p.length - 8]! ^ 0xff]),
            p.subarray(p.length - 7),
          ]),
      ],
      ['gzip trailer cut', 'gzip', (p) => p.subarray(0, p.length - 8)],
      ['xz Index and footer cut', 'xz', (p) => p.subarray(0, p.length - 64)],
      ['lz4 end mark cut', 'lz4', (p) => p.subarray(0, p.length - 8)],
    ];
    for (const [what, compression, hurt] of damage) {
      const file = await makeXpak(image, path.join(dir, `${compression}.xpak`), { ...HELLO, compression });
      const pkg = await openBinpkg(file);
      const bytes = await fs.readFile(file);
      const payload = bytes.subarray(pkg.image.offset, pkg.image.offset + pkg.image.size);
      const damaged = path.join(dir, `${what.replace(/ /g, '-')}.xpak`);
      await fs.writeFile(damaged, Buffer.concat([hurt(payload), bytes.subarray(pkg.image.offset + pkg.image.size)]));
      const e = await expectFormatError(readImage(await openBinpkg(damaged), {}), damaged, /corrupt or truncated/);
      expect(e.message, what).toMatch(new RegExp(`\\(${compression === 'gzip' ? 'gzip' : compression}: \\S`));
    }
  });

  it('refuses a wrong outer GPKG layout', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg-layout');
    const good = await makeGpkg(image, path.join(dir, 'good.gpkg.tar'), { ...HELLO, compression: 'zstd' });
    const stage = path.join(dir, 'stage');
    await fs.mkdir(stage);
    await execa('tar', ['-xf', good, '-C', stage]);
    const base = 'hello-1.0-1';
    const outer = async (name: string, members: string[]) => {
      const file = path.join(dir, name);
      await execa('tar', ['-cf', file, '-C', stage, ...members]);
      return file;
    };
    const noMarker = await outer('nomarker.gpkg.tar', [`${base}/metadata.tar.zst`, `${base}/image.tar.zst`]);
    await expectFormatError(openBinpkg(noMarker), noMarker, /no 'gpkg-1' member/);
    const late = await outer('late.gpkg.tar', [`${base}/metadata.tar.zst`, `${base}/gpkg-1`, `${base}/image.tar.zst`]);
    await expectFormatError(openBinpkg(late), late, /'gpkg-1' is not the first member/);
    const noImage = await outer('noimage.gpkg.tar', [`${base}/gpkg-1`, `${base}/metadata.tar.zst`]);
    await expectFormatError(openBinpkg(noImage), noImage, /no image\.tar member/);
    await fs.mkdir(path.join(stage, 'other'));
    await fs.copyFile(path.join(stage, base, 'image.tar.zst'), path.join(stage, 'other', 'image.tar.zst'));
    const twoTops = await outer('twotops.gpkg.tar', [
      `${base}/gpkg-1`,
      `${base}/metadata.tar.zst`,
      'other/image.tar.zst',
    ]);
    await expectFormatError(openBinpkg(twoTops), twoTops, /top directories/);
    await fs.rename(path.join(stage, base, 'image.tar.zst'), path.join(stage, base, 'image.tar.zst7'));
    const oddSuffix = await outer('odd.gpkg.tar', [
      `${base}/gpkg-1`,
      `${base}/metadata.tar.zst`,
      `${base}/image.tar.zst7`,
    ]);
    await expectFormatError(openBinpkg(oddSuffix), oddSuffix, /unknown compression/);
    // A payload whose bytes are not what its name says.
    await fs.copyFile(path.join(stage, base, 'metadata.tar.zst'), path.join(stage, base, 'image.tar.xz'));
    const liar = await outer('liar.gpkg.tar', [`${base}/gpkg-1`, `${base}/metadata.tar.zst`, `${base}/image.tar.xz`]);
    await expectFormatError(openBinpkg(liar), liar, /image\.tar\.xz is not xz data/);
    // Not a tar at all.
    const junk = path.join(dir, 'junk.gpkg.tar');
    await fs.writeFile(junk, Buffer.alloc(4096, 0x41));
    await expectFormatError(openBinpkg(junk), junk, /not a tar archive/);
  });

  it('names the missing decompressor', async () => {
    const image = await makeImage('hello');
    const dir = await tmpdir('binpkg-tool');
    const file = await makeXpak(image, path.join(dir, 'x.xpak'), { ...HELLO, compression: 'xz' });
    const pkg = await openBinpkg(file);
    const saved = process.env.PATH;
    process.env.PATH = dir; // nothing there
    try {
      const err = await expectFormatError(readImage(pkg, {}), file, /'xz'.*not installed/);
      expect(err.code).toBe('E_UNSUPPORTED');
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe.skipIf(!hasTools)('PKGDIR', () => {
  it('finds binpkgs in both layouts, never through symlinks out of PKGDIR, and reads Packages', async () => {
    const image = await makeImage('hello');
    const pkgdir = await tmpdir('pkgdir');
    const outside = await tmpdir('pkgdir-outside');
    await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), HELLO);
    await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-2.gpkg.tar'), { ...HELLO, buildNumber: '2' });
    await makeXpak(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-3.xpak'), { ...HELLO, buildNumber: '3' });
    await makeXpak(image, path.join(pkgdir, 'dev-libs/foo-2.tbz2'), { category: 'dev-libs', pf: 'foo-2' });
    await makeGpkg(image, path.join(pkgdir, 'dev-libs/bar-3.gpkg.tar'), { category: 'dev-libs', pf: 'bar-3' });
    await makeXpak(image, path.join(pkgdir, 'All/old-1.tbz2'), { category: 'sys-apps', pf: 'old-1' });
    await fs.mkdir(path.join(pkgdir, 'sys-apps'));
    await fs.symlink('../All/old-1.tbz2', path.join(pkgdir, 'sys-apps/old-1.tbz2'));
    const evil = await makeXpak(image, path.join(outside, 'evil-1.tbz2'), { category: 'app-misc', pf: 'evil-1' });
    await fs.symlink(evil, path.join(pkgdir, 'app-misc/evil-1.tbz2'));
    await fs.symlink(outside, path.join(pkgdir, 'app-evil'));
    await fs.writeFile(path.join(pkgdir, 'app-misc/hello/.hello-1.0-4.gpkg.tar.partial'), 'x');
    await fs.writeFile(
      path.join(pkgdir, 'Packages'),
      [
        'PACKAGES: 4',
        '',
        'BUILD_ID: 1',
        'CPV: app-misc/hello-1.0',
        'PATH: app-misc/hello/hello-1.0-1.gpkg.tar',
        '',
        'CPV: dev-libs/foo-2',
        '',
        'CPV: sys-apps/old-1',
        'PATH: sys-apps/old-1.tbz2',
        '',
        'BUILD_ID: 9',
        'CPV: app-misc/hello-1.0',
        'PATH: app-misc/hello/hello-1.0-9.gpkg.tar',
        '',
        'CPV: x/y-1',
        'PATH: ../../etc/passwd',
        '',
      ].join('\n'),
    );
    const listing = await listPkgdir(pkgdir);
    expect(listing.binpkgs.map((b) => [b.relPath, b.format, b.index?.cpv])).toEqual([
      ['All/old-1.tbz2', 'xpak', 'sys-apps/old-1'],
      ['app-misc/hello/hello-1.0-1.gpkg.tar', 'gpkg', 'app-misc/hello-1.0'],
      ['app-misc/hello/hello-1.0-2.gpkg.tar', 'gpkg', undefined],
      ['app-misc/hello/hello-1.0-3.xpak', 'xpak', undefined],
      ['dev-libs/bar-3.gpkg.tar', 'gpkg', undefined],
      ['dev-libs/foo-2.tbz2', 'xpak', 'dev-libs/foo-2'],
    ]);
    expect(listing.hasIndex).toBe(true);
    expect(listing.skipped.map((s) => path.relative(pkgdir, s.path))).toEqual(['app-misc/evil-1.tbz2']);
    expect(listing.missing.map((m) => m.entry.path)).toEqual([
      'app-misc/hello/hello-1.0-9.gpkg.tar',
      '../../etc/passwd',
    ]);
    expect(listing.missing[1]!.reason).toMatch(/out of the PKGDIR/);
    // Metadata of each comes from the package.
    const pkgs = await Promise.all(listing.binpkgs.map((b) => openBinpkg(b.path)));
    expect(pkgs.map((p) => `${p.metadata.category}/${p.metadata.pf}:${p.metadata.buildNumber ?? ''}`)).toEqual([
      'sys-apps/old-1:',
      'app-misc/hello-1.0:1',
      'app-misc/hello-1.0:2',
      'app-misc/hello-1.0:3',
      'dev-libs/bar-3:',
      'dev-libs/foo-2:',
    ]);
  });

  it('works without a Packages index and refuses a missing PKGDIR', async () => {
    const image = await makeImage('hello');
    const pkgdir = await tmpdir('pkgdir-noindex');
    await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), HELLO);
    const listing = await listPkgdir(pkgdir);
    expect(listing.hasIndex).toBe(false);
    expect(listing.binpkgs).toHaveLength(1);
    await expect(listPkgdir(path.join(pkgdir, 'nope'))).rejects.toThrow(/no such PKGDIR/);
  });
});
