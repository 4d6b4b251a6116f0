/**
 * Checks on the members of one tarball, fed entry by entry as a header walk
 * or a full scan meets them: unsafe names, types, modes and links; ELF files
 * without a GNU build-id; estrip's `.build-id` links against the notes of
 * the files they lead to. Memory: a few strings per member of this tarball.
 */
import type { ElfInfo } from '../elf/index.js';
import type { TarEntry } from '../tar/parse.js';
import { resolveLinkTarget } from '../tarball/order.js';
import { finding, type Finding, type FindingCode } from './findings.js';

const REGULAR = new Set(['0', '7']);
const MAX_PER_CODE = 20;
const SPECIAL = new Set(['3', '4', '6']);
const ROOTS = ['usr/src/debug', 'usr/lib/debug'];
/** estrip's link to the binary: `.build-id/xx/yyyy` (no `.debug`), dangling by design. */
const BINARY_LINK_RE = /^usr\/lib\/debug\/(?:.*\/)?\.build-id\/[0-9a-f]{2}\/[0-9a-f]+$/;
const DEBUG_LINK_RE = /^usr\/lib\/debug\/\.build-id\/([0-9a-f]{2})\/([0-9a-f]+)\.debug$/;

function components(name: string): string[] {
  return name.split('/').filter((c) => c !== '' && c !== '.');
}

/** `./a/b/`, `a/b`, `/a/b` -> `a/b` (`..` kept, callers check it). */
function canonical(name: string): string {
  return components(name).join('/');
}

function underRoots(c: string): boolean {
  return ROOTS.some((r) => c === r || c.startsWith(`${r}/`));
}

/** `.`, `usr`, `usr/lib`, `usr/src`: parents of the roots some tar writers include. */
function isRootAncestor(c: string): boolean {
  return c === '' || ROOTS.some((r) => r.startsWith(`${c}/`));
}

export class MemberChecks {
  readonly findings: Finding[] = [];
  members = 0;
  /** GNU build-ids of the ELF files seen (for duplicates across tarballs). */
  readonly buildIds = new Set<string>();
  elfFiles = 0;
  /** ELF files whose build-id could not be read (a shallow walk skipped them). */
  elfNotInspected = 0;

  readonly #file: string;
  /** Members seen so far (canonical names), for hardlink targets. */
  readonly #seen = new Set<string>();
  /** canonical name -> build-id ('' for none) of every inspected regular ELF file. */
  readonly #elfIds = new Map<string, string>();
  readonly #hardlinks = new Map<string, string>();
  readonly #symlinks = new Map<string, string>();
  readonly #debugLinks: { name: string; member: string; id: string }[] = [];
  /** canonical target -> the build-ids `.build-id/xx/yyyy.debug` links seen so far claim for it. */
  readonly #claims = new Map<string, Set<string>>();

  constructor(file: string) {
    this.#file = file;
  }

  /** Findings per code; past MAX_PER_CODE they are only counted (a hostile tarball can have millions of members). */
  readonly #perCode = new Map<FindingCode, number>();

  #add(code: FindingCode, message: string, member: string): void {
    const n = (this.#perCode.get(code) ?? 0) + 1;
    this.#perCode.set(code, n);
    if (n <= MAX_PER_CODE) this.findings.push(finding(code, this.#file, message, member));
  }

  entry(e: TarEntry): void {
    this.members++;
    const name = e.path;
    const c = canonical(name);
    const parts = c.split('/');
    if (name.startsWith('/')) this.#add('absolute-path', `member name '${name}' is absolute; tar would strip the / or write outside the target`, name);
    if (parts.includes('..')) this.#add('dotdot-path', `member name '${name}' contains '..': extracting it writes outside the target`, name);
    else if (!underRoots(c) && !(e.type === '5' && isRootAncestor(c))) {
      this.#add('outside-debug-roots', `member '${name}' is outside ./usr/lib/debug and ./usr/src/debug`, name);
    }
    if (SPECIAL.has(e.type)) this.#add('special-file', `member '${name}' is a ${e.type === '6' ? 'fifo' : e.type === '3' ? 'character device' : 'block device'}`, name);
    // Directories are left out: setgid there only passes the group on (and a build host's may carry it).
    if ((e.mode & 0o6000) !== 0 && e.type !== '2' && e.type !== '5') {
      this.#add('setuid-setgid', `member '${name}' has mode ${(e.mode & 0o7777).toString(8).padStart(4, '0')} (setuid or setgid)`, name);
    }
    if (e.type === '1') {
      const target = canonical(e.linkpath);
      if (target.split('/').includes('..')) this.#add('dotdot-path', `hardlink '${name}' points to '${e.linkpath}', which contains '..'`, name);
      else if (!this.#seen.has(target)) this.#add('hardlink-missing', `hardlink '${name}' points to '${e.linkpath}', which is not an earlier member`, name);
      else this.#hardlinks.set(c, target);
    }
    if (e.type === '2') {
      const isBinaryLink = BINARY_LINK_RE.test(c);
      const resolved = resolveLinkTarget(`./${c}`, e.linkpath);
      const target = resolved === undefined ? undefined : canonical(resolved);
      if (!isBinaryLink && (target === undefined || !underRoots(target))) {
        this.#add('symlink-escape', `symlink '${name}' -> '${e.linkpath}' leads outside the debug roots`, name);
      } else if (target !== undefined) this.#symlinks.set(c, target);
      const m = DEBUG_LINK_RE.exec(c);
      if (m) {
        const id = m[1]! + m[2]!;
        this.#debugLinks.push({ name: c, member: name, id });
        if (target !== undefined) (this.#claims.get(target) ?? this.#claims.set(target, new Set()).get(target)!).add(id);
      }
    }
    this.#seen.add(c);
  }

  /** The build-ids that `.build-id` links seen so far claim for member `name`. */
  linkClaims(name: string): ReadonlySet<string> | undefined {
    return this.#claims.get(canonical(name));
  }

  /** An ELF regular file's inspection result (undefined: it could not be read). */
  elf(e: TarEntry, info: Pick<ElfInfo, 'gnuBuildId' | 'goBuildId' | 'incomplete' | 'malformed'> | undefined): void {
    if (!REGULAR.has(e.type)) return;
    this.elfFiles++;
    const c = canonical(e.path);
    if (info === undefined || (info.gnuBuildId === undefined && info.incomplete !== undefined)) {
      this.elfNotInspected++;
      return;
    }
    if (info.gnuBuildId) {
      this.buildIds.add(info.gnuBuildId);
      this.#elfIds.set(c, info.gnuBuildId);
    } else {
      this.#elfIds.set(c, '');
      const why = info.goBuildId ? ' (it has a Go build id only)' : info.malformed ? ` (${info.malformed})` : '';
      this.#add('no-build-id', `ELF file '${e.path}' has no GNU build-id note${why}: debuginfod cannot index it`, e.path);
    }
  }

  /** Checks the `.build-id/xx/yyyy.debug` links once every member is known. */
  finish(): void {
    this.#checkDebugLinks();
    for (const [code, n] of this.#perCode) {
      if (n > MAX_PER_CODE) this.findings.push(finding(code, this.#file, `${n - MAX_PER_CODE} more members like the above`));
    }
  }

  #checkDebugLinks(): void {
    for (const link of this.#debugLinks) {
      let name = link.name;
      for (let hops = 0; hops < 16; hops++) {
        const next = this.#symlinks.get(name) ?? this.#hardlinks.get(name);
        if (next === undefined) break;
        name = next;
      }
      const id = this.#elfIds.get(name);
      if (id === undefined) {
        // Not in the archive, not ELF, or not inspected: only the first two are findings.
        if (!this.#seen.has(name) || this.#symlinks.has(name)) {
          this.#add('build-id-link-dangling', `'${link.member}' leads to './${name}', which is not in the tarball`, link.member);
        }
        continue;
      }
      if (id !== link.id) {
        this.#add('build-id-link-mismatch', `'${link.member}' leads to './${name}', whose build-id is ${id || 'missing'}`, link.member);
      }
    }
  }
}
