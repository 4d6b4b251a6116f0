import { PackdebugError } from '../errors.js';
import { BLOCK_SIZE, decodeHeader, type HeaderFields, paddedSize, type TypeFlag } from './header.js';
import { decodePaxRecords } from './pax.js';

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
}

/** Types whose size field never announces data (GNU tar and libarchive agree). */
const NO_DATA_TYPES = new Set(['1', '2', '3', '4', '5', '6']);
const META_TYPES = new Set(['x', 'g', 'L', 'K']);
/** Extended headers larger than this are refused: nothing legitimate needs more. */
const META_LIMIT = 1 << 20;

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
  #pax = new Map<string, string>();
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
      if (h.size > META_LIMIT) throw this.#error(`extended header of ${h.size} bytes at offset ${at} is too large`);
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
      const parsed = decodePaxRecords(data);
      if ('error' in parsed) throw this.#error(`${parsed.error} at offset ${meta.startOffset}`);
      const target = meta.type === 'g' ? this.#globalPax : this.#pax;
      for (const [k, v] of parsed.records) target.set(k, v);
    }
    this.#startHeader();
  }

  #emitEntry(h: HeaderFields, at: number): void {
    const pax = new Map([...this.#globalPax, ...this.#pax]);
    const num = (key: string, fallback: number): number => {
      const v = pax.get(key);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || (n < 0 && key === 'size'))
        throw this.#error(`invalid pax ${key} '${v}' at offset ${at}`);
      return key === 'mtime' ? Math.floor(n) : n;
    };
    const size = NO_DATA_TYPES.has(h.type) ? 0 : num('size', h.size);
    if (!Number.isSafeInteger(size)) throw this.#error(`invalid size at offset ${at}`);
    const entry: TarEntry = {
      path: pax.get('path') ?? this.#longName ?? h.name,
      type: h.type,
      mode: h.mode,
      uid: num('uid', h.uid),
      gid: num('gid', h.gid),
      size,
      mtime: num('mtime', h.mtime),
      linkpath: pax.get('linkpath') ?? this.#longLink ?? h.linkname,
      uname: pax.get('uname') ?? h.uname,
      gname: pax.get('gname') ?? h.gname,
      headerOffset: this.#firstHeaderOffset ?? at,
      dataOffset: at + BLOCK_SIZE,
    };
    this.#pax = new Map();
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
