/**
 * Binary packages for tests, made from an image directory with the real
 * tools (GNU tar and the compressors), laid out as Portage writes them.
 */
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { encodeXpak, xpakTrailer } from '../../src/binpkg/xpak.js';
import { encodeHeader } from '../../src/tar/header.js';
import { crc32 } from '../../src/xz/crc32.js';

export type FixtureCompression = 'zstd' | 'xz' | 'bzip2' | 'gzip' | 'lz4' | 'lzip' | 'none';

export const SUFFIX: Record<FixtureCompression, string> = {
  zstd: '.zst',
  xz: '.xz',
  bzip2: '.bz2',
  gzip: '.gz',
  lz4: '.lz4',
  lzip: '.lz',
  none: '',
};

const COMPRESS: Record<Exclude<FixtureCompression, 'none'>, string[]> = {
  zstd: ['zstd', '-q', '-c', '-T1'],
  xz: ['xz', '-c', '-T1', '-1'],
  bzip2: ['bzip2', '-c'],
  gzip: ['gzip', '-c', '-n'],
  lz4: ['lz4', '-q', '-c'],
  lzip: ['lzip', '-c'],
};

export interface BinpkgFixture {
  category: string;
  pf: string;
  buildNumber?: string;
  eprefix?: string;
  compression?: FixtureCompression;
  /** Extra metadata keys (text values). */
  metadata?: Record<string, string>;
}

function metadataValues(f: BinpkgFixture): Record<string, string> {
  const values: Record<string, string> = {
    CATEGORY: `${f.category}\n`,
    PF: `${f.pf}\n`,
    EAPI: '8\n',
    SLOT: '0\n',
    USE: 'amd64 elibc_glibc\n',
  };
  if (f.buildNumber !== undefined) values['BUILD_ID'] = `${f.buildNumber}\n`;
  if (f.eprefix) values['EPREFIX'] = `${f.eprefix}\n`;
  for (const [k, v] of Object.entries(f.metadata ?? {})) values[k] = v;
  return values;
}

/** `tar -cf - ...` in `cwd`, compressed, into `out`. */
async function tarInto(out: string, cwd: string, tarArgs: string[], compression: FixtureCompression): Promise<void> {
  const tarCmd = ['tar', '--format=gnu', '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', ...tarArgs]
    .map(shq)
    .join(' ');
  const compress = compression === 'none' ? 'cat' : COMPRESS[compression].map(shq).join(' ');
  await execa('bash', ['-c', `set -o pipefail; cd ${shq(cwd)} && ${tarCmd} | ${compress} > ${shq(out)}`]);
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function scratch(): Promise<string> {
  return mkdtemp(join(os.tmpdir(), 'packdebug-binpkg-stage-'));
}

/**
 * Writes a GPKG at `out` from `image` (a ${D}: with EPREFIX its files are
 * below image/EPREFIX), laid out as Portage writes it: outer
 * `BASENAME/gpkg-1`, `BASENAME/metadata.tar.COMP` (members `metadata/KEY`),
 * `BASENAME/image.tar.COMP` (members `image/...`), optional signatures and
 * Manifest. `basename` defaults to PF[-BUILD_ID]. Variants: `topLevelMarker`
 * puts gpkg-1 and Manifest at the top of the outer tar (as some Portage
 * releases do); `innerBasename` prefixes the payloads' members with BASENAME/.
 */
export async function makeGpkg(
  image: string,
  out: string,
  f: BinpkgFixture & { basename?: string; signatures?: boolean; topLevelMarker?: boolean; innerBasename?: boolean },
): Promise<string> {
  const compression = f.compression ?? 'zstd';
  const base = f.basename ?? (f.buildNumber === undefined ? f.pf : `${f.pf}-${f.buildNumber}`);
  const stage = await scratch();
  try {
    const pkg = join(stage, base);
    const inner = f.innerBasename ? join(stage, 'inner', base) : join(stage, 'inner');
    await mkdir(join(inner, 'metadata'), { recursive: true });
    await mkdir(pkg, { recursive: true });
    for (const [k, v] of Object.entries(metadataValues(f))) await writeFile(join(inner, 'metadata', k), v);
    const suffix = SUFFIX[compression];
    const markerDir = f.topLevelMarker ? stage : pkg;
    await writeFile(join(markerDir, 'gpkg-1'), '');
    const innerPrefix = f.innerBasename ? `${base}/` : '';
    await tarInto(join(pkg, `metadata.tar${suffix}`), join(stage, 'inner'), [`${innerPrefix}metadata`], compression);
    // Image members as image/...; symlink targets untouched (S), hardlink targets renamed (h).
    await tarInto(
      join(pkg, `image.tar${suffix}`),
      image,
      ['--sort=name', `--transform=s,^\\.,${innerPrefix}image,rSh`, '.'],
      compression,
    );
    const members = [f.topLevelMarker ? 'gpkg-1' : `${base}/gpkg-1`, `${base}/metadata.tar${suffix}`];
    const manifest = [`DATA metadata.tar${suffix} 0`, `DATA image.tar${suffix} 0`];
    if (f.signatures) {
      await writeFile(
        join(pkg, `metadata.tar${suffix}.sig`),
        '-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n',
      );
      members.push(`${base}/metadata.tar${suffix}.sig`);
    }
    members.push(`${base}/image.tar${suffix}`);
    if (f.signatures) {
      await writeFile(
        join(pkg, `image.tar${suffix}.sig`),
        '-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n',
      );
      members.push(`${base}/image.tar${suffix}.sig`);
      await writeFile(join(markerDir, 'Manifest'), `${manifest.join('\n')}\n`);
      members.push(f.topLevelMarker ? 'Manifest' : `${base}/Manifest`);
    }
    await mkdir(dirname(out), { recursive: true });
    await execa('tar', ['--format=ustar', '-cf', out, '-C', stage, ...members]);
    return out;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * Writes an XPAK binpkg (.tbz2 or .xpak) at `out`: compressed `tar -C image .`
 * (or, with `order`, exactly those paths in that order), then the XPAK segment.
 */
export async function makeXpak(image: string, out: string, f: BinpkgFixture & { order?: string[] }): Promise<string> {
  await mkdir(dirname(out), { recursive: true });
  if (f.order) {
    const list = join(dirname(out), `.${Date.now()}-${Math.random()}.list`);
    await writeFile(list, f.order.join('\n') + '\n');
    try {
      await tarInto(out, image, ['--no-recursion', '-T', list], f.compression ?? 'bzip2');
    } finally {
      await rm(list, { force: true });
    }
  } else {
    await tarInto(out, image, ['--sort=name', '.'], f.compression ?? 'bzip2');
  }
  await appendFile(out, xpakTrailer(encodeXpak(metadataValues(f))));
  return out;
}

/**
 * Hand-made payloads for resource-cap tests: gigabytes of zeros in a few KB,
 * written without running a compressor over them.
 */
export type ZstdPart = { raw: Buffer } | { rle: number; size: number };

/**
 * One zstd frame of Raw and RLE blocks (RFC 8878): no content size, no checksum, window 2^windowLog
 * as the descriptor says (a decoder must be ready for that much, whatever the data).
 */
export function zstdFrame(parts: ZstdPart[], windowLog = 20): Buffer {
  const maxBlock = Math.min(2 ** windowLog, 128 << 10);
  const out: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (windowLog - 10) << 3])];
  const blocks: { type: 0 | 1; size: number; body: Buffer }[] = [];
  for (const p of parts) {
    if ('raw' in p) {
      for (let at = 0; at < p.raw.length; at += maxBlock) {
        const body = p.raw.subarray(at, at + maxBlock);
        blocks.push({ type: 0, size: body.length, body });
      }
    } else {
      for (let left = p.size; left > 0; left -= maxBlock)
        blocks.push({ type: 1, size: Math.min(left, maxBlock), body: Buffer.from([p.rle]) });
    }
  }
  if (blocks.length === 0) blocks.push({ type: 0, size: 0, body: Buffer.alloc(0) });
  blocks.forEach((b, i) => {
    const last = i === blocks.length - 1 ? 1 : 0;
    const h = last | (b.type << 1) | (b.size << 3);
    out.push(Buffer.from([h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff]), b.body);
  });
  return Buffer.concat(out);
}

/** A ustar header for a regular file of `size` bytes (its data is the caller's). */
export function fileHeader(name: string, size: number): Buffer {
  return encodeHeader({
    name,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime: 1_700_000_000,
    type: '0',
    linkname: '',
    uname: 'root',
    gname: 'root',
    devmajor: 0,
    devminor: 0,
  });
}

/** A tar as zstd parts: each file a header and `size` bytes of `fill` (RLE), then the end-of-archive marker. */
export function zeroTarParts(files: { name: string; size: number; fill?: number }[]): ZstdPart[] {
  const parts: ZstdPart[] = [];
  for (const f of files) {
    parts.push({ raw: fileHeader(f.name, f.size) });
    const padded = Math.ceil(f.size / 512) * 512;
    if (f.fill !== undefined && f.fill !== 0) {
      parts.push({ rle: f.fill, size: f.size });
      if (padded > f.size) parts.push({ rle: 0, size: padded - f.size });
    } else if (padded > 0) parts.push({ rle: 0, size: padded });
  }
  parts.push({ rle: 0, size: 1024 });
  return parts;
}

/** The metadata.tar (uncompressed) of a fixture: `metadata/KEY` files. */
export function metadataTar(f: BinpkgFixture): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(metadataValues(f))) {
    const data = Buffer.from(v);
    parts.push(fileHeader(`metadata/${k}`, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A GPKG from ready payloads (already compressed as `suffix` says), laid out as makeGpkg does. */
export async function gpkgFromPayloads(
  out: string,
  f: { basename: string; metadata: Buffer; image: Buffer; suffix: string },
): Promise<string> {
  const stage = await scratch();
  try {
    const pkg = join(stage, f.basename);
    await mkdir(pkg, { recursive: true });
    await writeFile(join(pkg, 'gpkg-1'), '');
    await writeFile(join(pkg, `metadata.tar${f.suffix}`), f.metadata);
    await writeFile(join(pkg, `image.tar${f.suffix}`), f.image);
    await mkdir(dirname(out), { recursive: true });
    const members = ['gpkg-1', `metadata.tar${f.suffix}`, `image.tar${f.suffix}`].map((m) => `${f.basename}/${m}`);
    await execa('tar', ['--format=ustar', '-cf', out, '-C', stage, ...members]);
    return out;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * `data` compressed by xz(1) (preset 0, CRC32), then its Block Header rewritten to declare an LZMA2
 * dictionary of `dictionary` bytes (coded as in the LZMA2 properties byte: 2 or 3 times a power of two).
 */
export async function xzDeclaringDictionary(data: Buffer, dictionary: number): Promise<Buffer> {
  const xz = Buffer.from(
    (await execa('xz', ['-c', '-T1', '--check=crc32', '--lzma2=preset=0'], { input: data, encoding: 'buffer' })).stdout,
  );
  let props = -1;
  for (let d = 0; d <= 40; d++) if ((2 | (d & 1)) * 2 ** (Math.floor(d / 2) + 11) === dictionary) props = d;
  if (props < 0) throw new Error(`${dictionary}: not an LZMA2 dictionary size`);
  const at = 12; // after the Stream Header
  const size = (xz[at]! + 1) * 4;
  const flags = xz[at + 1]!;
  let pos = at + 2;
  const skipVli = () => {
    while (xz[pos++]! & 0x80);
  };
  if (flags & 0x40) skipVli();
  if (flags & 0x80) skipVli();
  if ((flags & 0x03) !== 0 || xz[pos] !== 0x21 || xz[pos + 1] !== 0x01) throw new Error('unexpected xz Block Header');
  xz[pos + 2] = props;
  xz.writeUInt32LE(crc32(xz.subarray(at, at + size - 4)), at + size - 4);
  return xz;
}
