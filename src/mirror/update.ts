/**
 * Writes and updates a tree's build-id index (docs/index-format.md).
 *
 * Incremental: the writer's state file remembers each tarball's local stamp
 * (device, inode, size, mtime); a run reads only tarballs that are new or
 * changed, drops removed ones, and rewrites only the shards their build-ids
 * fall in. Publishing order, so that readers and mirrors syncing mid-run
 * never see an entry whose objects are not there: tarball objects first
 * (new, immutable names), then each shard (renamed over the old one), then
 * the manifest. Objects no shard names any more are deleted one run later,
 * so a reader holding the previous shard still finds them.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import { walkTarballTree } from '../tarball/tree.js';
import { AtomicFile } from '../util/atomic.js';
import { sameStamp, type FileStamp } from '../util/file-stamp.js';
import { limiter } from '../util/limit.js';
import { describeTarball, tarballKey } from './describe.js';
import {
  decodeManifest,
  decodeShard,
  decodeTarballObject,
  encodeShard,
  encodeTarballObject,
  FORMAT_VERSION,
  INDEX_DIR,
  IndexFormatError,
  type Manifest,
  MANIFEST_FILE,
  type Shard,
  type ShardEntry,
  SHARD_SPLIT_BYTES,
  shardPath,
  STATE_FILE,
  type TarballObject,
  tarballObjectPath,
} from './format.js';

export interface IndexLog {
  warn(message: string): void;
  /** Tarballs read so far, of how many (for a progress line). */
  progress?(done: number, total: number): void;
}

export interface IndexOptions {
  tree: string;
  /** Where the index goes; default TREE/.packdebug-index (a server keeps one for a read-only tree in its cache). */
  indexDir?: string;
  /** Only these CATEGORY/PN directories are looked at (a hook after one merge); the rest keep their records. */
  only?: string[];
  /** Forget the state: read every tarball and write every shard. */
  rebuild?: boolean;
  /** Fragment files to merge (tarball objects written elsewhere): trusted when the tarball is here with that size. */
  merge?: string[];
  /** Also write the objects of every tarball read or merged in this run to this fragment file. */
  fragment?: string;
  /** Write only the fragment, not the tree's index (a CI job over its own part). */
  fragmentOnly?: boolean;
  env: NodeJS.ProcessEnv;
  log: IndexLog;
  /** How long to wait for another writer's lock, in ms. Default 10 minutes. */
  lockWaitMs?: number;
}

export interface IndexReport {
  tree: string;
  index: string;
  generation: string;
  tarballs: number;
  buildIds: number;
  entries: number;
  /** Tarballs read in this run, kept from the last run, merged from fragments, dropped. */
  read: number;
  unchanged: number;
  merged: number;
  removed: number;
  shardsWritten: number;
  /** Tarballs that could not be read (skipped, not indexed). */
  damaged: { path: string; error: string }[];
}

interface StateRecord extends FileStamp {
  key?: string;
  buildIds?: string[];
  entries?: number;
  damaged?: string;
}

interface State {
  format: 'packdebug-index-state';
  version: number;
  generation: string;
  tarballs: Record<string, StateRecord>;
  /** Object keys no shard names since `generation`; deleted by the next run. */
  retired: { key: string; generation: string }[];
}

const FRAGMENT_FORMAT = 'packdebug-index-fragment';
const TOP_PREFIXES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const MAX_SPLIT_DEPTH = 8;

export async function updateIndex(options: IndexOptions): Promise<IndexReport> {
  const tree = options.tree;
  const st = await fs.stat(tree).catch(() => undefined);
  if (!st?.isDirectory()) throw new PackdebugError('E_INPUT', `${tree}: not a directory`, { file: tree });
  const dir = options.indexDir ?? path.join(tree, INDEX_DIR);
  // Fragments are read before anything is created: a bad one leaves the tree as it was.
  const fragments = options.merge?.length ? await readFragments(options.merge) : [];
  if (options.indexDir) await fs.mkdir(path.dirname(dir), { recursive: true });
  if (!options.fragmentOnly) await ensureIndexDir(dir);
  const release = options.fragmentOnly ? async () => undefined : await takeLock(dir, options.lockWaitMs ?? 600_000);
  try {
    return await update(options, dir, fragments);
  } finally {
    await release();
  }
}

/**
 * Whether the index in `dir` (default TREE/.packdebug-index) describes the
 * tree as it is now: the same tarballs with the same local stamps. A reader
 * that may not write the tree uses it as it is only then.
 */
export async function indexIsCurrent(tree: string, dir = path.join(tree, INDEX_DIR)): Promise<boolean> {
  const state = (await loadState(dir))?.state;
  if (!state) return false;
  let seen = 0;
  for await (const item of walkTarballTree(tree)) {
    if (item.kind !== 'tarball' || !item.file.endsWith('-debug.tar.xz')) continue;
    if (!sameStamp(state.tarballs[item.rel], item)) return false;
    seen++;
  }
  return seen === Object.keys(state.tarballs).length;
}

async function ensureIndexDir(dir: string): Promise<void> {
  const st = await fs.lstat(dir).catch(() => undefined);
  if (st && !st.isDirectory())
    throw new PackdebugError('E_UNSAFE', `${dir}: is not a directory (a symlink is never followed)`, { file: dir });
  for (const sub of ['', 'buildid', 'tarballs']) {
    const d = path.join(dir, sub);
    const s = await fs.lstat(d).catch(() => undefined);
    if (s && !s.isDirectory()) throw new PackdebugError('E_UNSAFE', `${d}: is not a directory`, { file: d });
    if (!s)
      await fs.mkdir(d, { mode: 0o755 }).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, d, 'creating');
      });
  }
}

/** One writer at a time: a lock file naming its process; a dead holder's lock is taken over. */
async function takeLock(dir: string, waitMs: number): Promise<() => Promise<void>> {
  const lock = path.join(dir, '.lock');
  const me = `${process.pid}@${os.hostname()}`;
  const deadline = Date.now() + waitMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      const fh = await fs.open(lock, 'wx', 0o644);
      await fh.writeFile(me);
      await fh.close();
      return async () => {
        await fs.unlink(lock).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, lock, 'creating the lock');
    }
    const holder = await fs.readFile(lock, 'utf8').catch(() => '');
    const [pid, host] = holder.split('@');
    if (host === os.hostname() && pid && !isAlive(Number(pid))) {
      await fs.unlink(lock).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline)
      throw new PackdebugError('E_IO', `${lock}: another packdebug index (${holder || 'unknown'}) holds the lock`, {
        file: lock,
      });
    await new Promise((r) => setTimeout(r, delay));
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A regular file's bytes; undefined when missing, unreadable or not a regular file (symlinks are not followed). */
async function readIfFile(file: string): Promise<Buffer | undefined> {
  try {
    const st = await fs.lstat(file);
    if (!st.isFile()) return undefined;
    return await fs.readFile(file);
  } catch {
    return undefined;
  }
}

/** The writer's state with the manifest it was written with; undefined unless both are there and agree. */
async function loadState(dir: string): Promise<{ state: State; manifest: Manifest } | undefined> {
  const [stateBytes, manifestBytes] = await Promise.all([
    readIfFile(path.join(dir, STATE_FILE)),
    readIfFile(path.join(dir, MANIFEST_FILE)),
  ]);
  if (!stateBytes || !manifestBytes) return undefined;
  try {
    const state = JSON.parse(stateBytes.toString('utf8')) as State;
    const manifest = decodeManifest(manifestBytes);
    // A state from another run than the published index (an interrupted run, a copied tree): start over.
    if (state.format !== 'packdebug-index-state' || state.version !== FORMAT_VERSION) return undefined;
    if (state.generation !== manifest.generation) return undefined;
    return { state, manifest };
  } catch {
    return undefined;
  }
}

function within(only: string[] | undefined, rel: string): boolean {
  return !only || only.some((o) => rel.startsWith(`${o.replace(/\/+$/, '')}/`));
}

async function readFragments(files: string[]): Promise<TarballObject[]> {
  const out: TarballObject[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      throw fromSystemError(err, file, 'reading the fragment');
    }
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    try {
      const head = JSON.parse(lines[0] ?? '{}') as { format?: string; version?: number };
      if (head.format !== FRAGMENT_FORMAT || head.version !== FORMAT_VERSION)
        throw new IndexFormatError(`not a version ${FORMAT_VERSION} index fragment`);
      lines.slice(1).forEach((l) => out.push(decodeTarballObject(l)));
    } catch (err) {
      const reason = err instanceof IndexFormatError ? err.message : 'not valid JSON';
      throw new PackdebugError('E_FORMAT', `${file}: ${reason}`, { file });
    }
  }
  return out;
}

/** The shard a build-id goes in, given the split prefixes. */
function leafOf(buildId: string, split: Set<string>): string {
  let prefix = buildId.slice(0, 2);
  while (split.has(prefix) && prefix.length + 2 <= buildId.length) prefix = buildId.slice(0, prefix.length + 2);
  return prefix;
}

function entriesOf(obj: TarballObject): Omit<ShardEntry, 'tarball'>[] {
  return obj.members
    .filter((m) => m.buildId !== undefined && (m.kinds ?? 0) !== 0)
    .map((m) => ({
      buildId: m.buildId!,
      kinds: m.kinds!,
      member: m.name,
      size: m.size,
      headerOffset: m.headerOffset,
      dataOffset: m.dataOffset,
      ...(m.blocks ? { blocks: m.blocks } : {}),
    }));
}

async function update(options: IndexOptions, dir: string, fragments: TarballObject[]): Promise<IndexReport> {
  const { tree, log } = options;
  const generation = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const loaded = options.rebuild || options.fragmentOnly ? undefined : await loadState(dir);
  const previous = loaded?.state;
  const full = previous === undefined;
  const manifest = loaded?.manifest;
  const split = new Set(manifest?.split ?? []);
  const oldRecords = previous?.tarballs ?? {};

  // Without a usable state, --only cannot be incremental: the whole tree is indexed.
  const only = full && !options.fragmentOnly ? undefined : options.only;
  // What is there now (never through a symlink; the index directory itself is skipped by the walk).
  const current = new Map<string, FileStamp & { abs: string; buildNumber: number | null }>();
  for await (const item of walkTarballTree(tree)) {
    if (item.kind !== 'tarball' || !item.file.endsWith('-debug.tar.xz') || !within(only, item.rel)) continue;
    const m = /-([0-9]+)-debug\.tar\.xz$/.exec(item.file);
    current.set(item.rel, {
      abs: item.path,
      dev: item.dev,
      ino: item.ino,
      size: item.size,
      mtimeMs: item.mtimeMs,
      buildNumber: m ? Number(m[1]) : null,
    });
  }

  const records: Record<string, StateRecord> = {};
  // Records outside --only stay as they are.
  for (const [rel, r] of Object.entries(oldRecords)) if (!within(only, rel)) records[rel] = r;
  const dropped = new Set<string>();
  const toRead: string[] = [];
  let unchanged = 0;
  for (const [rel, now] of current) {
    const old = oldRecords[rel];
    if (old && sameStamp(old, now)) {
      records[rel] = old;
      unchanged++;
    } else {
      if (old) dropped.add(rel);
      toRead.push(rel);
    }
  }
  let removed = 0;
  for (const rel of Object.keys(oldRecords)) {
    if (within(only, rel) && !current.has(rel)) {
      dropped.add(rel);
      removed++;
    }
  }

  // Tarballs read or merged in this run. Their objects are written at once (before any shard names them) and
  // only their build-id entries kept: a full run over a large tree would not hold every member in memory.
  const fresh = new Map<string, FreshTarball>();
  const forFragment: TarballObject[] | undefined = options.fragment ? [] : undefined;
  const accept = async (rel: string, obj: TarballObject) => {
    const key = tarballKey(rel, obj.stamp);
    if (!options.fragmentOnly) {
      const file = path.join(dir, tarballObjectPath(key));
      if (!(await readIfFile(file))) await AtomicFile.write(file, encodeTarballObject(obj));
    }
    forFragment?.push(obj);
    fresh.set(rel, { record: { ...recordOf(obj), key }, entries: entriesOf(obj) });
  };
  // Fragments: trusted for tarballs that are here with the size they describe.
  let merged = 0;
  for (const obj of fragments) {
    const now = current.get(obj.path);
    if (!now || now.size !== obj.size) {
      const here = now ? `${now.size} bytes here, not ${obj.size}` : 'not in the tree';
      log.warn(`${obj.path}: in a fragment but ${here}; not merged`);
      continue;
    }
    await accept(obj.path, obj);
    merged++;
  }
  const damaged: IndexReport['damaged'] = [];
  const reading = toRead.filter((rel) => !fresh.has(rel));
  const limit = limiter(2);
  let done = 0;
  await Promise.all(
    reading.map((rel) =>
      limit(async () => {
        const now = current.get(rel)!;
        try {
          const obj = await describeTarball(
            now.abs,
            { path: rel, buildNumber: now.buildNumber, mtimeMs: now.mtimeMs },
            options.env,
          );
          await accept(rel, obj);
        } catch (err) {
          if (!(err instanceof PackdebugError)) throw err;
          const reason = err.message.replace(/\s*\n\s*/g, ' ');
          log.warn(`${reason}; not indexed`);
          damaged.push({ path: rel, error: reason });
          records[rel] = { dev: now.dev, ino: now.ino, size: now.size, mtimeMs: now.mtimeMs, damaged: reason };
        }
        log.progress?.(++done, reading.length);
      }),
    ),
  );
  damaged.sort((a, b) => (a.path < b.path ? -1 : 1));

  if (options.fragment) {
    const lines = [JSON.stringify({ format: FRAGMENT_FORMAT, version: FORMAT_VERSION })];
    forFragment!.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const obj of forFragment!) lines.push(encodeTarballObject(obj));
    await AtomicFile.write(path.resolve(options.fragment), `${lines.join('\n')}\n`);
  }
  if (options.fragmentOnly) {
    return {
      tree,
      index: path.resolve(options.fragment!),
      generation,
      tarballs: fresh.size,
      buildIds: new Set([...fresh.values()].flatMap((f) => f.entries.map((e) => e.buildId))).size,
      entries: [...fresh.values()].reduce((n, f) => n + f.entries.length, 0),
      read: reading.length - damaged.length,
      unchanged: 0,
      merged,
      removed: 0,
      shardsWritten: 0,
      damaged,
    };
  }

  if (previous && fresh.size === 0 && dropped.size === 0 && damaged.length === 0) {
    // Nothing changed: nothing is published (mirrors see no churn).
    return summarize(options, dir, previous.generation, records, { reading, damaged, unchanged, merged, removed });
  }

  // 1. The objects of new tarball versions were written as they were read (immutable names: written once).
  for (const [rel, f] of fresh) {
    const now = current.get(rel)!;
    records[rel] = {
      dev: now.dev,
      ino: now.ino,
      size: now.size,
      mtimeMs: now.mtimeMs,
      key: f.record.key,
      buildIds: [...new Set(f.entries.map((e) => e.buildId))],
      entries: f.entries.length,
    };
    if (oldRecords[rel] && !dropped.has(rel)) dropped.add(rel);
  }

  // 2. The shards the change touches (all of them on a full run).
  const touched = new Set<string>(full ? TOP_PREFIXES : []);
  for (const rel of dropped) for (const id of oldRecords[rel]?.buildIds ?? []) touched.add(leafOf(id, split));
  for (const f of fresh.values()) for (const e of f.entries) touched.add(leafOf(e.buildId, split));
  const adds = new Map<string, { t: ShardTableRow; entry: Omit<ShardEntry, 'tarball'> }[]>();
  for (const f of fresh.values()) {
    for (const entry of f.entries) {
      const leaf = leafOf(entry.buildId, split);
      let list = adds.get(leaf);
      if (!list) adds.set(leaf, (list = []));
      list.push({ t: f.record, entry });
    }
  }
  let shardsWritten = 0;
  const writeShard = async (prefix: string, rows: { t: ShardTableRow; entry: Omit<ShardEntry, 'tarball'> }[]) => {
    const shard = buildShard(prefix, generation, rows);
    let text = encodeShard(shard);
    if (
      text.length > SHARD_SPLIT_BYTES &&
      prefix.length < 2 * MAX_SPLIT_DEPTH &&
      rows.every((r) => r.entry.buildId.length > prefix.length + 1)
    ) {
      // Too large for one small fetch: 256 shards one level down, this one a marker.
      split.add(prefix);
      const children = new Map<string, typeof rows>();
      for (const r of rows) {
        const child = r.entry.buildId.slice(0, prefix.length + 2);
        let list = children.get(child);
        if (!list) children.set(child, (list = []));
        list.push(r);
      }
      for (let i = 0; i < 256; i++) {
        const child = prefix + i.toString(16).padStart(2, '0');
        await writeShard(child, children.get(child) ?? []);
      }
      text = encodeShard({ ...buildShard(prefix, generation, []), split: true });
    }
    const file = path.join(dir, shardPath(prefix));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await AtomicFile.write(file, text);
    shardsWritten++;
  };
  for (const prefix of [...touched].sort()) {
    const rows: { t: ShardTableRow; entry: Omit<ShardEntry, 'tarball'> }[] = [];
    if (!full) {
      const bytes = await readIfFile(path.join(dir, shardPath(prefix)));
      if (bytes) {
        let old: Shard;
        try {
          old = decodeShard(bytes, prefix);
        } catch (err) {
          throw new PackdebugError(
            'E_FORMAT',
            `${path.join(dir, shardPath(prefix))}: ${(err as Error).message}; run 'packdebug index --rebuild'`,
          );
        }
        for (const e of old.entries) {
          const t = old.tarballs[e.tarball]!;
          if (dropped.has(t.path) || fresh.has(t.path)) continue;
          const { tarball: _, ...entry } = e;
          rows.push({ t, entry });
        }
      }
    }
    rows.push(...(adds.get(prefix) ?? []));
    await writeShard(prefix, rows);
  }

  // 3. The manifest, then the writer's state.
  const live = Object.entries(records).filter(([, r]) => r.key);
  const buildIds = new Set<string>();
  let entries = 0;
  for (const [, r] of live) {
    for (const id of r.buildIds ?? []) buildIds.add(id);
    entries += r.entries ?? 0;
  }
  const allDamaged = Object.entries(records)
    .filter(([, r]) => r.damaged)
    .map(([p, r]) => ({ path: p, error: r.damaged! }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const newManifest: Manifest = {
    format: 'packdebug-index',
    version: FORMAT_VERSION,
    generation,
    created: new Date().toISOString(),
    tarballs: live.length,
    buildIds: buildIds.size,
    entries,
    split: [...split].sort(),
    damaged: allDamaged,
  };
  await AtomicFile.write(path.join(dir, MANIFEST_FILE), `${JSON.stringify(newManifest, null, 1)}\n`);

  // 4. Objects retired by an earlier run are deleted now; this run's become retired.
  const liveKeys = new Set(live.map(([, r]) => r.key!));
  const retiredBefore = previous?.retired ?? [];
  const retired: State['retired'] = [];
  for (const rel of dropped) {
    const key = oldRecords[rel]?.key;
    if (key && !liveKeys.has(key)) retired.push({ key, generation });
  }
  for (const r of retiredBefore) {
    if (liveKeys.has(r.key)) continue;
    await fs.unlink(path.join(dir, tarballObjectPath(r.key))).catch(() => undefined);
  }
  const state: State = {
    format: 'packdebug-index-state',
    version: FORMAT_VERSION,
    generation,
    tarballs: records,
    retired,
  };
  await AtomicFile.write(path.join(dir, STATE_FILE), JSON.stringify(state));
  if (full) await removeUnlisted(dir, liveKeys, retired);

  return {
    tree,
    index: dir,
    generation,
    tarballs: live.length,
    buildIds: buildIds.size,
    entries,
    read: reading.length - damaged.length,
    unchanged,
    merged,
    removed,
    shardsWritten,
    damaged: allDamaged,
  };
}

type ShardTableRow = Shard['tarballs'][number];

/** A tarball read or merged in this run, as the shards need it. */
interface FreshTarball {
  record: ShardTableRow;
  entries: Omit<ShardEntry, 'tarball'>[];
}

function summarize(
  options: IndexOptions,
  dir: string,
  generation: string,
  records: Record<string, StateRecord>,
  counts: { reading: string[]; damaged: IndexReport['damaged']; unchanged: number; merged: number; removed: number },
): IndexReport {
  const live = Object.values(records).filter((r) => r.key);
  const buildIds = new Set(live.flatMap((r) => r.buildIds ?? []));
  return {
    tree: options.tree,
    index: dir,
    generation,
    tarballs: live.length,
    buildIds: buildIds.size,
    entries: live.reduce((n, r) => n + (r.entries ?? 0), 0),
    read: counts.reading.length - counts.damaged.length,
    unchanged: counts.unchanged,
    merged: counts.merged,
    removed: counts.removed,
    shardsWritten: 0,
    damaged: Object.entries(records)
      .filter(([, r]) => r.damaged)
      .map(([p, r]) => ({ path: p, error: r.damaged! }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
  };
}

function recordOf(obj: TarballObject): Omit<ShardTableRow, 'key'> {
  return { path: obj.path, size: obj.size, stamp: obj.stamp, buildNumber: obj.buildNumber, mtimeMs: obj.mtimeMs };
}

function buildShard(
  prefix: string,
  generation: string,
  rows: { t: ShardTableRow; entry: Omit<ShardEntry, 'tarball'> }[],
): Shard {
  const tarballs: ShardTableRow[] = [];
  const at = new Map<string, number>();
  const sorted = [...rows].sort(
    (a, b) =>
      (a.entry.buildId < b.entry.buildId ? -1 : a.entry.buildId > b.entry.buildId ? 1 : 0) ||
      (a.t.path < b.t.path ? -1 : a.t.path > b.t.path ? 1 : 0) ||
      (a.entry.member < b.entry.member ? -1 : 1),
  );
  const entries = sorted.map(({ t, entry }) => {
    let i = at.get(t.path);
    if (i === undefined) {
      at.set(t.path, (i = tarballs.length));
      tarballs.push(t);
    }
    return { ...entry, tarball: i };
  });
  return { format: 'packdebug-index-shard', version: FORMAT_VERSION, generation, prefix, tarballs, entries };
}

/** After a full run: tarball objects nothing names (an earlier index's) are retired too. */
async function removeUnlisted(dir: string, live: Set<string>, retired: State['retired']): Promise<void> {
  const names = await fs.readdir(path.join(dir, 'tarballs')).catch(() => [] as string[]);
  const keep = new Set([...live, ...retired.map((r) => r.key)]);
  for (const name of names) {
    const key = name.replace(/\.json$/, '');
    if (name.endsWith('.json') && !keep.has(key)) retired.push({ key, generation: 'unlisted' });
  }
}
