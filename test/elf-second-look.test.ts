/**
 * ELF members whose GNU build-id note lies outside what a streaming scan
 * keeps (ElfCapture: the first 64 KiB and the 1 MiB before the section
 * header table): list, extract --build-id and verify's artifact list read
 * the note where the section headers say it is, by random access.
 */
import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatListing } from '../src/commands/list.js';
import { listTarball } from '../src/tarball/list.js';
import { packImage } from '../src/pack/pack.js';
import { collectArtifacts, type ExpectedArtifact } from '../src/tarball/build-ids.js';
import { findByBuildId } from '../src/tarball/extract.js';
import { TarballReader } from '../src/tarball/reader.js';
import { repackTarball } from '../src/tarball/repack.js';
import { elfWithNoteInTheMiddle } from './helpers/elf.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTools = requireTool('tar') && requireTool('xz');
const ID = { category: 'app-misc', pn: 'midnote', pf: 'midnote-1', buildNumber: '1' };
const BUILD_ID = '99'.repeat(20);
const MEMBER = './usr/lib/debug/usr/bin/midnote.debug';

/** An image with the ELF (note after 4 MiB, 3 MiB more after it), packed by pack and by Portage's tar -cJf. */
async function tarballs(withLink: boolean) {
  const root = await tmpdir('second-look');
  const image = path.join(root, 'image');
  const elf = elfWithNoteInTheMiddle(Buffer.from(BUILD_ID, 'hex'), 4 << 20, 3 << 20);
  await fs.mkdir(path.join(image, 'usr/lib/debug/usr/bin'), { recursive: true });
  await fs.writeFile(path.join(image, MEMBER), elf);
  if (withLink) {
    await fs.mkdir(path.join(image, 'usr/lib/debug/.build-id/99'), { recursive: true });
    await fs.symlink(
      '../../usr/bin/midnote.debug',
      path.join(image, `usr/lib/debug/.build-id/99/${BUILD_ID.slice(2)}.debug`),
    );
  }
  const packed = path.join(root, 'packed.tar.xz');
  await packImage({ image, ...ID, out: packed });
  const portage = path.join(root, 'portage.tar.xz');
  await execa('bash', ['-c', 'cd "$1" && tar -cJf "$2" ./usr/lib/debug', '_', image, portage]);
  return { root, elf, packed, portage };
}

async function extractById(tarball: string, want: Buffer, env: NodeJS.ProcessEnv = { PACKDEBUG_CACHE_DIR: '' }) {
  const reader = await TarballReader.open(tarball, env);
  try {
    const chunks: Buffer[] = [];
    const found = await findByBuildId(reader, BUILD_ID, 'debuginfo', {
      begin: () => void (chunks.length = 0),
      write: (c) => void chunks.push(Buffer.from(c)),
    });
    // The bytes compared here: toEqual on a 7 MiB Buffer takes minutes.
    return { via: found?.via, same: found ? Buffer.concat(chunks).equals(want) : undefined };
  } finally {
    await reader.close();
  }
}

describe.skipIf(!hasTools)('ELF members with the build-id note far from both ends', () => {
  it('list finds the build-id, in a packed and in a single-Block tarball', async () => {
    const { packed, portage } = await tarballs(false);
    for (const t of [packed, portage]) {
      const r = await listTarball(t);
      expect(
        r.entries.find((e) => e.path === MEMBER),
        t,
      ).toMatchObject({ buildId: BUILD_ID, debuginfod: 'debuginfo' });
      expect(r.buildIds, t).toBe(1);
      expect(formatListing(r)).toContain(`${MEMBER}  [debuginfo ${BUILD_ID}]`);
    }
  });

  const findsById =
    'extract --build-id finds it: through the estrip link, by a scan, ' +
    'and through the (cached) member index of a repacked tarball';
  it(findsById, async () => {
    const withLink = await tarballs(true);
    const withoutLink = await tarballs(false);
    const want = withLink.elf;
    expect(await extractById(withLink.packed, want)).toEqual({ via: 'index', same: true });
    expect(await extractById(withoutLink.packed, want)).toEqual({ via: 'scan', same: true });
    expect(await extractById(withoutLink.portage, want)).toEqual({ via: 'scan', same: true });
    // Not in packdebug's order (directories after their contents), so a repacked one is read through a member index.
    const unsorted = path.join(withoutLink.root, 'unsorted.tar.xz');
    await execa('bash', [
      '-c',
      'cd "$1" && tar -cJf "$2" --no-recursion ./usr/lib/debug/usr/bin/midnote.debug ' +
        './usr/lib/debug/usr/bin ./usr/lib/debug/usr ./usr/lib/debug',
      '_',
      path.join(withoutLink.root, 'image'),
      unsorted,
    ]);
    expect((await repackTarball(unsorted, { blockSize: 1 << 20 })).status).toBe('repacked');
    const env = { PACKDEBUG_CACHE_DIR: await tmpdir('second-look-cache') };
    expect(await extractById(unsorted, want, env)).toEqual({ via: 'cache', same: true });
    expect(await fs.readdir(env.PACKDEBUG_CACHE_DIR)).toEqual([expect.stringMatching(/^index-v2-/)]);
    expect(await extractById(unsorted, want, env)).toEqual({ via: 'cache', same: true }); // from the cached index
  });

  it("verify's expected artifacts include it, with the member's SHA-256", async () => {
    const { elf, packed } = await tarballs(false);
    const into = new Map<string, ExpectedArtifact>();
    await collectArtifacts(packed, into);
    const { createHash } = await import('node:crypto');
    expect([...into.values()]).toEqual([
      {
        buildId: BUILD_ID,
        kind: 'debuginfo',
        sources: [
          { tarball: packed, member: MEMBER, size: elf.length, sha256: createHash('sha256').update(elf).digest('hex') },
        ],
      },
    ]);
  });

  it('says "build-id unknown", not "not servable", when the second look would decode too much', async () => {
    const { packed, portage } = await tarballs(false);
    for (const t of [packed, portage]) {
      const r = await listTarball(t, { maxDecodePerFetch: 1 << 20 });
      const m = r.entries.find((e) => e.path === MEMBER)!;
      expect(m.debuginfod, t).toBe('unknown');
      expect(m.buildId).toBeUndefined();
      expect(formatListing(r)).toContain(`${MEMBER}  [build-id unknown (ELF too large to inspect)]`);
      expect(formatListing(r)).not.toContain('not servable');
    }
  });
});
