import { randomBytes } from 'node:crypto';
import { lstatSync, rmdirSync, rmSync, type Stats, utimesSync } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';

/**
 * A file written under a temporary name beside its destination and renamed
 * over it only on commit. Until then, SIGINT/SIGTERM/SIGHUP or any failure
 * removes it, and the directories created for it, so no half-written file
 * ever carries the final name and the tree is left as it was.
 */
export class AtomicFile {
  readonly final: string;
  readonly temp: string;
  readonly fh: FileHandle;
  readonly #createdDirs: string[];
  #done = false;
  #onSignal: (signal: NodeJS.Signals) => void;

  private constructor(final: string, temp: string, fh: FileHandle, createdDirs: string[]) {
    this.final = final;
    this.temp = temp;
    this.fh = fh;
    this.#createdDirs = createdDirs;
    this.#onSignal = (signal) => {
      // Synchronous: the process is about to die, there is no later tick.
      this.#removeTempSync();
      removeCreatedDirsSync(this.#createdDirs);
      AtomicFile.#live.delete(this);
      if (AtomicFile.#live.size === 0) AtomicFile.#uninstall();
      process.kill(process.pid, signal);
    };
  }

  static #live = new Set<AtomicFile>();
  static #handler = (signal: NodeJS.Signals) => {
    for (const f of [...AtomicFile.#live]) f.#onSignal(signal);
  };
  static #installed = false;
  static #install(): void {
    if (AtomicFile.#installed) return;
    AtomicFile.#installed = true;
    process.on('SIGINT', AtomicFile.#handler);
    process.on('SIGTERM', AtomicFile.#handler);
    process.on('SIGHUP', AtomicFile.#handler);
  }
  static #uninstall(): void {
    if (!AtomicFile.#installed) return;
    AtomicFile.#installed = false;
    process.off('SIGINT', AtomicFile.#handler);
    process.off('SIGTERM', AtomicFile.#handler);
    process.off('SIGHUP', AtomicFile.#handler);
  }

  /**
   * Opens a temporary file beside `final`. With `root`, missing directories
   * between `root` and `final` are created (see mkdirBelow) and removed again
   * unless the file is committed.
   */
  static async create(final: string, options: { mode?: number; root?: string } = {}): Promise<AtomicFile> {
    const dir = path.dirname(final);
    // Renaming over a directory fails only at commit, after all the work: say so now.
    if ((await fs.stat(final).catch(() => undefined))?.isDirectory())
      throw new PackdebugError('E_INPUT', `${final}: is a directory`, { file: final });
    const createdDirs = options.root === undefined ? [] : await mkdirBelow(options.root, dir);
    const temp = path.join(dir, tempName(path.basename(final)));
    let fh: FileHandle;
    try {
      fh = await fs.open(temp, 'wx+', options.mode ?? 0o644);
    } catch (err) {
      await removeCreatedDirs(createdDirs);
      // Named by the output the user gave, not the temporary name beside it.
      throw fromSystemError(err, final, 'creating the output');
    }
    const file = new AtomicFile(final, temp, fh, createdDirs);
    AtomicFile.#live.add(file);
    AtomicFile.#install();
    return file;
  }

  /**
   * `final`, made atomically from what `work` writes to the temporary file:
   * committed when `work` returns, removed (with the directories made for
   * it) when anything throws.
   */
  static async produce<T>(
    final: string,
    options: { mode?: number; root?: string },
    work: (file: AtomicFile) => Promise<T>,
  ): Promise<T> {
    const file = await AtomicFile.create(final, options);
    try {
      const result = await work(file);
      await file.commit();
      return result;
    } finally {
      await file.abort();
    }
  }

  /** `data` as the whole of `final`, atomically (a full disk is E_NOSPC naming `final`). */
  static write(final: string, data: string | Uint8Array, options: { mode?: number; root?: string } = {}) {
    return AtomicFile.produce(final, options, (f) => f.writing('writing', () => f.fh.writeFile(data)));
  }

  /**
   * Runs `work` (writes to `fh`, reading the temporary file back): a system
   * error becomes a PackdebugError naming the final file (ENOSPC: E_NOSPC),
   * so a full disk is one line about the output, never an internal error.
   */
  async writing<T>(doing: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw fromSystemError(err, this.final, doing);
    }
  }

  /**
   * fsyncs the data, renames over the final name and fsyncs the directory.
   * `beforeRename` runs after the fsync, as late as possible: if it throws,
   * the temporary file is removed and the final name left alone.
   */
  async commit(beforeRename?: () => Promise<void>): Promise<void> {
    try {
      await this.fh.sync();
      await this.fh.close();
      await beforeRename?.();
      await fs.rename(this.temp, this.final);
    } catch (err) {
      await this.abort();
      throw fromSystemError(err, this.final, 'writing the output');
    }
    this.#createdDirs.length = 0; // they hold the committed file now
    this.#finish();
    const dir = await fs.open(path.dirname(this.final), 'r').catch(() => undefined);
    await dir?.sync().catch(() => undefined);
    await dir?.close();
  }

  /** Removes the temporary file; safe to call more than once. */
  async abort(): Promise<void> {
    if (this.#done) return;
    await this.fh.close().catch(() => undefined);
    await fs.rm(this.temp, { force: true }).catch(() => undefined);
    await removeCreatedDirs(this.#createdDirs);
    this.#finish();
  }

  #removeTempSync(): void {
    try {
      rmSync(this.temp, { force: true });
    } catch {
      // nothing more can be done while dying
    }
  }

  #finish(): void {
    this.#done = true;
    AtomicFile.#live.delete(this);
    if (AtomicFile.#live.size === 0) AtomicFile.#uninstall();
  }
}

/** Longest file name (NAME_MAX on Linux), in bytes. */
const NAME_MAX = 255;

/**
 * `.NAME.PID-RANDOM.tmp` (what audit and prune recognize as a temporary
 * file), with NAME cut (at a character boundary) so that the whole stays
 * within NAME_MAX: any final name that is legal gets a legal temporary name.
 */
export function tempName(base: string): string {
  const suffix = `.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const room = NAME_MAX - 1 - Buffer.byteLength(suffix);
  let name = base;
  while (Buffer.byteLength(name) > room) name = name.slice(0, -1);
  // A lone high surrogate left by the cut would be written as U+FFFD: drop it.
  if (/[\uD800-\uDBFF]$/.test(name)) name = name.slice(0, -1);
  return `.${name}${suffix}`;
}

function throughSymlink(file: string): PackdebugError {
  return new PackdebugError('E_UNSAFE', `${file}: is a symlink; refusing to write through it`, { file });
}

/**
 * lstat of `file`, after checking that every component from `root` down to
 * it (the file included) is no symlink and every parent a real directory:
 * a path below an image must not lead out of it. Undefined when a component
 * is missing. `root` itself is trusted (it is what the user named).
 */
export async function lstatBelow(root: string, file: string): Promise<Stats | undefined> {
  const rel = path.relative(root, file);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel))
    throw new PackdebugError('E_UNSAFE', `${file}: not below ${root}`, { file });
  let current = root;
  let st: Stats | undefined;
  for (const part of rel.split(path.sep)) {
    if (st && !st.isDirectory())
      throw new PackdebugError('E_INPUT', `${current}: exists and is not a directory`, { file: current });
    current = path.join(current, part);
    st = await fs.lstat(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw fromSystemError(err, current, 'reading');
    });
    if (!st) return undefined;
    if (st.isSymbolicLink()) throw throughSymlink(current);
  }
  return st;
}

/**
 * Creates `dir` and missing parents below `root`, refusing to pass through a
 * symlink. The mtime of each existing parent that gains a new directory is
 * put back, so creating usr/lib/debug/.tarball does not change what a later
 * pack of usr/lib/debug stores. Returns what it created, outermost first.
 */
export async function mkdirBelow(root: string, dir: string): Promise<string[]> {
  const rel = path.relative(root, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    await fs.mkdir(dir, { recursive: true }).catch((err) => {
      throw fromSystemError(err, dir, 'creating the output directory');
    });
    return [];
  }
  const created: string[] = [];
  let current = root;
  for (const part of rel.split(path.sep).filter(Boolean)) {
    const parent = current;
    current = path.join(current, part);
    const st = await fs.lstat(current).catch(() => undefined);
    // A failure half-way (a symlink, a name too long, no space) leaves no directory of ours behind.
    const fail = async (err: PackdebugError): Promise<never> => {
      await removeCreatedDirs(created);
      throw err;
    };
    if (st?.isSymbolicLink()) await fail(throughSymlink(current));
    if (st && !st.isDirectory())
      await fail(new PackdebugError('E_INPUT', `${current}: exists and is not a directory`, { file: current }));
    if (st) continue;
    const parentStat = await fs.lstat(parent);
    try {
      await fs.mkdir(current, { mode: 0o755 });
      created.push(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        await fail(fromSystemError(err, current, 'creating the output directory'));
    }
    await fs.utimes(parent, parentStat.atime, parentStat.mtime).catch(() => undefined);
  }
  return created;
}

/** Undoes mkdirBelow: removes the directories it created (if still empty) and restores the parents' mtimes. */
export async function removeCreatedDirs(created: readonly string[]): Promise<void> {
  for (const dir of [...created].reverse()) {
    const parent = path.dirname(dir);
    const parentStat = await fs.lstat(parent).catch(() => undefined);
    const removed = await fs.rmdir(dir).then(
      () => true,
      () => false,
    );
    if (removed && parentStat) await fs.utimes(parent, parentStat.atime, parentStat.mtime).catch(() => undefined);
  }
}

function removeCreatedDirsSync(created: readonly string[]): void {
  for (const dir of [...created].reverse()) {
    try {
      const parent = lstatSync(path.dirname(dir));
      rmdirSync(dir);
      utimesSync(path.dirname(dir), parent.atime, parent.mtime);
    } catch {
      // not empty or gone: leave it
    }
  }
}
