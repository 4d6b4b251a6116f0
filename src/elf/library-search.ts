/**
 * Where glibc's dynamic loader looks for a DT_NEEDED library, without I/O:
 * ld.so.conf parsing (its `include` globs read through callbacks), the
 * dynamic string tokens ($ORIGIN, $LIB, $PLATFORM), the default directories
 * of an ABI, and the search order of one lookup (glibc elf/dl-load.c,
 * _dl_map_object):
 *
 *  1. DT_RPATH of the object that needs the library, then of the object that
 *     loaded that one, and so on up to the executable, only when the needing
 *     object has no DT_RUNPATH (an object with DT_RUNPATH has no RPATH at all
 *     for ld.so, get-dynamic-info.h);
 *  2. (LD_LIBRARY_PATH: not consulted, see below);
 *  3. DT_RUNPATH of the needing object itself (not inherited);
 *  4. the directories of /etc/ld.so.conf (see below);
 *  5. the default directories, unless the needing object has DF_1_NODEFLIB.
 *
 * Deliberate differences from ld.so:
 *  - LD_LIBRARY_PATH is never consulted: a coverage check in CI must give the
 *    same answer whatever the environment of the process that runs it, and
 *    the variable belongs to the environment of the program being checked.
 *  - ld.so itself reads /etc/ld.so.cache, not ld.so.conf. The cache is a
 *    binary file that ldconfig derives from the ld.so.conf directories and
 *    the default ones; it is optional and may be stale or absent (a fresh
 *    chroot, a system tree built elsewhere), so the directories it is built
 *    from are searched instead, by file name.
 *  - Relative directories (empty RPATH elements included) are relative to
 *    the working directory of the future process, which nothing here knows:
 *    they are skipped.
 *  - glibc-hwcaps subdirectories (x86-64-v3, ...) depend on the CPU that runs
 *    the program and are not searched; the baseline library is what is found.
 */
import type { ByteOrder } from './endian.js';
import { MAX_LD_SO_CONF_DEPTH, MAX_LD_SO_CONF_DIRS, MAX_LD_SO_CONF_FILES, MAX_SEARCH_DIRS } from './limits.js';

/** What a library search is for: the ABI a candidate must match (class, byte order, e_machine). */
export interface ElfAbi {
  elfClass: 32 | 64;
  byteOrder: ByteOrder;
  machine: number;
}

const EM_386 = 3;
const EM_68K = 4;
const EM_MIPS = 8;
const EM_PPC = 20;
const EM_PPC64 = 21;
const EM_S390 = 22;
const EM_ARM = 40;
const EM_SPARCV9 = 43;
const EM_X86_64 = 62;
const EM_AARCH64 = 183;
const EM_RISCV = 243;
const EM_LOONGARCH = 258;

// ---------------------------------------------------------------------------
// ld.so.conf

export type LdSoConfLine = { kind: 'dir'; dir: string } | { kind: 'include'; patterns: string[] };

/** C isspace / isblank. */
const isSpace = (c: string | undefined): boolean => c !== undefined && ' \t\n\v\f\r'.includes(c);
const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t';

/**
 * The lines of one ld.so.conf file as ldconfig reads them (parse_conf,
 * add_dir_1): '#' starts a comment anywhere (there is no quoting); leading
 * whitespace is skipped; `include` followed by a blank takes glob patterns
 * separated by blanks; any other line is one directory, cut at '=' (the old
 * `DIR=TYPE` form), without trailing whitespace and slashes.
 */
export function parseLdSoConf(text: string): LdSoConfLine[] {
  const out: LdSoConfLine[] = [];
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    let line = hash >= 0 ? raw.slice(0, hash) : raw;
    let start = 0;
    while (isSpace(line[start])) start++;
    line = line.slice(start);
    if (line === '') continue;
    if (line.startsWith('include') && isBlank(line[7])) {
      const patterns = line
        .slice(8)
        .split(/[ \t]/)
        .filter((p) => p !== '');
      if (patterns.length > 0) out.push({ kind: 'include', patterns });
      continue;
    }
    const equal = line.indexOf('=');
    let dir = equal >= 0 ? line.slice(0, equal) : line;
    let end = dir.length;
    while (end > 0 && isSpace(dir[end - 1])) end--;
    while (end > 0 && dir[end - 1] === '/') end--;
    dir = dir.slice(0, end);
    if (dir !== '') out.push({ kind: 'dir', dir });
  }
  return out;
}

/** How loadLdSoConf reads files and expands include patterns; paths are the system's (absolute). */
export interface LdSoConfAccess {
  /** The text of a configuration file; undefined when it does not exist. May throw (noted, then skipped). */
  read(file: string): Promise<string | undefined>;
  /** The files a glob(3) pattern matches (none when none). May throw (noted, then skipped). */
  glob(pattern: string): Promise<string[]>;
}

export interface LdSoConf {
  /** Absolute directories in ldconfig's order, each once. */
  dirs: string[];
  /** Files that could not be read, relative directories, caps reached: what the list may lack. */
  notes: string[];
}

function dirnameOf(file: string): string {
  const slash = file.lastIndexOf('/');
  return slash <= 0 ? '/' : file.slice(0, slash);
}

/**
 * The directories of `file` (normally /etc/ld.so.conf) and of the files its
 * `include` lines name, depth first in file order, as ldconfig collects them.
 * A relative include pattern is relative to the directory of the file it is
 * in (/etc for /etc/ld.so.conf); matches are read in sorted order (glob(3)).
 * Each file is read once, so an include cycle ends; files, nesting and
 * directories are capped (limits.ts).
 */
export async function loadLdSoConf(file: string, access: LdSoConfAccess): Promise<LdSoConf> {
  const conf: LdSoConf = { dirs: [], notes: [] };
  const seen = new Set<string>();
  const note = (text: string) => {
    if (conf.notes.length < 16 && !conf.notes.includes(text)) conf.notes.push(text);
  };
  const visit = async (name: string, depth: number): Promise<void> => {
    if (seen.has(name)) return;
    if (seen.size >= MAX_LD_SO_CONF_FILES) return note(`more than ${MAX_LD_SO_CONF_FILES} ld.so.conf files`);
    seen.add(name);
    let text: string | undefined;
    try {
      text = await access.read(name);
    } catch (err) {
      return note(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (text === undefined) return;
    for (const line of parseLdSoConf(text)) {
      if (line.kind === 'dir') {
        if (!line.dir.startsWith('/')) note(`${name}: relative directory ${line.dir} ignored`);
        else if (conf.dirs.includes(line.dir)) continue;
        else if (conf.dirs.length >= MAX_LD_SO_CONF_DIRS)
          note(`more than ${MAX_LD_SO_CONF_DIRS} ld.so.conf directories`);
        else conf.dirs.push(line.dir);
        continue;
      }
      if (depth >= MAX_LD_SO_CONF_DEPTH) {
        note(`${name}: includes nested more than ${MAX_LD_SO_CONF_DEPTH} deep`);
        continue;
      }
      for (const raw of line.patterns) {
        const pattern = raw.startsWith('/') ? raw : `${dirnameOf(name)}/${raw}`;
        let matches: string[];
        try {
          matches = await access.glob(pattern);
        } catch (err) {
          note(`${name}: include ${raw}: ${err instanceof Error ? err.message : String(err)}`);
          continue;
        }
        for (const match of [...matches].sort(compareBytes)) await visit(match, depth + 1);
      }
    }
  };
  await visit(file, 0);
  return conf;
}

/** Byte order of UTF-16 code units, which for file names is glob(3)'s order in the C locale. */
function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when one component of a glob pattern has wildcards. */
export function hasGlobMagic(component: string): boolean {
  return /[*?[]/.test(component);
}

/**
 * A matcher for one component of a glob(3) pattern: `*`, `?`, bracket
 * expressions (`[a-z]`, `[!x]`, `[^x]`) and backslash escapes; a leading
 * '.' of a name must be matched by a literal '.' (no GLOB_PERIOD).
 */
export function globComponentMatcher(component: string): (name: string) => boolean {
  let source = '';
  for (let i = 0; i < component.length; i++) {
    const c = component[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '\\' && i + 1 < component.length) source += escapeRegExp(component[++i]!);
    else if (c === '[') {
      const close = bracketEnd(component, i);
      if (close < 0) {
        source += '\\[';
        continue;
      }
      let body = component.slice(i + 1, close);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = close;
    } else source += escapeRegExp(c);
  }
  let re: RegExp;
  try {
    re = new RegExp(`^${source}$`, 's');
  } catch {
    return (name) => name === component;
  }
  const literalDot = component.startsWith('.') || component.startsWith('\\.');
  return (name) => (literalDot || !name.startsWith('.')) && re.test(name);
}

/** Index of the ']' closing the bracket expression opened at `open`, or -1. */
function bracketEnd(pattern: string, open: number): number {
  let i = open + 1;
  if (pattern[i] === '!' || pattern[i] === '^') i++;
  if (pattern[i] === ']') i++; // a leading ']' is a member
  const close = pattern.indexOf(']', i);
  return close;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

// ---------------------------------------------------------------------------
// Dynamic string tokens

export interface TokenValues {
  /** $ORIGIN: the directory of the object whose path element this is. */
  origin?: string;
  /** $LIB: the loader's library directory name (lib64, lib, or a multiarch triplet). */
  lib?: string;
  /** $PLATFORM: the AT_PLATFORM the kernel gives (x86_64, i686, aarch64, ...). */
  platform?: string;
}

/** The length of the token `ref` at `input[at]` (after the '$'), braces included; 0 when it is not there. */
function tokenLength(input: string, at: number, ref: string): number {
  const curly = input[at] === '{';
  const start = curly ? at + 1 : at;
  if (!input.startsWith(ref, start)) return 0;
  const next = input[start + ref.length];
  if (curly) return next === '}' ? ref.length + 2 : 0;
  return next !== undefined && /[A-Za-z0-9_]/.test(next) ? 0 : ref.length;
}

/**
 * One path with its dynamic string tokens replaced, as glibc's
 * _dl_dst_substitute does: $ORIGIN, $LIB and $PLATFORM, also in braces, and
 * not followed by an identifier character. Any other '$' stays. Undefined
 * when the path names a token whose value is unknown: ld.so then drops the
 * whole path element.
 */
export function expandTokens(input: string, values: TokenValues): string | undefined {
  if (!input.includes('$')) return input;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== '$') {
      out += input[i];
      continue;
    }
    let value: string | undefined;
    let length = 0;
    for (const [ref, v] of [
      ['ORIGIN', values.origin],
      ['PLATFORM', values.platform],
      ['LIB', values.lib],
    ] as const) {
      length = tokenLength(input, i + 1, ref);
      if (length > 0) {
        value = v;
        break;
      }
    }
    if (length === 0) out += '$';
    else if (value === undefined) return undefined;
    else {
      out += value;
      i += length;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The ABI's directories and tokens

/**
 * Debian multiarch triplets for an ABI (the common ones): the directories
 * /lib/TRIPLET and /usr/lib/TRIPLET that Debian's ld.so searches by default.
 * ARM has two (hard- and soft-float), told apart by e_flags, which the
 * class/byte-order/machine check cannot; both are listed.
 */
export function multiarchTriplets(abi: ElfAbi): string[] {
  const le = abi.byteOrder === 'little';
  const is64 = abi.elfClass === 64;
  switch (abi.machine) {
    case EM_X86_64:
      return [is64 ? 'x86_64-linux-gnu' : 'x86_64-linux-gnux32'];
    case EM_386:
      return ['i386-linux-gnu'];
    case EM_AARCH64:
      return is64 ? [le ? 'aarch64-linux-gnu' : 'aarch64_be-linux-gnu'] : [];
    case EM_ARM:
      return le ? ['arm-linux-gnueabihf', 'arm-linux-gnueabi'] : [];
    case EM_PPC64:
      return [le ? 'powerpc64le-linux-gnu' : 'powerpc64-linux-gnu'];
    case EM_PPC:
      return ['powerpc-linux-gnu'];
    case EM_S390:
      return [is64 ? 's390x-linux-gnu' : 's390-linux-gnu'];
    case EM_RISCV:
      return is64 ? ['riscv64-linux-gnu'] : [];
    case EM_MIPS:
      if (is64) return [le ? 'mips64el-linux-gnuabi64' : 'mips64-linux-gnuabi64'];
      return [le ? 'mipsel-linux-gnu' : 'mips-linux-gnu'];
    case EM_SPARCV9:
      return ['sparc64-linux-gnu'];
    case EM_LOONGARCH:
      return is64 ? ['loongarch64-linux-gnu'] : [];
    case EM_68K:
      return ['m68k-linux-gnu'];
    default:
      return [];
  }
}

/**
 * The default directories of an ABI, in search order: the multiarch
 * directories of the triplets given (the caller passes those present on the
 * system), then the lib64 (64-bit), libx32 (x32) or lib32 (other 32-bit)
 * pair, then /lib and /usr/lib. Which of these a given ld.so has built in
 * varies (Gentoo: lib64 or lib; Debian: multiarch, lib); a candidate of
 * another ABI is skipped anyway, so a directory too many costs a lookup.
 */
export function defaultDirs(abi: ElfAbi, presentTriplets: readonly string[]): string[] {
  const dirs = presentTriplets.flatMap((t) => [`/lib/${t}`, `/usr/lib/${t}`]);
  if (abi.elfClass === 64) dirs.push('/lib64', '/usr/lib64');
  else if (abi.machine === EM_X86_64) dirs.push('/libx32', '/usr/libx32');
  else dirs.push('/lib32', '/usr/lib32');
  dirs.push('/lib', '/usr/lib');
  return dirs;
}

/**
 * $LIB as glibc expands it: the last component of the loader's slibdir.
 * That is the multiarch triplet on Debian (pass the one present), else
 * lib64 for 64-bit ABIs, libx32 for x32 and lib for other 32-bit ones.
 */
export function libToken(abi: ElfAbi, presentTriplet: string | undefined): string {
  if (presentTriplet !== undefined) return presentTriplet;
  if (abi.elfClass === 64) return 'lib64';
  return abi.machine === EM_X86_64 ? 'libx32' : 'lib';
}

/**
 * $PLATFORM: the AT_PLATFORM string of the kernel, where it follows from the
 * ABI (on x86-64 kernels 32-bit programs get i686). Undefined for ABIs whose
 * platform names the CPU model (ppc64: power9, s390x: z15, ...): path
 * elements with $PLATFORM are then dropped.
 */
export function platformToken(abi: ElfAbi): string | undefined {
  switch (abi.machine) {
    case EM_X86_64:
      return abi.elfClass === 64 ? 'x86_64' : undefined;
    case EM_386:
      return 'i686';
    case EM_AARCH64:
      return abi.byteOrder === 'little' ? 'aarch64' : 'aarch64_be';
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Search order

/** How an object extends the search for the libraries it needs (already expanded, absolute directories). */
export interface ObjectSearchPaths {
  /** DT_RPATH directories; none when the object has DT_RUNPATH (ld.so ignores DT_RPATH then). */
  rpath: string[];
  /** DT_RUNPATH directories, or undefined when the object has no DT_RUNPATH. */
  runpath: string[] | undefined;
  /** DF_1_NODEFLIB: the default directories are not searched for this object's dependencies. */
  nodeflib: boolean;
}

/**
 * An object's search paths from its dynamic section: each element of
 * DT_RPATH (only without DT_RUNPATH) and DT_RUNPATH with its tokens
 * expanded against `values` (whose origin is the object's own directory).
 * Elements with an unknown token, empty or relative ones are dropped.
 */
export function objectSearchPaths(
  info: { rpath?: string[]; runpath?: string[]; nodeflib?: boolean },
  values: TokenValues,
): ObjectSearchPaths {
  const expand = (elements: readonly string[]): string[] => {
    const out: string[] = [];
    for (const element of elements) {
      const dir = expandTokens(element, values);
      if (dir === undefined || !dir.startsWith('/')) continue;
      const trimmed = dir.length > 1 ? dir.replace(/\/+$/, '') || '/' : dir;
      if (!out.includes(trimmed)) out.push(trimmed);
    }
    return out;
  };
  return {
    rpath: info.runpath === undefined && info.rpath !== undefined ? expand(info.rpath) : [],
    runpath: info.runpath === undefined ? undefined : expand(info.runpath),
    nodeflib: info.nodeflib === true,
  };
}

export type SearchSource = 'rpath' | 'runpath' | 'ld.so.conf' | 'default';

export interface SearchDir {
  dir: string;
  source: SearchSource;
}

/**
 * The directories one DT_NEEDED name is looked for in, in order, each once.
 * `chain` is the needing object first, then the object that loaded it, and
 * so on up to the executable (ld.so's l_loader chain).
 * `capped` is set when the list was cut at MAX_SEARCH_DIRS.
 */
export function searchDirs(
  chain: readonly ObjectSearchPaths[],
  confDirs: readonly string[],
  defaults: readonly string[],
): { dirs: SearchDir[]; capped: boolean } {
  const dirs: SearchDir[] = [];
  const seen = new Set<string>();
  let capped = false;
  const add = (dir: string, source: SearchSource) => {
    if (seen.has(dir)) return;
    if (dirs.length >= MAX_SEARCH_DIRS) {
      capped = true;
      return;
    }
    seen.add(dir);
    dirs.push({ dir, source });
  };
  const needing = chain[0];
  if (needing?.runpath === undefined) for (const object of chain) for (const dir of object.rpath) add(dir, 'rpath');
  for (const dir of needing?.runpath ?? []) add(dir, 'runpath');
  const nodeflib = needing?.nodeflib === true;
  // With DF_1_NODEFLIB, ld.so also refuses cache entries that lie in a default directory.
  for (const dir of confDirs) if (!(nodeflib && defaults.includes(dir))) add(dir, 'ld.so.conf');
  if (!nodeflib) for (const dir of defaults) add(dir, 'default');
  return { dirs, capped };
}
