/**
 * The debug subtree of a binpkg's image (`${EPREFIX}/usr/src/debug` and
 * `${EPREFIX}/usr/lib/debug`) as the ImageEntry records `pack` would list
 * from the unpacked image: same order (sources first, depth first, names in
 * byte order), same hardlink choice (the first name in that order holds the
 * data), same refusals. Read from the image stream in one pass; the data of
 * debug files goes to a spill file (or, when only digests are wanted, is
 * hashed and dropped), every other member is skipped without buffering.
 */
import { createHash } from 'node:crypto';
import { PackdebugError } from '../errors.js';
import type { ImageEntry } from '../image/walk.js';
import { DEBUG_ROOTS, TARBALL_DIR } from '../portage/naming.js';
import { type Binpkg, type ImageTarEntry, imageRelPath, readImage } from './binpkg.js';
import { SPILL_FLOOR, spillAllowance } from './limits.js';
import type { SpillFile, SpilledFile } from './spill.js';
import { formatSize } from '../util/size.js';
import { isRegular, memberKind, specialName, TarType } from '../tar/types.js';

export interface DebugEntries {
  /** In pack's canonical order, paths relative to ${ED}. */
  entries: ImageEntry[];
  /** SHA-256 and spill location of each file entry's data, by relPath. */
  files: Map<string, SpilledFile>;
  /** Bytes of debug file data. */
  dataBytes: number;
  /** Directories the image lacked entries for (parents of debug members), created with mode 0755. */
  synthesizedDirs: number;
}

export interface CollectOptions {
  /** Where file data goes; without it data is only hashed (enough to compare with an existing tarball). */
  spill?: SpillFile;
  sourceDateEpoch?: number;
  signal?: AbortSignal;
  /** Cap on the bytes of debug file data (spilled or hashed); default spillAllowance of the binpkg's limits. */
  maxDataBytes?: number;
}

interface Node {
  relPath: string;
  type: 'directory' | 'file' | 'symlink' | 'hardlink';
  mode: number;
  mtime: number;
  linkTarget: string;
  /** For files: where the data is. */
  data?: SpilledFile;
}

export async function collectDebugEntries(pkg: Binpkg, opts: CollectOptions = {}): Promise<DebugEntries> {
  const file = pkg.file;
  const ep = pkg.metadata.eprefix.replace(/^\/+/, '');
  const under = (rel: string) => (ep === '' ? rel : `${ep}/${rel}`);
  const roots = DEBUG_ROOTS.map(under);
  const tarballDir = under(TARBALL_DIR);
  const inRoots = (rel: string) =>
    roots.some((r) => rel === r || rel.startsWith(`${r}/`)) && rel !== tarballDir && !rel.startsWith(`${tarballDir}/`);
  // Components above the roots: a symlink there would lead the unpacked image elsewhere (walk refuses it too).
  const rootParents = new Set<string>();
  for (const r of roots) {
    const parts = r.split('/');
    for (let i = 1; i < parts.length; i++) rootParents.add(parts.slice(0, i).join('/'));
  }

  const nodes = new Map<string, Node>();
  /** Hardlink targets outside the roots whose data a second pass must fetch. */
  const outsideTargets = new Set<string>();
  const outsideData = new Map<string, Node>();
  let current: { node: Node; hash?: ReturnType<typeof createHash>; size: number } | undefined;
  const bad = (code: 'E_UNSAFE' | 'E_FORMAT', why: string) => new PackdebugError(code, `${file}: ${why}`, { file });
  const linkRel = (e: ImageTarEntry) => imageRelPath(e.linkpath, pkg.image.prefixes, file);

  const onEntry = async (e: ImageTarEntry) => {
    current = undefined;
    const rel = e.relPath;
    if ((rootParents.has(rel) || roots.includes(rel)) && e.type === TarType.symlink) {
      throw bad('E_UNSAFE', `image member '${rel}' is a symlink; packdebug does not follow symlinks out of the image`);
    }
    if (!inRoots(rel)) return;
    const base = { relPath: rel, mode: e.mode & 0o7777, mtime: e.mtime, linkTarget: '' };
    let node: Node;
    switch (memberKind(e.type)) {
      case 'directory':
        node = { ...base, type: 'directory' };
        break;
      case 'file':
        node = { ...base, type: 'file' };
        current = { node, size: 0 };
        if (opts.spill) opts.spill.begin();
        else current.hash = createHash('sha256');
        break;
      case 'symlink':
        node = { ...base, type: 'symlink', linkTarget: e.linkpath };
        break;
      case 'hardlink': {
        const target = linkRel(e);
        node = { ...base, type: 'hardlink', linkTarget: target };
        if (!inRoots(target)) outsideTargets.add(target);
        break;
      }
      default:
        throw bad(
          'E_UNSAFE',
          `image member '${rel}' is ${describeOther(e.type)}; ` +
            'debug tarballs hold only directories, regular files and symlinks',
        );
    }
    nodes.set(rel, node); // a later member of the same name replaces the earlier one, as tar -x does
  };
  // A 150 KB binpkg can hold 4 GiB of zeros: stop at the cap, before the disk (or the time) runs out.
  const maxDataBytes = opts.maxDataBytes ?? spillAllowance(pkg.size, pkg.limits);
  let dataBytes = 0;
  const onData = async (_e: ImageTarEntry, chunk: Buffer) => {
    if (!current) return;
    dataBytes += chunk.length;
    if (dataBytes > maxDataBytes) throw spillError(pkg, maxDataBytes);
    current.size += chunk.length;
    if (current.hash) current.hash.update(chunk);
    else await opts.spill!.append(chunk);
  };
  const onEnd = async () => {
    if (!current) return;
    current.node.data = current.hash
      ? { offset: 0, size: current.size, sha256: current.hash.digest('hex') }
      : opts.spill!.end();
    current = undefined;
  };
  await readImage(pkg, { entry: onEntry, data: onData, entryEnd: onEnd }, { signal: opts.signal });

  // Rare: a debug file hardlinked to a name outside the debug dirs, which came first in the archive.
  if (outsideTargets.size > 0) {
    await readImage(
      pkg,
      {
        entry: (e) => {
          current = undefined;
          if (!outsideTargets.has(e.relPath) || !isRegular(e.type)) return;
          const node: Node = {
            relPath: e.relPath,
            type: 'file',
            mode: e.mode & 0o7777,
            mtime: e.mtime,
            linkTarget: '',
          };
          outsideData.set(e.relPath, node);
          current = { node, size: 0 };
          if (opts.spill) opts.spill.begin();
          else current.hash = createHash('sha256');
        },
        data: onData,
        entryEnd: onEnd,
      },
      { signal: opts.signal },
    );
  }
  if (opts.spill) await opts.spill.sealed();
  return canonicalEntries(nodes, outsideData, roots, ep, opts.sourceDateEpoch, buildTime(pkg), file);
}

function spillError(pkg: Binpkg, limit: number): PackdebugError {
  const { spillRatio, spillBytes } = pkg.limits;
  return new PackdebugError(
    'E_UNSUPPORTED',
    `${pkg.file}: the debug files in its image hold more than ${formatSize(limit)} of data (the cap for a binpkg ` +
      `of ${formatSize(pkg.size)}: ${spillRatio} times its size, at least ${formatSize(SPILL_FLOOR)}, at most ` +
      `${formatSize(spillBytes)}; raise it with --max-spill-ratio, --max-spill or PACKDEBUG_MAX_SPILL_RATIO, ` +
      'PACKDEBUG_MAX_SPILL)',
    { file: pkg.file },
  );
}

/** A time for directories the archive does not list: the package's BUILD_TIME, else the binpkg's mtime. */
function buildTime(pkg: Binpkg): number {
  const t = pkg.metadata.values.get('BUILD_TIME');
  return t !== undefined && /^[0-9]+$/.test(t) ? Number(t) : Math.floor(pkg.mtimeMs / 1000);
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

function canonicalEntries(
  nodes: Map<string, Node>,
  outside: Map<string, Node>,
  roots: readonly string[],
  ep: string,
  sourceDateEpoch: number | undefined,
  dirTime: number,
  file: string,
): DebugEntries {
  let synthesizedDirs = 0;
  // Parents of every member up to its root, as tar -x would create them.
  for (const rel of [...nodes.keys()]) {
    const root = roots.find((r) => rel === r || rel.startsWith(`${r}/`))!;
    for (let p = parentOf(rel); p !== undefined && p.length >= root.length; p = parentOf(p)) {
      const n = nodes.get(p);
      if (n === undefined) {
        nodes.set(p, { relPath: p, type: 'directory', mode: 0o755, mtime: dirTime, linkTarget: '' });
        synthesizedDirs++;
      } else if (n.type !== 'directory') {
        throw new PackdebugError(
          'E_FORMAT',
          `${file}: image member '${p}' is not a directory but '${rel}' is below it`,
          { file },
        );
      }
    }
  }
  const children = new Map<string, string[]>();
  for (const rel of nodes.keys()) {
    if (roots.includes(rel)) continue;
    const p = parentOf(rel)!;
    let list = children.get(p);
    if (!list) children.set(p, (list = []));
    list.push(rel);
  }
  for (const list of children.values()) list.sort(byBytes);

  // Hardlink groups: all names of one file, keyed by the name that holds the data in the archive.
  const groupOf = (rel: string, seen = 0): string => {
    const n = nodes.get(rel);
    if (n?.type === 'hardlink' && seen < 64) return groupOf(n.linkTarget, seen + 1);
    return rel;
  };
  const firstName = new Map<string, string>();
  const clamp = (t: number) => (sourceDateEpoch !== undefined && t > sourceDateEpoch ? sourceDateEpoch : t);
  const entries: ImageEntry[] = [];
  const files = new Map<string, SpilledFile>();
  let dataBytes = 0;
  let ino = 0;
  const inodes = new Map<string, number>();
  const strip = (rel: string) => (ep === '' ? rel : rel.slice(ep.length + 1));

  const visit = (rel: string) => {
    const n = nodes.get(rel)!;
    const relPath = strip(rel);
    if (n.type === 'directory') {
      entries.push({
        member: `./${relPath}/`,
        relPath,
        kind: 'directory',
        mode: n.mode,
        size: 0,
        mtime: clamp(n.mtime),
        mtimeMs: n.mtime * 1000,
        linkTarget: '',
        dev: 0,
        ino: ++ino,
      });
      for (const c of children.get(rel) ?? []) visit(c);
      return;
    }
    if (n.type === 'symlink') {
      entries.push({
        member: `./${relPath}`,
        relPath,
        kind: 'symlink',
        mode: n.mode,
        size: 0,
        mtime: clamp(n.mtime),
        mtimeMs: n.mtime * 1000,
        linkTarget: n.linkTarget,
        dev: 0,
        ino: ++ino,
      });
      return;
    }
    const key = groupOf(rel);
    const holder = nodes.get(key) ?? outside.get(key);
    if (holder?.type === 'symlink') {
      // A hardlink to a symlink (GNU tar stores those) is, once unpacked, one more symlink.
      entries.push({
        member: `./${relPath}`,
        relPath,
        kind: 'symlink',
        mode: holder.mode,
        size: 0,
        mtime: clamp(holder.mtime),
        mtimeMs: holder.mtime * 1000,
        linkTarget: holder.linkTarget,
        dev: 0,
        ino: ++ino,
      });
      return;
    }
    if (holder === undefined || holder.type !== 'file' || holder.data === undefined) {
      throw new PackdebugError(
        'E_FORMAT',
        `${file}: image member '${rel}' is a hardlink to '${n.linkTarget}', which the archive does not hold before it`,
        { file },
      );
    }
    // All names of a file share its inode: mode and mtime are the file's, as on disk.
    const inode = inodes.get(key) ?? ++ino;
    inodes.set(key, inode);
    const first = firstName.get(key);
    const base = {
      relPath,
      mode: holder.mode,
      mtime: clamp(holder.mtime),
      mtimeMs: holder.mtime * 1000,
      dev: 0,
      ino: inode,
    };
    if (first === undefined) {
      firstName.set(key, `./${relPath}`);
      entries.push({ ...base, member: `./${relPath}`, kind: 'file', size: holder.data.size, linkTarget: '' });
      files.set(relPath, holder.data);
      dataBytes += holder.data.size;
    } else {
      entries.push({ ...base, member: `./${relPath}`, kind: 'hardlink', size: 0, linkTarget: first });
    }
  };
  for (const r of roots) if (nodes.has(r)) visit(r);
  return { entries, files, dataBytes, synthesizedDirs };
}

function parentOf(rel: string): string | undefined {
  const i = rel.lastIndexOf('/');
  return i === -1 ? undefined : rel.slice(0, i);
}

/** A member type debug tarballs do not hold, worded as `pack` words the same file in an unpacked image. */
function describeOther(type: string): string {
  const special = specialName(type);
  if (special === undefined) return `of tar type '${type}'`;
  return special === 'fifo' ? 'a FIFO' : `a ${special}`;
}
