/**
 * The libraries an executable or shared library loads, found on a system
 * tree as glibc's dynamic loader would find them: the interpreter
 * (PT_INTERP), then breadth first over DT_NEEDED, each name looked up in the
 * order of elf/library-search.ts (which also says what differs from ld.so:
 * no LD_LIBRARY_PATH, the ld.so.conf directories instead of ld.so.cache).
 *
 * As ld.so does, a name already answered (a name asked for before, the
 * path or DT_SONAME of a loaded object) is not looked up again; a file
 * found under a second name (same device and inode) is loaded once; a
 * candidate of another ABI (class, byte order, e_machine) or that is not
 * ELF is skipped and the search goes on. A name that is not found is
 * listed once, without a path, and the search goes on too (ld.so would
 * stop there): a coverage check wants everything it can see.
 *
 * Everything is looked up inside the system root (SystemRoot): with a root
 * other than '/', no symlink leads out of it.
 */
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import { fdSource, readDynamic, type DynamicInfo } from '../elf/index.js';
import {
  defaultDirs,
  expandTokens,
  libToken,
  loadLdSoConf,
  multiarchTriplets,
  objectSearchPaths,
  platformToken,
  searchDirs,
  type ElfAbi,
  type ObjectSearchPaths,
  type SearchSource,
  type TokenValues,
} from '../elf/library-search.js';
import { MAX_LD_SO_CONF_BYTES, MAX_LIBRARIES, MAX_LIBRARY_LOOKUPS, MAX_LOAD_DEPTH } from '../elf/limits.js';
import { openRegularFile, readSmallFile } from '../util/regular-file.js';
import { SystemRoot } from './root.js';

export type LibrarySource = 'interpreter' | 'path' | SearchSource;

export interface NeededLibrary {
  /** The DT_NEEDED name (for the interpreter, the PT_INTERP path). */
  name: string;
  /**
   * Where it was found, on this machine: the root joined to the directory
   * searched and the name (what ld.so calls the object). Undefined when it
   * was not found. It may pass through symlinks: open realPath instead.
   */
  path?: string;
  /** path with every symlink resolved inside the root: the file to open (never outside the root). */
  realPath?: string;
  /** The file that first named it: `file` as given, or the `path` of another library. */
  neededBy: string;
  /** How it was found: PT_INTERP, a name with a '/', or the kind of directory it was in. */
  via?: LibrarySource;
  /** The library's dynamic section contradicts itself (its DT_NEEDED list may be short). */
  malformed?: string;
}

export interface NeededResult {
  /** The interpreter first, then the libraries in the order ld.so loads them. */
  libraries: NeededLibrary[];
  /** Why the list may lack libraries: caps reached, configuration files that could not be read. */
  incomplete?: string;
  /** The file's own dynamic section contradicts itself. */
  malformed?: string;
  /** The file's PT_INTERP (a program has one; a shared library usually not). */
  interpreter?: string;
}

export interface ResolveNeededOptions {
  /** The system tree to look in (default '/'): a chroot or a copy of a system. */
  root?: string;
}

/** A file that passed the checks of a library candidate. */
interface Candidate {
  /** The symlink-free system path. */
  realSystemPath: string;
  /** Device and inode: the same file under two names is one object. */
  identity: string;
  dynamic: DynamicInfo;
}

/** An object in ld.so's link map, as far as the search needs it. */
interface LoadedObject {
  /** `file`, or the library's `path`: for neededBy. */
  shownAs: string;
  /** Its $ORIGIN (a system path). */
  origin: string;
  paths: ObjectSearchPaths;
  /** The object whose DT_NEEDED loaded this one (ld.so's l_loader). */
  loader: LoadedObject | undefined;
  depth: number;
  needed: readonly string[];
}

const sameAbi = (a: ElfAbi, b: ElfAbi): boolean =>
  a.elfClass === b.elfClass && a.byteOrder === b.byteOrder && a.machine === b.machine;

class NeededSearch {
  readonly libraries: NeededLibrary[] = [];
  private readonly notes: string[] = [];
  /** Names answered: asked-for names, found paths, DT_SONAMEs (ld.so's _dl_name_match_p). */
  private readonly known = new Set<string>();
  private readonly missing = new Set<string>();
  private readonly identities = new Set<string>();
  private lookups = 0;
  private confDirs: string[] = [];
  private defaults: string[] = [];
  private tokens: Omit<TokenValues, 'origin'> = {};

  constructor(
    private readonly root: SystemRoot,
    private readonly abi: ElfAbi,
  ) {}

  note(text: string): void {
    if (this.notes.length < 8 && !this.notes.includes(text)) this.notes.push(text);
  }

  get incomplete(): string | undefined {
    return this.notes.length > 0 ? this.notes.join('; ') : undefined;
  }

  /** Reads ld.so.conf and works out the default directories and tokens of the ABI. */
  async prepare(): Promise<void> {
    const present: string[] = [];
    for (const triplet of multiarchTriplets(this.abi)) {
      if ((await this.root.isDirectory(`/lib/${triplet}`)) || (await this.root.isDirectory(`/usr/lib/${triplet}`)))
        present.push(triplet);
    }
    this.defaults = defaultDirs(this.abi, present);
    const platform = platformToken(this.abi);
    this.tokens = { lib: libToken(this.abi, present[0]), ...(platform === undefined ? {} : { platform }) };
    const conf = await loadLdSoConf('/etc/ld.so.conf', {
      read: async (file) => {
        const real = await this.root.resolve(file);
        if (real === undefined) return undefined;
        return readSmallFile(this.root.hostPath(real), { name: file, limit: MAX_LD_SO_CONF_BYTES });
      },
      glob: (pattern) => this.root.glob(pattern),
    });
    this.confDirs = conf.dirs;
    for (const text of conf.notes) this.note(`ld.so.conf: ${text}`);
  }

  valuesFor(systemDir: string): TokenValues {
    return { ...this.tokens, origin: systemDir };
  }

  /** Records a loaded object's names and identity. */
  remember(names: readonly (string | undefined)[], identity: string): void {
    for (const name of names) if (name !== undefined) this.known.add(name);
    this.identities.add(identity);
  }

  /** The file at `systemPath` when it is an ELF file of the ABI; undefined otherwise (the search goes on). */
  async examine(systemPath: string): Promise<Candidate | undefined> {
    if (this.lookups >= MAX_LIBRARY_LOOKUPS) {
      this.note(`the search stopped after ${MAX_LIBRARY_LOOKUPS} candidate files`);
      return undefined;
    }
    this.lookups++;
    const real = await this.root.resolve(systemPath);
    if (real === undefined) return undefined;
    let fh;
    try {
      fh = await openRegularFile(this.root.hostPath(real), { noFollow: true });
    } catch {
      return undefined; // missing, unreadable, a directory or a FIFO: ld.so goes on as well
    }
    try {
      const st = await fh.stat();
      const dynamic = readDynamic(fdSource(fh.fd, st.size));
      if (dynamic === undefined || !sameAbi(dynamic, this.abi)) return undefined;
      return { realSystemPath: real, identity: `${st.dev}:${st.ino}`, dynamic };
    } catch {
      return undefined;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * A path used as is: a relative one is relative to the working directory, which is this process's on
   * this machine and the top directory in another tree.
   */
  asIs(file: string): string {
    return file.startsWith('/') ? file : this.root.isHostRoot ? path.resolve(file) : `/${file}`;
  }

  /** Looks up one DT_NEEDED name of `object`. */
  async find(name: string, object: LoadedObject) {
    if (name.includes('/')) {
      const expanded = expandTokens(name, this.valuesFor(object.origin));
      if (expanded === undefined) return undefined;
      const systemPath = this.asIs(expanded);
      const found = await this.examine(systemPath);
      return found === undefined ? undefined : { ...found, systemPath, via: 'path' as const };
    }
    const chain: ObjectSearchPaths[] = [];
    for (let o: LoadedObject | undefined = object; o !== undefined; o = o.loader) chain.push(o.paths);
    const { dirs, capped } = searchDirs(chain, this.confDirs, this.defaults);
    if (capped) this.note(`more search directories than the cap for ${name}`);
    for (const { dir, source } of dirs) {
      if ((await this.root.resolve(dir)) === undefined) continue;
      const systemPath = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const found = await this.examine(systemPath);
      if (found !== undefined) return { ...found, systemPath, via: source };
    }
    return undefined;
  }

  /** Breadth first over DT_NEEDED from `main`, as _dl_map_object_deps does. */
  async walk(main: LoadedObject): Promise<void> {
    const queue: LoadedObject[] = [main];
    for (let next = 0; next < queue.length; next++) {
      const object = queue[next]!;
      for (const name of object.needed) {
        if (this.known.has(name) || this.missing.has(name)) continue;
        if (this.libraries.length >= MAX_LIBRARIES) {
          this.note(`only the first ${MAX_LIBRARIES} libraries were looked up`);
          return;
        }
        if (object.depth >= MAX_LOAD_DEPTH) {
          this.note(`dependencies more than ${MAX_LOAD_DEPTH} levels deep were not looked up`);
          break;
        }
        const found = await this.find(name, object);
        if (found === undefined) {
          this.missing.add(name);
          this.libraries.push({ name, neededBy: object.shownAs });
          continue;
        }
        this.known.add(name);
        if (this.identities.has(found.identity)) continue; // already loaded under another name
        this.remember([found.systemPath, found.dynamic.soname], found.identity);
        const shownAs = this.root.hostPath(found.systemPath);
        const library: NeededLibrary = {
          name,
          path: shownAs,
          realPath: this.root.hostPath(found.realSystemPath),
          neededBy: object.shownAs,
          via: found.via,
        };
        if (found.dynamic.malformed !== undefined) library.malformed = found.dynamic.malformed;
        if (found.dynamic.incomplete !== undefined) this.note(`${shownAs}: ${found.dynamic.incomplete}`);
        this.libraries.push(library);
        // $ORIGIN of a library is the directory it was found in, symlinks not resolved (glibc's l_origin).
        const origin = path.posix.dirname(found.systemPath);
        queue.push({
          shownAs,
          origin,
          paths: objectSearchPaths(found.dynamic, this.valuesFor(origin)),
          loader: object,
          depth: object.depth + 1,
          needed: found.dynamic.needed,
        });
      }
    }
  }
}

/** Opens the file to check, inside the root; E_INPUT when it is outside, missing or not ELF. */
async function openMain(root: SystemRoot, file: string, rootName: string) {
  const systemPath = await root.systemPathOf(file);
  if (systemPath === undefined)
    throw new PackdebugError('E_INPUT', `${file}: not inside the system root ${rootName}`, { file });
  const real = await root.resolve(systemPath);
  if (real === undefined && !root.isHostRoot)
    throw new PackdebugError('E_INPUT', `${file}: no such file inside the system root ${rootName}`, { file });
  // On this machine, opening `file` itself gives the usual messages (missing, a FIFO, ...).
  const fh = await openRegularFile(real === undefined ? file : root.hostPath(real), {
    name: file,
    noFollow: !root.isHostRoot,
  });
  try {
    const st = await fh.stat();
    const dynamic = readDynamic(fdSource(fh.fd, st.size));
    if (dynamic === undefined) throw new PackdebugError('E_INPUT', `${file}: not an ELF file`, { file });
    return { realSystemPath: real ?? path.resolve(file), identity: `${st.dev}:${st.ino}`, dynamic };
  } catch (err) {
    throw fromSystemError(err, file, 'reading');
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * The libraries `file` (an executable or a shared library, a path on this
 * machine) loads, found inside `options.root` (default '/') as the dynamic
 * loader would find them. Libraries that are not found are listed without
 * a path. Throws E_INPUT when `file` is missing, not ELF, or outside the root.
 */
export async function resolveNeeded(file: string, options: ResolveNeededOptions = {}): Promise<NeededResult> {
  const rootName = options.root ?? '/';
  const root = await SystemRoot.open(rootName);
  const main = await openMain(root, file, rootName);
  const abi: ElfAbi = {
    elfClass: main.dynamic.elfClass,
    byteOrder: main.dynamic.byteOrder,
    machine: main.dynamic.machine,
  };
  const search = new NeededSearch(root, abi);
  await search.prepare();
  search.remember([main.realSystemPath, main.dynamic.soname], main.identity);

  const interpreter = main.dynamic.interpreter;
  if (interpreter !== undefined) {
    // The kernel opens PT_INTERP as is; ld.so then answers to that path and to its DT_SONAME.
    const systemPath = search.asIs(interpreter);
    const found = await search.examine(systemPath);
    if (found === undefined) search.libraries.push({ name: interpreter, neededBy: file });
    else {
      search.remember([interpreter, systemPath, found.dynamic.soname], found.identity);
      const library: NeededLibrary = {
        name: interpreter,
        path: root.hostPath(systemPath),
        realPath: root.hostPath(found.realSystemPath),
        neededBy: file,
        via: 'interpreter',
      };
      if (found.dynamic.malformed !== undefined) library.malformed = found.dynamic.malformed;
      search.libraries.push(library);
    }
  }

  // $ORIGIN of the file itself is its directory with symlinks resolved (ld.so reads /proc/self/exe).
  const origin = path.posix.dirname(main.realSystemPath);
  await search.walk({
    shownAs: file,
    origin,
    paths: objectSearchPaths(main.dynamic, search.valuesFor(origin)),
    loader: undefined,
    depth: 0,
    needed: main.dynamic.needed,
  });

  const result: NeededResult = { libraries: search.libraries };
  const incomplete = [main.dynamic.incomplete, search.incomplete].filter((t) => t !== undefined).join('; ');
  if (incomplete !== '') result.incomplete = incomplete;
  if (main.dynamic.malformed !== undefined) result.malformed = main.dynamic.malformed;
  if (interpreter !== undefined) result.interpreter = interpreter;
  return result;
}
