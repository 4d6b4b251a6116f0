/**
 * Memory of reads through Blocks whose filters lzma-native's liblzma lacks
 * (issue 12, item 2): such Blocks go to xz(1), and must be streamed (and
 * abandoned once the wanted bytes are out), never decoded whole in memory.
 *
 * The tarball is GNU tar output cut into three xz Streams at member headers:
 * the middle one (a 512 MiB member of zeros) compressed with the ARM64 BCJ
 * filter (XZ Utils 5.4; 5.4 has no per-Block filter chains, hence Streams),
 * the others with LZMA2 alone. About 80 KB on disk.
 */
import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findXz } from '../src/xz/block-encoder.js';
import { XzRandomAccess } from '../src/xz/random-access.js';
import { elfWithNoteInTheMiddle } from './helpers/elf.js';
import { tmpdir } from './helpers/images.js';
import { cliPeakRss } from './helpers/peak-rss.js';
import { requireTool } from './helpers/tools.js';
import { tarballPath } from './helpers/trees.js';

const hasTools = requireTool('tar') && requireTool('xz') && requireTool('dd');
const BIG = 512 << 20;
/** Peak RSS allowed: node and the CLI take about 60-100 MB; decoding the big Block whole took over 1 GB. */
const PEAK_RSS_MAX = 300e6;
const BUILD_ID = 'ab'.repeat(20);
const ID = { category: 'dev-libs', pn: 'hostile', pf: 'hostile-1', buildNumber: '1' };

let dir: string;
let tree: string;
let tarball: string;
let elf: Buffer;
let arm64 = false;

/** Byte offsets of members in a tar stream, from GNU tar's own `--block-number` listing. */
async function memberOffsets(image: string, members: string[]): Promise<Map<string, number>> {
  const { stdout } = await execa('tar', ['-cvf', '/dev/null', '--block-number', ...members], { cwd: image });
  const out = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const m = /^block (\d+): (.*)$/.exec(line);
    if (m) out.set(m[2]!.replace(/\/$/, ''), Number(m[1]) * 512);
  }
  return out;
}

beforeAll(async () => {
  if (!hasTools) return;
  const version = await findXz();
  arm64 = version !== undefined && Number(version.split('.')[0]) * 100 + Number(version.split('.')[1]) >= 504;
  // Debian bookworm's xz is 5.4: in CI an xz without --arm64 is a broken image, not a reason to skip.
  if (!arm64 && process.env.CI === 'true') throw new Error(`xz ${version ?? '(none)'} lacks --arm64 (needs 5.4)`);
  if (!arm64) return;
  dir = await tmpdir('foreign-filter');
  const image = path.join(dir, 'image');
  const debug = path.join(image, 'usr/lib/debug');
  await fs.mkdir(path.join(debug, 'usr/bin'), { recursive: true });
  await fs.mkdir(path.join(debug, 'usr/lib'), { recursive: true });
  await fs.writeFile(path.join(debug, 'usr/bin/a.debug'), 'hello');
  await fs.writeFile(path.join(debug, 'usr/lib/big.debug'), '');
  await fs.truncate(path.join(debug, 'usr/lib/big.debug'), BIG);
  elf = elfWithNoteInTheMiddle(Buffer.from(BUILD_ID, 'hex'), 300, 300);
  await fs.writeFile(path.join(debug, 'usr/lib/zz.debug'), elf);
  const members = [
    './usr/lib/debug/usr/bin/a.debug',
    './usr/lib/debug/usr/lib/big.debug',
    './usr/lib/debug/usr/lib/zz.debug',
  ];
  const at = await memberOffsets(image, members);
  const bigAt = at.get(members[1]!)!;
  const afterBig = at.get(members[2]!)!;
  expect(afterBig - bigAt).toBe(512 + BIG);
  tree = path.join(dir, 'tree');
  tarball = tarballPath(tree, ID);
  await fs.mkdir(path.dirname(tarball), { recursive: true });
  // dd reads exactly COUNT bytes from the pipe (head(1) may read ahead).
  const script = `set -o pipefail
    cut() { dd bs=64K iflag=fullblock,count_bytes count="$1" status=none; }
    tar --owner=0 --group=0 --mtime=@1700000000 -cf - "\${@:4}" | {
      cut "$2" | xz -0 && cut "$3" | xz --arm64 --lzma2=preset=0 && xz -0
    } > "$1"`;
  await execa('bash', ['-c', script, '_', tarball, String(bigAt), String(afterBig - bigAt), ...members], {
    cwd: image,
  });
}, 300_000);

describe.skipIf(!hasTools)('Blocks with filters lzma-native lacks (ARM64): bounded memory', () => {
  it('the tarball has an ARM64 Block of 512 MiB between LZMA2 Blocks, and decodes to the original', async (ctx) => {
    if (!arm64) ctx.skip();
    const { stdout } = await execa('xz', ['--robot', '--list', '-vv', tarball]);
    const blocks = stdout.split('\n').filter((l) => l.startsWith('block\t'));
    expect(blocks.map((l) => l.split('\t').at(-1))).toEqual([
      '--lzma2=dict=256KiB',
      '--arm64 --lzma2=dict=256KiB',
      '--lzma2=dict=256KiB',
    ]);
    expect((await fs.stat(tarball)).size).toBeLessThan(1 << 20);
  });

  it('XzRandomAccess streams the ARM64 Block: a short read decodes a little of it, caches none of it', async (ctx) => {
    if (!arm64) ctx.skip();
    const ra = await XzRandomAccess.open(tarball);
    try {
      const big = ra.blocks.findIndex((b) => b.uncompressedSize > BIG);
      const b = ra.blocks[big]!;
      // The member's header and the first bytes of its data.
      const head = await ra.read(b.uncompressedOffset, 1024);
      expect(head.subarray(0, 100).toString('latin1')).toContain('usr/lib/debug/usr/lib/big.debug');
      expect(head.subarray(512).every((x) => x === 0)).toBe(true);
      // Bytes deep inside and at the very end of the Block.
      const deep = await ra.read(b.uncompressedOffset + (8 << 20), 4096);
      expect(deep.every((x) => x === 0)).toBe(true);
      const tail = await ra.read(b.uncompressedOffset + b.uncompressedSize - 16, 16 + 600);
      expect(tail.subarray(16, 116).toString('latin1')).toContain('usr/lib/debug/usr/lib/zz.debug');
      expect(ra.cachedBytes).toBeLessThan(64 << 20);
      expect(ra.xzDecodes).toBeGreaterThanOrEqual(3);
      // A prefix stops early: far less than the Block is decoded.
      const before = ra.bytesDecoded;
      const prefix = await ra.readBlockPrefix(big, 512);
      expect(prefix.subarray(0, 100).toString('latin1')).toContain('big.debug');
      expect(ra.bytesDecoded - before).toBeLessThan(64 << 20);
      // A whole-Block stream still verifies the Check and the sizes.
      let total = 0;
      await ra.streamBlock(big, (chunk) => {
        total += chunk.length;
      });
      expect(total).toBe(b.uncompressedSize);
    } finally {
      await ra.close();
    }
  });

  it('streamBlock waits for a consumer that returns a promise (xz(1) and lzma-native alike)', async (ctx) => {
    if (!arm64) ctx.skip();
    // Calls never overlap: the next chunk comes only once the previous promise has settled.
    const slowReader = (limit: number) => {
      const chunks: Buffer[] = [];
      let busy = false;
      let kept = 0;
      const consume = async (chunk: Buffer) => {
        expect(busy).toBe(false);
        busy = true;
        await new Promise((resolve) => setTimeout(resolve, 1));
        chunks.push(Buffer.from(chunk));
        kept += chunk.length;
        busy = false;
        return kept < limit;
      };
      return { chunks, consume };
    };
    const ra = await XzRandomAccess.open(tarball);
    try {
      const big = ra.blocks.findIndex((b) => b.uncompressedSize > BIG);
      const reader = slowReader(1 << 20);
      await ra.streamBlock(big, reader.consume, 1 << 20);
      const got = Buffer.concat(reader.chunks);
      expect(got.length).toBeGreaterThanOrEqual(1 << 20);
      expect(got.equals(await ra.read(ra.blocks[big]!.uncompressedOffset, got.length))).toBe(true);
    } finally {
      await ra.close();
    }
    const data = Buffer.alloc(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 27;
    const file = path.join(dir, 'lzma2.xz');
    await execa('xz', ['-0', '--stdout'], { input: data, encoding: 'buffer' }).then((r) =>
      fs.writeFile(file, r.stdout),
    );
    for (const backend of ['lzma-native', 'xz'] as const) {
      const one = await XzRandomAccess.open(file, { backend, cacheBytes: 0 });
      try {
        const reader = slowReader(Infinity);
        await one.streamBlock(0, reader.consume);
        expect(Buffer.concat(reader.chunks).equals(data), backend).toBe(true);
        expect(reader.chunks.length, backend).toBeGreaterThan(1);
      } finally {
        await one.close();
      }
    }
  });

  const cases: [string, () => string[], (stdout: string) => void][] = [
    ['list', () => ['list', tarball], (out) => expect(out).toMatch(/big\.debug[\s\S]*zz\.debug/)],
    [
      'extract --path of a 5-byte member after the ARM64 Block',
      () => ['extract', tarball, '--path', 'usr/lib/debug/usr/bin/a.debug'],
      (out) => expect(out).toBe('hello'),
    ],
    [
      'extract TREE --build-id',
      () => ['extract', tree, '--build-id', BUILD_ID, '-o', path.join(dir, 'by-build-id')],
      () => undefined,
    ],
    ['a shallow audit of the tree', () => ['audit', tree, '--json'], (out) => expect(out).toContain('"tarballs"')],
    ['repack -n', () => ['repack', '-n', tarball], () => undefined],
  ];
  for (const [what, args, check] of cases) {
    it(`${what}: peak RSS under ${PEAK_RSS_MAX / 1e6} MB`, async (ctx) => {
      if (!arm64) ctx.skip();
      const started = Date.now();
      const { result, peakRss } = await cliPeakRss(args(), { timeout: 90_000 });
      const seconds = (Date.now() - started) / 1000;
      console.log(`${what}: peak RSS ${(peakRss / 1e6).toFixed(0)} MB, ${seconds.toFixed(1)} s`);
      expect(result.stderr).not.toMatch(/internal error/);
      expect(result.exitCode, result.stderr).toBe(0);
      check(String(result.stdout));
      expect(peakRss).toBeLessThan(PEAK_RSS_MAX);
    });
  }

  it('extract TREE --build-id wrote the ELF member', async (ctx) => {
    if (!arm64) ctx.skip();
    expect(await fs.readFile(path.join(dir, 'by-build-id'))).toEqual(elf);
  });
});
