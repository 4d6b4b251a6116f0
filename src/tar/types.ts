/**
 * Tar member types: the ustar type flags packdebug reads and what each is
 * called. The one place that knows that '0' and '7' are regular files.
 */

/** Type flags ('\0' is read as '0'). */
export const TarType = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  charDevice: '3',
  blockDevice: '4',
  directory: '5',
  fifo: '6',
  /** A contiguous file, read as a regular file by GNU tar and libarchive. */
  contiguous: '7',
  /** pax extended header for the next member. */
  pax: 'x',
  /** pax global header. */
  paxGlobal: 'g',
  /** GNU long name for the next member. */
  longName: 'L',
  /** GNU long link name for the next member. */
  longLink: 'K',
} as const;

/** A regular file: '0', or '7' (contiguous), which tar readers treat alike. */
export function isRegular(type: string): boolean {
  return type === TarType.file || type === TarType.contiguous;
}

/** A device or a fifo. */
export function isSpecial(type: string): boolean {
  return type === TarType.charDevice || type === TarType.blockDevice || type === TarType.fifo;
}

/** Types read as having no data (their size field is not what follows the header). */
export function hasNoData(type: string): boolean {
  return type === TarType.hardlink || type === TarType.symlink || type === TarType.directory || isSpecial(type);
}

/** Extended headers: they describe the next member (or all that follow) and are not members themselves. */
export function isExtendedHeader(type: string): boolean {
  return type === TarType.pax || type === TarType.paxGlobal || type === TarType.longName || type === TarType.longLink;
}

/** What a member is, as packdebug's images and digests name it. */
export type MemberKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export function memberKind(type: string): MemberKind {
  if (isRegular(type)) return 'file';
  switch (type) {
    case TarType.hardlink:
      return 'hardlink';
    case TarType.symlink:
      return 'symlink';
    case TarType.directory:
      return 'directory';
    default:
      return 'other';
  }
}

const SHORT_NAMES: Record<string, string> = {
  [TarType.file]: 'file',
  [TarType.contiguous]: 'file',
  [TarType.hardlink]: 'hardlink',
  [TarType.symlink]: 'symlink',
  [TarType.charDevice]: 'char',
  [TarType.blockDevice]: 'block',
  [TarType.directory]: 'dir',
  [TarType.fifo]: 'fifo',
};

/** The short name `list` shows (`file`, `dir`, `symlink`, ...; `type-X` for others). */
export function typeName(type: string): string {
  return SHORT_NAMES[type] ?? `type-${type}`;
}

const SPECIAL_NAMES: Record<string, string> = {
  [TarType.charDevice]: 'character device',
  [TarType.blockDevice]: 'block device',
  [TarType.fifo]: 'fifo',
};

/** 'character device', 'block device' or 'fifo' for the special types (see `isSpecial`). */
export function specialName(type: string): string | undefined {
  return SPECIAL_NAMES[type];
}
