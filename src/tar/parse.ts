import { BLOCK_SIZE, paddedSize } from './header.js';
import { type TarAmbiguity, type TarEntry, TarHeaderReader } from './header-reader.js';

export { TAR_META_LIMIT, type TarAmbiguity, type TarEntry } from './header-reader.js';

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
  ambiguous?(message: string, member: string | undefined, detail: TarAmbiguity): void;
}

/**
 * Incremental tar reader: feed it the uncompressed stream in chunks of any
 * size. It stops at the end-of-archive marker (two zero blocks) and ignores
 * what follows, as GNU tar does.
 */
export class TarParser {
  #visitor: TarVisitor;
  #headers: TarHeaderReader;
  #offset = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #state: 'header' | 'meta' | 'data' | 'skip' | 'ended' = 'header';
  #need = BLOCK_SIZE;
  #entry: TarEntry | undefined;
  #dataLeft = 0;

  /** `name` is used in error messages (the tarball's path). */
  constructor(visitor: TarVisitor, name = 'tar stream', startOffset = 0) {
    this.#visitor = visitor;
    const ambiguous = visitor.ambiguous?.bind(visitor);
    this.#headers = new TarHeaderReader(name, ambiguous);
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
    const between = this.#state === 'header' && this.#pendingBytes === 0 && !this.#headers.insideMember;
    // A missing end-of-archive marker is accepted (GNU tar only warns).
    if (between) return;
    const inHeader = (this.#state === 'header' || this.#state === 'meta') && this.#pendingBytes > 0;
    const where = `${inHeader ? 'header' : 'member'} at offset ${this.#offset + this.#pendingBytes}`;
    throw this.#headers.error(`truncated tar stream (ends inside a ${where})`);
  }

  /** Records kept from pax headers (global and pending): at most a few, whatever the input. */
  get retainedPaxRecords(): number {
    return this.#headers.retainedPaxRecords;
  }

  #startHeader(): void {
    this.#state = 'header';
    this.#need = BLOCK_SIZE;
  }

  #onHeader(block: Buffer): void {
    const at = this.#offset;
    this.#offset += BLOCK_SIZE;
    const step = this.#headers.header(block, at);
    switch (step.kind) {
      case 'zero':
        return;
      case 'end':
        this.#state = 'ended';
        return;
      case 'invalid':
        throw this.#headers.error(`${step.error} at offset ${at}`);
      case 'meta':
        if (step.size === 0) return this.#onMeta(Buffer.alloc(0));
        this.#state = 'meta';
        this.#need = paddedSize(step.size);
        return;
      case 'entry':
        return this.#startEntry(step.entry);
    }
  }

  #onMeta(buf: Buffer): void {
    this.#offset += buf.length;
    this.#headers.meta(buf);
    this.#startHeader();
  }

  #startEntry(entry: TarEntry): void {
    this.#entry = entry;
    this.#visitor.entry?.(entry);
    if (entry.size === 0) return this.#finishData();
    this.#state = 'data';
    this.#dataLeft = entry.size;
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
