/**
 * The framing of tar members, one header block at a time: ustar headers,
 * pax (`x`, `g`) and GNU long-name (`L`, `K`) headers applied to the member
 * they precede, zero blocks. It reads no data: the streaming `TarParser`
 * feeds it from a stream, the GPKG outer tar by position (data skipped).
 */
import { PackdebugError } from '../errors.js';
import { BLOCK_SIZE, decodeHeader, type HeaderFields, type TypeFlag } from './header.js';
import { decodePaxRecords, PAX_KEYS, parsePaxNumber } from './pax.js';
import { hasNoData, isExtendedHeader, TarType } from './types.js';

/** A member of a tar stream, with pax and GNU long-name headers applied. */
export interface TarEntry {
  path: string;
  type: TypeFlag;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  uname: string;
  gname: string;
  /** Offset of the entry's first header (its pax or long-name header, if any). */
  headerOffset: number;
  /** Offset of the entry's data. */
  dataOffset: number;
}

/** What kind of input tar implementations read differently (see `TarAmbiguity`). */
export type AmbiguityKind =
  | 'pax-number' // a member's pax number GNU tar rejects
  | 'global-number' // a global pax number GNU tar rejects
  | 'global-conflict' // a global pax header setting size, path or linkpath
  | 'second-pax' // two pax headers for one member
  | 'no-data-size'; // a member of a type without data announcing some

export interface TarAmbiguity {
  kind: AmbiguityKind;
  /** The pax key concerned, for the pax and global kinds. */
  key?: string;
  /** Why the pax number was rejected, for the number kinds. */
  error?: string;
  /** Offset of the header concerned: the global or second pax header, or the member's own ustar header. */
  at: number;
}

/**
 * Called for input that tar implementations read differently (see
 * `TarVisitor.ambiguous`); the reader goes on as GNU tar does. Without a
 * handler such input is an E_FORMAT error.
 */
export type AmbiguityHandler = (message: string, member: string | undefined, detail: TarAmbiguity) => void;

/** What one header block was. */
export type HeaderStep =
  /** A zero block: the end-of-archive marker is two. */
  | { kind: 'zero' }
  /** The second zero block: the end of the archive. */
  | { kind: 'end' }
  /** Not a tar header (checksum or size field). */
  | { kind: 'invalid'; error: string }
  /** An extended header: its `size` bytes of data (padded to whole blocks) go to `meta()`. */
  | { kind: 'meta'; name: string; size: number }
  /** A member; its `entry.size` bytes of data follow (padded to whole blocks). */
  | { kind: 'entry'; entry: TarEntry };

/**
 * Extended headers (pax `x` and `g`, GNU `L` and `K`) larger than this are
 * refused: nothing legitimate needs more. Only the pax keys packdebug
 * interprets are kept, so what a reader holds stays small, and each member
 * costs the same whatever global headers came before.
 */
export const TAR_META_LIMIT = 1 << 20;
const NUMERIC_KEYS = ['size', 'uid', 'gid', 'mtime'] as const;
/** Global records that GNU tar applies to every member and libarchive ignores: they change what is extracted where. */
const GLOBAL_CONFLICTS = ['size', 'path', 'linkpath'];

export class TarHeaderReader {
  #name: string;
  #onAmbiguous: AmbiguityHandler | undefined;
  #meta: { type: string; size: number; startOffset: number } | undefined;
  #pax: Map<string, string> | undefined;
  /** The last global header's records, numbers checked (GNU tar 1.34: a global header replaces the one before). */
  #globalPax = new Map<string, string>();
  #longName: string | undefined;
  #longLink: string | undefined;
  #firstHeaderOffset: number | undefined;
  #zeroBlocks = 0;

  /** `name` is used in error messages (the archive's path). */
  constructor(name: string, onAmbiguous?: AmbiguityHandler) {
    this.#name = name;
    this.#onAmbiguous = onAmbiguous;
  }

  /** True between a member's first extended header and its ustar header. */
  get insideMember(): boolean {
    return this.#firstHeaderOffset !== undefined;
  }

  /** Records kept from pax headers (global and pending): at most a few, whatever the input. */
  get retainedPaxRecords(): number {
    return this.#globalPax.size + (this.#pax?.size ?? 0);
  }

  error(message: string): PackdebugError {
    return new PackdebugError('E_FORMAT', `${this.#name}: ${message}`, { file: this.#name });
  }

  /** Reads the header block found at offset `at`. */
  header(block: Buffer, at: number): HeaderStep {
    const decoded = decodeHeader(block);
    if ('zero' in decoded) {
      this.#zeroBlocks += 1;
      return this.#zeroBlocks >= 2 ? { kind: 'end' } : { kind: 'zero' };
    }
    if ('error' in decoded) return { kind: 'invalid', error: decoded.error };
    if (this.#zeroBlocks > 0) throw this.error(`lone zero block at offset ${at - BLOCK_SIZE}`);
    const h = decoded.header;
    if (!isExtendedHeader(h.type)) return { kind: 'entry', entry: this.#entry(h, at) };
    if (h.type !== TarType.paxGlobal) this.#firstHeaderOffset ??= at;
    if (h.size > TAR_META_LIMIT) throw this.error(`extended header of ${h.size} bytes at offset ${at} is too large`);
    this.#meta = { type: h.type, size: h.size, startOffset: at };
    return { kind: 'meta', name: h.name, size: h.size };
  }

  /** The data of the extended header `header()` announced: at least its size (padding is ignored). */
  meta(buf: Buffer): void {
    const meta = this.#meta!;
    this.#meta = undefined;
    const data = buf.subarray(0, meta.size);
    if (meta.type === TarType.longName || meta.type === TarType.longLink) {
      const nul = data.indexOf(0);
      const text = data.toString('utf8', 0, nul === -1 ? data.length : nul);
      if (meta.type === TarType.longName) this.#longName = text;
      else this.#longLink = text;
      return;
    }
    const parsed = decodePaxRecords(data, PAX_KEYS);
    if ('error' in parsed) throw this.error(`${parsed.error} at offset ${meta.startOffset}`);
    if (meta.type === TarType.paxGlobal) return this.#onGlobal(parsed.records, meta.startOffset);
    if (this.#pax !== undefined)
      this.#ambiguous(`a second pax header at offset ${meta.startOffset} for one member`, undefined, {
        kind: 'second-pax',
        at: meta.startOffset,
      });
    this.#pax = parsed.records;
  }

  #ambiguous(message: string, member: string | undefined, detail: TarAmbiguity): void {
    if (!this.#onAmbiguous) throw this.error(message);
    this.#onAmbiguous(message, member, detail);
  }

  #onGlobal(records: Map<string, string>, at: number): void {
    for (const key of NUMERIC_KEYS) {
      const v = records.get(key);
      if (v === undefined) continue;
      const n = parsePaxNumber(key, v);
      if ('error' in n) {
        records.delete(key);
        this.#ambiguous(
          `global pax header at offset ${at}: ${n.error} (GNU tar ignores the record, other tools may not)`,
          undefined,
          { kind: 'global-number', key, error: n.error, at },
        );
      }
    }
    for (const key of GLOBAL_CONFLICTS) {
      if (records.has(key))
        this.#ambiguous(
          `global pax header at offset ${at} sets ${key} for every member (GNU tar applies it, libarchive ignores it)`,
          undefined,
          { kind: 'global-conflict', key, at },
        );
    }
    this.#globalPax = records;
  }

  #entry(h: HeaderFields, at: number): TarEntry {
    // Only the keys packdebug uses are looked up: the same few lookups per member, whatever the global headers.
    const local = this.#pax;
    const global = this.#globalPax;
    const text = (key: string): string | undefined => local?.get(key) ?? global.get(key);
    const path = text('path') ?? this.#longName ?? h.name;
    const headerOffset = this.#firstHeaderOffset ?? at;
    let fromPax = false;
    const num = (key: (typeof NUMERIC_KEYS)[number], fallback: number): number => {
      const v = local?.get(key);
      if (v !== undefined) {
        const n = parsePaxNumber(key, v);
        fromPax = 'value' in n;
        if ('value' in n) return n.value;
        // As GNU tar: the record is ignored, the global or ustar value stays.
        this.#ambiguous(
          `member '${path}' at offset ${headerOffset}: pax record ${n.error} ` +
            '(GNU tar ignores the record, other tools may not)',
          path,
          { kind: 'pax-number', key, error: n.error, at },
        );
      }
      const g = global.get(key);
      fromPax = g !== undefined;
      return g === undefined ? fallback : (parsePaxNumber(key, g) as { value: number }).value;
    };
    let size = num('size', h.size);
    const sizeFromPax = fromPax;
    // Tools differ when a member of a type without data announces some: GNU tar skips a ustar size on symlinks,
    // devices and fifos, libarchive does not; both skip a pax size, except GNU tar on directories.
    if (hasNoData(h.type)) {
      const agreed = h.type === TarType.hardlink && !sizeFromPax; // a hardlink's ustar size: skipped by no tool
      if (size > 0 && !agreed)
        this.#ambiguous(
          `member '${path}' at offset ${headerOffset} of type '${h.type}' announces ${size} bytes of data ` +
            '(GNU tar and libarchive skip different amounts)',
          path,
          { kind: 'no-data-size', at },
        );
      size = 0;
    }
    const entry: TarEntry = {
      path,
      type: h.type,
      mode: h.mode,
      uid: num('uid', h.uid),
      gid: num('gid', h.gid),
      size,
      mtime: num('mtime', h.mtime),
      linkpath: text('linkpath') ?? this.#longLink ?? h.linkname,
      uname: text('uname') ?? h.uname,
      gname: text('gname') ?? h.gname,
      headerOffset,
      dataOffset: at + BLOCK_SIZE,
    };
    this.#pax = undefined;
    this.#longName = undefined;
    this.#longLink = undefined;
    this.#firstHeaderOffset = undefined;
    return entry;
  }
}
