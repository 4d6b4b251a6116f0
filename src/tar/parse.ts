import { PackdebugError } from '../errors.js';
import { BLOCK_SIZE, decodeHeader, type HeaderFields, paddedSize, type TypeFlag } from './header.js';
import { decodePaxRecords, PAX_KEYS, parsePaxNumber } from './pax.js';

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

export interface TarVisitor {
  entry?(entry: TarEntry): void;
  data?(entry: TarEntry, chunk: Buffer): void;
  entryEnd?(entry: TarEntry): void;
  /**
   * Input that tar implementations read differently: a pax number GNU tar
   * rejects (it then keeps the ustar value, libarchive reads `0x400` as 0),
   * a global pax header setting size, path or linkpath (GNU tar applies it,
   * libarchive ignores it), two pax headers for one member (GNU tar keeps
   * the last, libarchive merges them). The parser goes on as GNU tar does.
   * Without this handler such input is an E_FORMAT error: what packdebug
   * lists or extracts must be what GNU tar and libarchive would.
   */
  ambiguous?(message: string, member: string | undefined): void;
}

/**
 * Types read as having no data. Tools differ when such a member announces
 * some: GNU tar skips a ustar size on symlinks, devices and fifos,
 * libarchive does not; both skip a pax size, except GNU tar on directories.
 * Only a hardlink's ustar size is ignored by both.
 */
const NO_DATA_TYPES = new Set(['1', '2', '3', '4', '5', '6']);
const META_TYPES = new Set(['x', 'g', 'L', 'K']);
/**
 * Extended headers (pax `x` and `g`, GNU `L` and `K`) larger than this are
 * refused: nothing legitimate needs more. Only the pax keys packdebug
 * interprets are kept, so what a parser holds stays small, and each member
 * costs the same whatever global headers came before.
 */
export const TAR_META_LIMIT = 1 << 20;
const NUMERIC_KEYS = ['size', 'uid', 'gid', 'mtime'] as const;
/** Global records that GNU tar applies to every member and libarchive ignores: they change what is extracted where. */
const GLOBAL_CONFLICTS = ['size', 'path', 'linkpath'];

/**
 * Incremental tar reader: feed it the uncompressed stream in chunks of any
 * size. It stops at the end-of-archive marker (two zero blocks) and ignores
 * what follows, as GNU tar does.
 */
export class TarParser {
  #visitor: TarVisitor;
  #name: string;
  #offset = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #state: 'header' | 'meta' | 'data' | 'skip' | 'ended' = 'header';
  #need = BLOCK_SIZE;
  #meta: { type: string; size: number; startOffset: number } | undefined;
  #pax: Map<string, string> | undefined;
  /** The last global header's records, numbers checked (GNU tar 1.34: a global header replaces the one before). */
  #globalPax = new Map<string, string>();
  #longName: string | undefined;
  #longLink: string | undefined;
  #firstHeaderOffset: number | undefined;
  #entry: TarEntry | undefined;
  #dataLeft = 0;
  #zeroBlocks = 0;

  /** `name` is used in error messages (the tarball's path). */
  constructor(visitor: TarVisitor, name = 'tar stream', startOffset = 0) {
    this.#visitor = visitor;
    this.#name = name;
    this.#offset = startOffset;
  }

  get offset(): number {
    return this.#offset;
  }

  /** True once the end-of-archive marker was read. */
  get ended(): boolean {
    return this.#state === 'ended';
  }

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.#state !== 'ended') {
      if (this.#state === 'data') {
        const n = Math.min(this.#dataLeft, chunk.length - pos);
        this.#visitor.data?.(this.#entry!, chunk.subarray(pos, pos + n));
        this.#dataLeft -= n;
        this.#offset += n;
        pos += n;
        if (this.#dataLeft === 0) this.#finishData();
        continue;
      }
      if (this.#state === 'skip') {
        const n = Math.min(this.#dataLeft, chunk.length - pos);
        this.#dataLeft -= n;
        this.#offset += n;
        pos += n;
        if (this.#dataLeft === 0) this.#startHeader();
        continue;
      }
      const n = Math.min(this.#need - this.#pendingBytes, chunk.length - pos);
      this.#pending.push(chunk.subarray(pos, pos + n));
      this.#pendingBytes += n;
      pos += n;
      if (this.#pendingBytes === this.#need) {
        const buf = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
        this.#pending = [];
        this.#pendingBytes = 0;
        if (this.#state === 'header') this.#onHeader(buf);
        else this.#onMeta(buf);
      }
    }
  }

  /** Call at the end of input: a stream that stops inside a member is truncated. */
  end(): void {
    if (this.#state === 'ended') return;
    const between = this.#state === 'header' && this.#pendingBytes === 0 && this.#firstHeaderOffset === undefined;
    // A missing end-of-archive marker is accepted (GNU tar only warns).
    if (between) return;
    const inHeader = (this.#state === 'header' || this.#state === 'meta') && this.#pendingBytes > 0;
    throw this.#error(
      `truncated tar stream (ends inside a ${inHeader ? 'header' : 'member'} at offset ${this.#offset + this.#pendingBytes})`,
    );
  }

  #error(message: string): PackdebugError {
    return new PackdebugError('E_FORMAT', `${this.#name}: ${message}`, { file: this.#name });
  }

  #startHeader(): void {
    this.#state = 'header';
    this.#need = BLOCK_SIZE;
  }

  #onHeader(block: Buffer): void {
    const at = this.#offset;
    this.#offset += BLOCK_SIZE;
    const decoded = decodeHeader(block);
    if ('zero' in decoded) {
      this.#zeroBlocks += 1;
      if (this.#zeroBlocks >= 2) this.#state = 'ended';
      return;
    }
    if ('error' in decoded) throw this.#error(`${decoded.error} at offset ${at}`);
    if (this.#zeroBlocks > 0) throw this.#error(`lone zero block at offset ${at - BLOCK_SIZE}`);
    const h = decoded.header;
    if (META_TYPES.has(h.type)) {
      if (h.type !== 'g') this.#firstHeaderOffset ??= at;
      if (h.size > TAR_META_LIMIT) throw this.#error(`extended header of ${h.size} bytes at offset ${at} is too large`);
      this.#meta = { type: h.type, size: h.size, startOffset: at };
      if (h.size === 0) return this.#onMeta(Buffer.alloc(0));
      this.#state = 'meta';
      this.#need = paddedSize(h.size);
      return;
    }
    this.#emitEntry(h, at);
  }

  #onMeta(buf: Buffer): void {
    this.#offset += buf.length;
    const meta = this.#meta!;
    this.#meta = undefined;
    const data = buf.subarray(0, meta.size);
    if (meta.type === 'L' || meta.type === 'K') {
      const nul = data.indexOf(0);
      const text = data.toString('utf8', 0, nul === -1 ? data.length : nul);
      if (meta.type === 'L') this.#longName = text;
      else this.#longLink = text;
    } else {
      const parsed = decodePaxRecords(data, PAX_KEYS);
      if ('error' in parsed) throw this.#error(`${parsed.error} at offset ${meta.startOffset}`);
      if (meta.type === 'g') this.#onGlobal(parsed.records, meta.startOffset);
      else {
        if (this.#pax !== undefined)
          this.#ambiguous(`a second pax header at offset ${meta.startOffset} for one member`, undefined);
        this.#pax = parsed.records;
      }
    }
    this.#startHeader();
  }

  /** Records kept from pax headers (global and pending): at most a few, whatever the input. */
  get retainedPaxRecords(): number {
    return this.#globalPax.size + (this.#pax?.size ?? 0);
  }

  #ambiguous(message: string, member: string | undefined): void {
    if (!this.#visitor.ambiguous) throw this.#error(message);
    this.#visitor.ambiguous(message, member);
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
        );
      }
    }
    for (const key of GLOBAL_CONFLICTS) {
      if (records.has(key))
        this.#ambiguous(
          `global pax header at offset ${at} sets ${key} for every member (GNU tar applies it, libarchive ignores it)`,
          undefined,
        );
    }
    this.#globalPax = records;
  }

  #emitEntry(h: HeaderFields, at: number): void {
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
        );
      }
      const g = global.get(key);
      fromPax = g !== undefined;
      return g === undefined ? fallback : (parsePaxNumber(key, g) as { value: number }).value;
    };
    let size = num('size', h.size);
    const sizeFromPax = fromPax;
    if (NO_DATA_TYPES.has(h.type)) {
      const agreed = h.type === '1' && !sizeFromPax; // a hardlink's ustar size: skipped by no tool
      if (size > 0 && !agreed)
        this.#ambiguous(
          `member '${path}' at offset ${headerOffset} of type '${h.type}' announces ${size} bytes of data ` +
            '(GNU tar and libarchive skip different amounts)',
          path,
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
    this.#entry = entry;
    this.#visitor.entry?.(entry);
    if (size === 0) return this.#finishData();
    this.#state = 'data';
    this.#dataLeft = size;
  }

  #finishData(): void {
    const entry = this.#entry!;
    this.#visitor.entryEnd?.(entry);
    this.#entry = undefined;
    const padding = paddedSize(entry.size) - entry.size;
    if (padding > 0) {
      this.#state = 'skip';
      this.#dataLeft = padding;
    } else {
      this.#startHeader();
    }
  }
}
