/**
 * The findings `packdebug audit` reports. Codes are stable (scripts match on
 * them); each has one severity. docs/audit.md has the same table.
 */

export type Severity = 'error' | 'warning' | 'info';

export interface FindingKind {
  severity: Severity;
  /** What the code means, for the summary table and the docs. */
  title: string;
  /** How to fix it, when there is a fix. */
  fix?: string;
}

export const FINDINGS = {
  // Layout of the tree
  'bad-name': {
    severity: 'warning',
    title: 'name does not follow CATEGORY/PN/PF-BUILD_ID-debug.tar.xz',
    fix: 'rename it after its package, or remove it (prune never touches it)',
  },
  'stray-file': {
    severity: 'warning',
    title: 'a file that is not a debug tarball',
    fix: 'remove it, or move it out of the tree',
  },
  'stray-dir': {
    severity: 'warning',
    title: 'a directory where the layout has none (below CATEGORY/PN, or in place of one)',
    fix: 'move it out of the tree',
  },
  symlink: {
    severity: 'warning',
    title: 'a symlink in the tree (never followed by packdebug)',
    fix: 'replace it by the file, or remove it',
  },
  'temp-file': {
    severity: 'info',
    title: 'a temporary file of a pack or repack (in progress, or left by a crash)',
    fix: 'remove it if no packdebug runs',
  },
  'empty-dir': { severity: 'info', title: 'an empty CATEGORY or PN directory', fix: 'rmdir it' },
  'empty-tarball': { severity: 'error', title: 'a tarball of zero bytes', fix: 'remove it and rebuild the package' },
  'no-members': { severity: 'warning', title: 'a tarball with no members', fix: 'remove it' },
  'io-error': { severity: 'error', title: 'the file or directory could not be read' },
  // The xz container
  'not-xz': { severity: 'error', title: 'not an xz file', fix: 'remove it and rebuild the package' },
  'xz-corrupt': {
    severity: 'error',
    title: 'the xz structure is damaged (truncated, Footer, Index or Block Headers inconsistent)',
    fix: 'remove it and rebuild the package',
  },
  'xz-unsupported': { severity: 'error', title: 'xz features packdebug cannot read (filters, checks)' },
  'not-seekable': {
    severity: 'warning',
    title: 'one xz Block: every debuginfod request decodes from the start',
    fix: 'packdebug repack FILE',
  },
  'footer-not-last': {
    severity: 'warning',
    title: 'Stream Padding after the Stream Footer: debuginfod does not seek in it',
    fix: 'packdebug repack FILE',
  },
  'blocks-unaligned': {
    severity: 'info',
    title: 'several Blocks, but not at member headers (xz -T output): packdebug extract reads sequentially',
    fix: 'packdebug repack FILE',
  },
  'headers-not-checked': {
    severity: 'info',
    title: 'members not checked: reading the tar headers of a one-Block tarball decodes all of it',
    fix: 'packdebug audit --deep, or packdebug repack FILE',
  },
  'block-corrupt': {
    severity: 'error',
    title: 'an xz Block does not decode or its check fails',
    fix: 'remove it and rebuild the package',
  },
  'tar-corrupt': {
    severity: 'error',
    title: 'the tar stream is malformed or truncated',
    fix: 'remove it and rebuild the package',
  },
  'tar-ambiguous': {
    severity: 'error',
    title: 'tar headers that tar implementations read differently (a pax number GNU tar rejects, a global pax size)',
    fix: 'remove it and rebuild the package',
  },
  // Unsafe members
  'absolute-path': {
    severity: 'error',
    title: 'a member name starts with /',
    fix: 'rebuild the tarball with packdebug pack',
  },
  'dotdot-path': {
    severity: 'error',
    title: "a member or hardlink name contains '..'",
    fix: 'rebuild the tarball with packdebug pack',
  },
  'outside-debug-roots': {
    severity: 'error',
    title: 'a member outside ./usr/lib/debug and ./usr/src/debug',
    fix: 'rebuild the tarball with packdebug pack',
  },
  'special-file': { severity: 'error', title: 'a device node or fifo', fix: 'rebuild the tarball with packdebug pack' },
  'setuid-setgid': {
    severity: 'error',
    title: 'a file (not a directory) with the setuid or setgid bit',
    fix: 'rebuild the tarball with packdebug pack',
  },
  'hardlink-missing': {
    severity: 'error',
    title: 'a hardlink to a member that is not earlier in the archive',
    fix: 'rebuild the tarball with packdebug pack',
  },
  'symlink-escape': {
    severity: 'warning',
    title: 'a symlink that leaves the debug roots (estrip links to binaries excepted); debuginfod ignores symlinks',
    fix:
      'the package installed it (pack stores it, with a warning): make it relative inside usr/lib/debug ' +
      '(or drop it) in the ebuild and rebuild the package',
  },
  'through-symlink': {
    severity: 'error',
    title: 'a member (or hardlink target) below a symlink member: extracting it writes through the link',
    fix: 'rebuild the tarball with packdebug pack',
  },
  'control-char-name': {
    severity: 'warning',
    title: 'a member name or link target with control characters (escape sequences, newlines) or DEL',
    fix: 'rebuild the package with sane file names',
  },
  // Content
  'no-build-id': {
    severity: 'warning',
    title: 'an ELF file without a GNU build-id: debuginfod cannot serve it',
    fix: 'build the package with a linker that writes build-ids (-Wl,--build-id)',
  },
  'build-id-link-mismatch': {
    severity: 'error',
    title: ".build-id/xx/yyyy.debug names another build-id than its target's note",
    fix: 'rebuild the package',
  },
  'build-id-link-dangling': {
    severity: 'warning',
    title: '.build-id/xx/yyyy.debug leads to no ELF file in the tarball',
    fix: 'rebuild the package',
  },
  'duplicate-build-id': {
    severity: 'info',
    title: 'the build-id is also in another build of the same package (debuginfod serves either)',
    fix: 'packdebug prune',
  },
  'build-id-conflict': {
    severity: 'warning',
    title: 'the build-id is also in a tarball of another package',
    fix: 'find out which package really owns the file',
  },
  // Binpkgs and installed packages
  'orphaned-tarball': {
    severity: 'warning',
    title: 'no binpkg in --pkgdir for this build',
    fix: 'packdebug prune --pkgdir DIR',
  },
  'binpkg-unreadable': {
    severity: 'warning',
    title: 'a binpkg whose package identity could not be read (not in Packages, metadata unreadable, odd name)',
    fix: 'check or remove the binpkg',
  },
  'binpkg-without-tarball': {
    severity: 'info',
    title: 'a binpkg with no debug tarball (normal for packages without ELF files)',
  },
} as const satisfies Record<string, FindingKind>;

export type FindingCode = keyof typeof FINDINGS;

export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** The file the finding is about (absolute path). */
  file: string;
  /** The member of the tarball, when there is one. */
  member?: string;
  message: string;
  fix?: string;
}

export function finding(code: FindingCode, file: string, message: string, member?: string): Finding {
  const kind: FindingKind = FINDINGS[code];
  const f: Finding = { code, severity: kind.severity, file, message };
  if (member !== undefined) f.member = member;
  if (kind.fix !== undefined) f.fix = kind.fix;
  return f;
}
