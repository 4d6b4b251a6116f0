/**
 * Fixture images (a Portage ${ED} after estrip) and scratch directories.
 *
 * Every directory made here is removed when the test file that imported
 * this module has finished (an afterAll registered at import, which vitest
 * attaches to the importing file; vitest re-evaluates modules per file).
 */
import { lstat, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll } from 'vitest';

export type ImageKind = 'hello' | 'odd';

export const MAKE_IMAGE = fileURLToPath(new URL('../../fixtures/make-image.sh', import.meta.url));
export const HELLO_IMAGE_TAR = fileURLToPath(new URL('../../fixtures/hello-image.tar', import.meta.url));

const created: string[] = [];
const cache = new Map<ImageKind, Promise<string>>();

afterAll(async () => {
  cache.clear();
  const dirs = created.splice(0);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A new empty directory under os.tmpdir(), removed after the test file. */
export async function tmpdir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), `packdebug-${prefix.replace(/-+$/, '')}-`));
  created.push(dir);
  return dir;
}

function cachedImage(kind: ImageKind): Promise<string> {
  let image = cache.get(kind);
  if (image === undefined) {
    image = (async () => {
      const dir = await tmpdir(`fixture-${kind}`);
      await execa('bash', [MAKE_IMAGE, dir, kind]);
      return join(dir, 'image');
    })();
    cache.set(kind, image);
    // A failed build is not cached: the next caller gets a retry and the error.
    image.catch(() => cache.delete(kind));
  }
  return image;
}

/**
 * A private copy of the fixture image of `kind`, free to mutate. Returns the
 * image directory (named `image`, the ${ED} of the fixture package).
 */
export async function makeImage(kind: ImageKind): Promise<string> {
  const source = await cachedImage(kind);
  const dest = await tmpdir(`image-${kind}`);
  // cp -a keeps hardlinks, symlinks, modes and mtimes.
  await execa('cp', ['-a', '--', source, dest]);
  return join(dest, 'image');
}

export interface TreeEntry {
  /** Path relative to the root, '' for the root itself. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
}

/** Every entry under `root` (not following symlinks), sorted by path. */
export async function walkTree(root: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  async function visit(abs: string): Promise<void> {
    const st = await lstat(abs);
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
    entries.push({ path: relative(root, abs), type });
    if (type === 'dir') {
      for (const name of await readdir(abs)) await visit(join(abs, name));
    }
  }
  await visit(root);
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function isElf(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const magic = Buffer.alloc(4);
    const { bytesRead } = await fh.read(magic, 0, 4, 0);
    return bytesRead === 4 && magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    await fh.close();
  }
}

/** The GNU build-id of an ELF file (lower-case hex), or undefined. */
export async function readBuildId(file: string): Promise<string | undefined> {
  // readelf complains on stderr about the missing interpreter of a
  // --only-keep-debug file but still prints the notes and exits 0.
  const { stdout } = await execa('readelf', ['-n', '--', file]);
  return /^\s*Build ID:\s*([0-9a-f]+)\s*$/m.exec(stdout)?.[1];
}

/**
 * Build-ids of the regular ELF files under usr/lib/debug of `image`, with
 * paths relative to the image, sorted by path. Hardlinked debug files appear
 * once per name; files that are not ELF (e.g. the odd image's big.debug) or
 * carry no build-id are left out.
 */
export async function buildIds(image: string): Promise<{ path: string; buildId: string }[]> {
  const root = join(image, 'usr/lib/debug');
  const files = (await walkTree(root)).filter((e) => e.type === 'file');
  const result: { path: string; buildId: string }[] = [];
  for (const { path } of files) {
    const abs = join(root, path);
    if (!(await isElf(abs))) continue;
    const buildId = await readBuildId(abs);
    if (buildId !== undefined) result.push({ path: relative(image, abs), buildId });
  }
  return result;
}
