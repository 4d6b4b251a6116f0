/**
 * A system tree: this machine ('/') or a copy of one under another
 * directory (a chroot, a sysroot, a test's fake tree). System paths
 * (absolute, as the tree's own programs name them) resolve inside it as
 * they would after chroot(2): an absolute symlink target starts again at the
 * tree's root and '..' stops there, so no symlink leads out of the tree.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import { hasGlobMagic, globComponentMatcher } from '../elf/library-search.js';

/** Symlinks followed while resolving one path (Linux's MAXSYMLINKS). */
const MAX_SYMLINKS = 40;
/** Paths whose resolution is remembered (a lookup's worth of memory, bounded). */
const MAX_REMEMBERED = 65536;
/** Directory entries examined for one glob component. */
const MAX_GLOB_ENTRIES = 65536;

function components(systemPath: string): string[] {
  return systemPath.split('/').filter((c) => c !== '' && c !== '.');
}

export class SystemRoot {
  private readonly resolved = new Map<string, string | undefined>();
  private readonly entries = new Map<string, { link?: string } | undefined>();

  private constructor(
    /** The tree's directory on this machine, without symlinks ('/' for this machine). */
    readonly hostRoot: string,
  ) {}

  /** Opens the tree at `root` (default '/'); E_INPUT when it is not a directory. */
  static async open(root = '/'): Promise<SystemRoot> {
    let real: string;
    try {
      real = await fs.realpath(root);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR')
        throw new PackdebugError('E_INPUT', `${root}: no such directory`, { file: root, cause: err });
      throw fromSystemError(err, root, 'opening the system root');
    }
    const st = await fs.stat(real).catch((err: unknown) => {
      throw fromSystemError(err, root, 'opening the system root');
    });
    if (!st.isDirectory()) throw new PackdebugError('E_INPUT', `${root}: not a directory`, { file: root });
    return new SystemRoot(real);
  }

  get isHostRoot(): boolean {
    return this.hostRoot === '/';
  }

  /** Where a symlink-free system path is on this machine. */
  hostPath(systemPath: string): string {
    return this.isHostRoot ? systemPath : path.join(this.hostRoot, systemPath);
  }

  /**
   * The system path of a path on this machine that lies inside the tree
   * (lexically, or once its symlinks are resolved on this machine);
   * undefined when it lies outside.
   */
  async systemPathOf(hostFile: string): Promise<string | undefined> {
    if (this.isHostRoot) return path.resolve(hostFile);
    const inside = (p: string): string | undefined => {
      const rel = path.relative(this.hostRoot, p);
      return rel === '' ? '/' : rel.startsWith('..') || path.isAbsolute(rel) ? undefined : `/${rel}`;
    };
    const lexical = inside(path.resolve(hostFile));
    if (lexical !== undefined) return lexical;
    try {
      return inside(await fs.realpath(hostFile));
    } catch {
      return undefined;
    }
  }

  /**
   * `systemPath` with every symlink resolved inside the tree, or undefined
   * when some component does not exist, cannot be read, or the symlinks
   * loop. The result names no symlink, so it can be opened with O_NOFOLLOW.
   */
  async resolve(systemPath: string): Promise<string | undefined> {
    const key = path.posix.normalize(`/${systemPath}`);
    if (this.resolved.has(key)) return this.resolved.get(key);
    const result = this.isHostRoot ? await fs.realpath(key).catch(() => undefined) : await this.resolveInside(key);
    if (this.resolved.size < MAX_REMEMBERED) this.resolved.set(key, result);
    return result;
  }

  /** True when `systemPath` resolves to a directory inside the tree. */
  async isDirectory(systemPath: string): Promise<boolean> {
    const real = await this.resolve(systemPath);
    if (real === undefined) return false;
    try {
      return (await fs.lstat(this.hostPath(real))).isDirectory();
    } catch {
      return false;
    }
  }

  private async resolveInside(systemPath: string): Promise<string | undefined> {
    const done: string[] = [];
    const todo = components(systemPath);
    let symlinks = 0;
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const entry = await this.entry(path.join(this.hostRoot, ...done, c));
      if (entry === undefined) return undefined;
      if (entry.link === undefined) {
        done.push(c);
        continue;
      }
      if (++symlinks > MAX_SYMLINKS) return undefined;
      if (entry.link.startsWith('/')) done.length = 0;
      todo.unshift(...components(entry.link));
    }
    return `/${done.join('/')}`;
  }

  /** What lstat (and readlink) say of a host path, remembered: lookups walk the same directories again and again. */
  private async entry(host: string): Promise<{ link?: string } | undefined> {
    if (this.entries.has(host)) return this.entries.get(host);
    let result: { link?: string } | undefined;
    try {
      const st = await fs.lstat(host);
      result = st.isSymbolicLink() ? { link: await fs.readlink(host) } : {};
    } catch {
      result = undefined;
    }
    if (this.entries.size < MAX_REMEMBERED) this.entries.set(host, result);
    return result;
  }

  /**
   * The files a glob(3) pattern (absolute, system paths) matches inside the
   * tree, symlinks resolved within it; wildcards in any component.
   */
  async glob(pattern: string): Promise<string[]> {
    let paths = ['/'];
    for (const component of components(pattern)) {
      if (!hasGlobMagic(component)) {
        paths = paths.map((p) => path.posix.join(p, component));
        continue;
      }
      const matches = globComponentMatcher(component);
      const next: string[] = [];
      for (const parent of paths) {
        const dir = await this.resolve(parent);
        if (dir === undefined) continue;
        let handle;
        try {
          handle = await fs.opendir(this.hostPath(dir));
        } catch {
          continue;
        }
        let examined = 0;
        try {
          for await (const entry of handle) {
            if (++examined > MAX_GLOB_ENTRIES) break;
            if (matches(entry.name)) next.push(path.posix.join(parent, entry.name));
          }
        } catch {
          // an unreadable directory matches nothing, as for glob(3) without GLOB_ERR
        }
      }
      paths = next;
    }
    const existing: string[] = [];
    for (const p of paths) if ((await this.resolve(p)) !== undefined) existing.push(p);
    return existing;
  }
}
