/**
 * Binary packages for tests, made from an image directory with the real
 * tools (GNU tar and the compressors), laid out as Portage writes them.
 */
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { encodeXpak, xpakTrailer } from '../../src/binpkg/xpak.js';

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
  buildId?: string;
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
  if (f.buildId !== undefined) values['BUILD_ID'] = `${f.buildId}\n`;
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
  const base = f.basename ?? (f.buildId === undefined ? f.pf : `${f.pf}-${f.buildId}`);
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
