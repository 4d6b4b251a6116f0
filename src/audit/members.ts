/**
 * Checks on the members of one tarball, fed entry by entry as a header walk
 * or a full scan meets them: unsafe names, types, modes and links; ELF files
 * without a GNU build-id; estrip's `.build-id` links against the notes of
 * the files they lead to.
 *
 * Memory: names are kept as 64-bit hashes (name-hash.ts): 11 to 21 bytes per
 * member for the set of names seen, 16 to 43 per symlink or hardlink for
 * their targets, and strings only per `.build-id/xx/yyyy.debug` link (its
 * name and target, for the messages) and per build-id. What a hash collision
 * (about 2^-64 per pair of names) can cost: a hardlink to a missing member
 * taken for present (no hardlink-missing), a member taken for one below a
 * symlink (a through-symlink finding too many), a `.build-id` link followed
 * to the wrong member. Every check of a name itself (absolute, `..`, roots,
 * symlink targets) reads the name, not a hash.
 */
import type { ElfInfo } from '../elf/index.js';
import type { TarEntry } from '../tar/parse.js';
import { classifySymlink, leavesDebugRoots, symlinkEscapeMessage } from '../tar/symlink.js';
import { resolveLinkTarget } from '../tarball/order.js';
import { finding, type Finding, type FindingCode } from './findings.js';
import { Hash64Table, hashName, type Hash64 } from './name-hash.js';
import { hasControlChars } from '../util/escape.js';
import { isRegular, isSpecial, memberKind, specialName, TarType } from '../tar/types.js';

const MAX_PER_CODE = 20;
const ROOTS = ['usr/src/debug', 'usr/lib/debug'];
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

/** A symlink whose target is not a name in the archive (absolute, or climbing out): nothing to follow. */
const NO_TARGET = 0;
/** elfIds value for an ELF file without a GNU build-id. */
const NO_ID = 0xffffffff;

export class MemberChecks {
  readonly findings: Finding[] = [];
  members = 0;
  /** GNU build-ids of the ELF files seen (for duplicates across tarballs). */
  readonly buildIds = new Set<string>();
  elfFiles = 0;
  /** ELF files whose build-id could not be read (a shallow walk skipped them). */
  elfNotInspected = 0;

  readonly #file: string;
  /** Members seen so far (hashes of canonical names): hardlink targets must be earlier members. */
  readonly #seen = new Hash64Table(0);
  /** Symlink member -> hash of its target in the archive, or NO_TARGET (0, 0). */
  readonly #symlinks = new Hash64Table(2);
  /** Hardlink member -> hash of its target. */
  readonly #hardlinks = new Hash64Table(2);
  /** Inspected regular ELF file -> index in #ids, or NO_ID. */
  readonly #elfIds = new Hash64Table(1);
  readonly #ids: string[] = [];
  /**
   * `.build-id/xx/yyyy.debug` links, for the check at the end: the build-id the name says, after a character
   * for how the name was spelled (see #spell), and the hash of the member the link leads to first. Their
   * other names in #oddNames. About 80 bytes a link.
   */
  readonly #debugLinks: string[] = [];
  readonly #debugTargets: number[] = [];
  readonly #oddNames = new Map<number, string>();
  /** Target -> hash of the build-id the first `.build-id/xx/yyyy.debug` symlink to it claims. */
  readonly #claims = new Hash64Table(2);

  constructor(file: string) {
    this.#file = file;
  }

  /** Findings per code; past MAX_PER_CODE they are only counted (a hostile tarball can have millions of members). */
  readonly #perCode = new Map<FindingCode, number>();

  #add(code: FindingCode, message: string, member: string | undefined): void {
    const n = (this.#perCode.get(code) ?? 0) + 1;
    this.#perCode.set(code, n);
    if (n <= MAX_PER_CODE) this.findings.push(finding(code, this.#file, message, member));
  }

  /** The hash of canonical name `c`, and the longest ancestor of `c` that is a symlink member seen so far. */
  #hashAndAncestor(c: string): { hash: Hash64; via: string | undefined } {
    const hash = hashName(c, this.#symlinks.size > 0 ? this.#symlinks : undefined);
    return { hash, via: hash.ancestor < 0 ? undefined : c.slice(0, hash.ancestor) };
  }

  entry(e: TarEntry): void {
    this.members++;
    const name = e.path;
    const c = canonical(name);
    const parts = c.split('/');
    const { hash: h, via } = this.#hashAndAncestor(c);
    if (name.startsWith('/'))
      this.#add(
        'absolute-path',
        `member name '${name}' is absolute; tar would strip the / or write outside the target`,
        name,
      );
    if (parts.includes('..'))
      this.#add('dotdot-path', `member name '${name}' contains '..': extracting it writes outside the target`, name);
    else if (!underRoots(c) && !(e.type === TarType.directory && isRootAncestor(c))) {
      this.#add('outside-debug-roots', `member '${name}' is outside ./usr/lib/debug and ./usr/src/debug`, name);
    }
    // GNU tar refuses to write through a symlink it extracted (or, for a harmless-looking one, writes where it points).
    if (via !== undefined)
      this.#add(
        'through-symlink',
        `member '${name}' is below the symlink member './${via}': extracting it writes through the link`,
        name,
      );
    // Shown raw, such a name runs terminal escape sequences or forges lines (other tools may not escape it).
    if (hasControlChars(name)) this.#add('control-char-name', `member name '${name}' holds control characters`, name);
    else if ((e.type === TarType.hardlink || e.type === TarType.symlink) && hasControlChars(e.linkpath))
      this.#add(
        'control-char-name',
        `${memberKind(e.type)} '${name}' points to '${e.linkpath}', with control characters`,
        name,
      );
    if (isSpecial(e.type)) this.#add('special-file', `member '${name}' is a ${specialName(e.type)}`, name);
    // Directories are left out: setgid there only passes the group on (and a build host's may carry it).
    if ((e.mode & 0o6000) !== 0 && e.type !== TarType.symlink && e.type !== TarType.directory) {
      this.#add(
        'setuid-setgid',
        `member '${name}' has mode ${(e.mode & 0o7777).toString(8).padStart(4, '0')} (setuid or setgid)`,
        name,
      );
    }
    const debugLink = DEBUG_LINK_RE.exec(c);
    if (e.type === TarType.hardlink) {
      const target = canonical(e.linkpath);
      const { hash: t, via: targetVia } = this.#hashAndAncestor(target);
      if (target.split('/').includes('..'))
        this.#add('dotdot-path', `hardlink '${name}' points to '${e.linkpath}', which contains '..'`, name);
      else if (targetVia !== undefined)
        this.#add(
          'through-symlink',
          `hardlink '${name}' points to '${e.linkpath}', below the symlink member './${targetVia}'`,
          name,
        );
      else if (!this.#seen.has(t.hi, t.lo))
        this.#add(
          'hardlink-missing',
          `hardlink '${name}' points to '${e.linkpath}', which is not an earlier member`,
          name,
        );
      else {
        this.#hardlinks.set(h.hi, h.lo, t.hi, t.lo);
        if (debugLink) this.#debugLink(name, c, debugLink, t);
      }
    }
    if (e.type === TarType.symlink) {
      const resolved = resolveLinkTarget(`./${c}`, e.linkpath);
      const target = resolved === undefined ? undefined : canonical(resolved);
      // The rule pack warns by (src/tar/symlink.ts): estrip's binary links are excused, `/etc` is not.
      if (leavesDebugRoots(classifySymlink(c, e.linkpath)))
        this.#add('symlink-escape', symlinkEscapeMessage(name, e.linkpath), name);
      const t = target === undefined ? undefined : hashName(target);
      this.#symlinks.set(h.hi, h.lo, t?.hi ?? NO_TARGET, t?.lo ?? NO_TARGET);
      if (debugLink) {
        this.#debugLink(name, c, debugLink, t ?? { hi: NO_TARGET, lo: NO_TARGET });
        if (t !== undefined && !this.#claims.has(t.hi, t.lo)) {
          const id = hashName(debugLink[1]! + debugLink[2]!);
          this.#claims.set(t.hi, t.lo, id.hi, id.lo);
        }
      }
    }
    this.#seen.set(h.hi, h.lo);
  }

  /** How a tar writer spelled canonical name `c`: `./c` (GNU tar, pack) '.', `c` '-', `/c` '/', else '?'. */
  #spell(name: string, c: string): string {
    return name === `./${c}` ? '.' : name === c ? '-' : name === `/${c}` ? '/' : '?';
  }

  #debugLink(member: string, c: string, m: RegExpExecArray, target: Hash64): void {
    const spelling = this.#spell(member, c);
    if (spelling === '?') this.#oddNames.set(this.#debugLinks.length, member);
    this.#debugLinks.push(spelling + m[1]! + m[2]!);
    this.#debugTargets.push(target.hi, target.lo);
  }

  #debugLinkName(i: number): { member: string; id: string } {
    const s = this.#debugLinks[i]!;
    const id = s.slice(1);
    const c = `usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
    const member = s[0] === '.' ? `./${c}` : s[0] === '-' ? c : s[0] === '/' ? `/${c}` : this.#oddNames.get(i)!;
    return { member, id };
  }

  /** Whether a `.build-id/xx/yyyy.debug` symlink seen so far claims build-id `id` for member `name`. */
  linkClaims(name: string, id: string): boolean {
    const t = hashName(canonical(name));
    const claimed = hashName(id);
    return this.#claims.get(t.hi, t.lo, 0) === claimed.hi && this.#claims.get(t.hi, t.lo, 1) === claimed.lo;
  }

  /** An ELF regular file's inspection result (undefined: it could not be read). */
  elf(e: TarEntry, info: Pick<ElfInfo, 'gnuBuildId' | 'goBuildId' | 'incomplete' | 'malformed'> | undefined): void {
    if (!isRegular(e.type)) return;
    this.elfFiles++;
    const c = canonical(e.path);
    const h = hashName(c);
    if (info === undefined || (info.gnuBuildId === undefined && info.incomplete !== undefined)) {
      this.elfNotInspected++;
      return;
    }
    if (info.gnuBuildId) {
      this.buildIds.add(info.gnuBuildId);
      this.#elfIds.set(h.hi, h.lo, this.#ids.push(info.gnuBuildId) - 1);
    } else {
      this.#elfIds.set(h.hi, h.lo, NO_ID);
      const why = info.goBuildId ? ' (it has a Go build id only)' : info.malformed ? ` (${info.malformed})` : '';
      this.#add(
        'no-build-id',
        `ELF file '${e.path}' has no GNU build-id note${why}: debuginfod cannot index it`,
        e.path,
      );
    }
    // `.build-id/xx/yyyy.debug` stored as the file itself (not a link): its note must say the same.
    const m = DEBUG_LINK_RE.exec(c);
    if (m && info.gnuBuildId !== m[1]! + m[2]!) {
      this.#add(
        'build-id-link-mismatch',
        `'${e.path}' is an ELF file whose build-id is ${info.gnuBuildId ?? 'missing'}`,
        e.path,
      );
    }
  }

  /** Headers that tar implementations read differently (see TarVisitor.ambiguous); the walk goes on as GNU tar does. */
  ambiguous(message: string, member: string | undefined): void {
    this.#add('tar-ambiguous', message, member);
  }

  /** Checks the `.build-id/xx/yyyy.debug` links once every member is known. */
  finish(): void {
    this.#checkDebugLinks();
    for (const [code, n] of this.#perCode) {
      if (n > MAX_PER_CODE)
        this.findings.push(finding(code, this.#file, `${n - MAX_PER_CODE} more members like the above`));
    }
  }

  #checkDebugLinks(): void {
    for (let i = 0; i < this.#debugLinks.length; i++) {
      const { member, id } = this.#debugLinkName(i);
      let hi = this.#debugTargets[2 * i]!;
      let lo = this.#debugTargets[2 * i + 1]!;
      let followed = 0;
      const via = () => (followed > 0 ? ` (through ${followed} more link${followed === 1 ? '' : 's'})` : '');
      for (; followed < 16 && !(hi === NO_TARGET && lo === NO_TARGET); followed++) {
        const sym = this.#symlinks.has(hi, lo);
        const nextHi = sym ? this.#symlinks.get(hi, lo, 0) : this.#hardlinks.get(hi, lo, 0);
        if (nextHi === undefined) break;
        const nextLo = (sym ? this.#symlinks.get(hi, lo, 1) : this.#hardlinks.get(hi, lo, 1))!;
        hi = nextHi;
        lo = nextLo;
      }
      const at = hi === NO_TARGET && lo === NO_TARGET ? undefined : this.#elfIds.get(hi, lo);
      if (at === undefined) {
        // Not in the archive, not ELF, or not inspected: only the first two are findings.
        if (!this.#seen.has(hi, lo) || this.#symlinks.has(hi, lo) || (hi === NO_TARGET && lo === NO_TARGET)) {
          this.#add('build-id-link-dangling', `'${member}'${via()} leads to no member of the tarball`, member);
        }
        continue;
      }
      const found = at === NO_ID ? '' : this.#ids[at]!;
      if (found !== id) {
        this.#add(
          'build-id-link-mismatch',
          `'${member}'${via()} leads to an ELF file whose build-id is ${found || 'missing'}`,
          member,
        );
      }
    }
  }
}
