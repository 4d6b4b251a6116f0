/**
 * Tarball trees for the audit and prune tests: tarballs packed by packdebug,
 * written by Portage's command (`tar -cJf`) or by xz -T, and hand-made tar
 * streams for hostile members.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { packImage } from '../../src/pack/pack.js';
import { encodeHeader, paddedSize, type HeaderFields } from '../../src/tar/header.js';
import { encodePaxRecords } from '../../src/tar/pax.js';
import { decodeIndex, encodeIndex, type IndexRecord } from '../../src/xz/index.js';
import { decodeStreamFooter, encodeStreamFooter, STREAM_FOOTER_SIZE } from '../../src/xz/stream-flags.js';

export interface Id {
  category: string;
  pn: string;
  pf: string;
  buildNumber: string;
}

export function tarballPath(tree: string, id: Id): string {
  return join(tree, id.category, id.pn, `${id.pf}-${id.buildNumber}-debug.tar.xz`);
}

/** packdebug pack of `image` into the tree. */
export async function packInto(tree: string, image: string, id: Id, blockSize?: number): Promise<string> {
  const out = tarballPath(tree, id);
  await packImage({ image, ...id, out, ...(blockSize ? { blockSize } : {}) });
  return out;
}

/** Portage's own command: one xz Block. */
export async function portageTarball(image: string, out: string): Promise<string> {
  await mkdir(dirname(out), { recursive: true });
  await execa('bash', ['-c', 'cd "$1" && tar -cJf "$2" ./usr/src/debug ./usr/lib/debug', '_', image, out]);
  return out;
}

/** xz -T output: several Blocks of a fixed size, cut anywhere. */
export async function xzThreadedTarball(image: string, out: string, blockSize = '16KiB'): Promise<string> {
  await mkdir(dirname(out), { recursive: true });
  await execa('bash', [
    '-c',
    'set -o pipefail; cd "$1" && tar -cf - ./usr/src/debug ./usr/lib/debug | xz -T2 --block-size="$3" > "$2"',
    '_',
    image,
    out,
    blockSize,
  ]);
  return out;
}

export interface RawMember {
  name: string;
  type?: string;
  mode?: number;
  data?: Buffer;
  linkname?: string;
}

/** A tar stream written header by header (names and types no real tool would write). */
export function rawTar(members: RawMember[], { end = true } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = m.data ?? Buffer.alloc(0);
    const h: HeaderFields = {
      name: m.name,
      mode: m.mode ?? 0o644,
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: 1_700_000_000,
      type: m.type ?? '0',
      linkname: m.linkname ?? '',
      uname: 'root',
      gname: 'root',
      devmajor: 0,
      devminor: 0,
    };
    parts.push(encodeHeader(h), data, Buffer.alloc(paddedSize(data.length) - data.length));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Compresses with xz(1) into `out` (one Block). */
export async function xzInto(data: Buffer, out: string, args: string[] = []): Promise<string> {
  await mkdir(dirname(out), { recursive: true });
  await execa('bash', ['-c', 'xz -c "${@:2}" > "$1"', '_', out, ...args], { input: data });
  return out;
}

/** Path, type, size, mtime and SHA-256 of everything under `root` (to show that nothing was written). */
export async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (abs: string, rel: string) => {
    const st = await lstat(abs);
    const hash = st.isFile()
      ? createHash('sha256')
          .update(await readFile(abs))
          .digest('hex')
      : '';
    out.push(`${rel} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${hash}`);
    if (st.isDirectory()) for (const n of (await readdir(abs)).sort()) await visit(join(abs, n), `${rel}/${n}`);
  };
  await visit(root, '.');
  return out;
}

/**
 * An .xz file (one Stream, no Stream Padding) with its Index records edited
 * by `edit` and the Index and Stream Footer rewritten to match: an Index that
 * lies about the Blocks, which only reading the Blocks can tell.
 */
export function withEditedIndex(xz: Buffer, edit: (records: IndexRecord[]) => void): Buffer {
  const footer = decodeStreamFooter(xz.subarray(xz.length - STREAM_FOOTER_SIZE));
  if ('error' in footer) throw new Error(footer.error);
  const indexStart = xz.length - STREAM_FOOTER_SIZE - footer.indexSize;
  const index = decodeIndex(xz.subarray(indexStart, xz.length - STREAM_FOOTER_SIZE));
  if ('error' in index) throw new Error(index.error);
  edit(index.records);
  const rewritten = encodeIndex(index.records);
  return Buffer.concat([xz.subarray(0, indexStart), rewritten, encodeStreamFooter(footer.checkId, rewritten.length)]);
}

/**
 * Issue 12 item 4: an empty member whose pax size is `0x400`, then a header
 * named `../../../../tmp/x`. GNU tar and libarchive reject the size and
 * extract the `../` member; reading `0x400` as 1024 would hide it as data.
 */
export function paxHexSizeTar(): Buffer {
  return rawTar([
    { name: './usr/lib/debug/PaxHeaders/empty', type: 'x', data: encodePaxRecords({ size: '0x400' }) },
    { name: './usr/lib/debug/empty' },
    { name: '../../../../tmp/x', data: Buffer.from('evil\n') },
    { name: './usr/lib/debug/padding', data: Buffer.alloc(1024) },
  ]);
}

/** Issue 12 item 10: one global pax header of `records` records (15 bytes each), then `members` empty members. */
export function globalPaxTar(records: number, members: number): Buffer {
  const pax = Buffer.concat(Array.from({ length: records }, (_, i) => encodePaxRecords({ [`k${i}`]: 'v' })));
  return rawTar([
    { name: './GlobalHead', type: 'g', data: pax },
    ...Array.from({ length: members }, (_, i) => ({ name: `./usr/lib/debug/e${String(i).padStart(5, '0')}` })),
  ]);
}
