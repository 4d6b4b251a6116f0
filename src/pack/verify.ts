import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { PackdebugError } from '../errors.js';
import { digestCollector, EMPTY_SHA256, type MemberDigest } from '../tar/digest.js';
import { TarParser } from '../tar/parse.js';
import { decodeBlock } from '../xz/block-decoder.js';
import type { EncoderBackend } from '../xz/block-encoder.js';
import { readXzLayout, type XzBlockInfo, type XzFileLayout } from '../xz/file-layout.js';
import { type IndexRecord, padTo4 } from '../xz/index.js';
import { CHECK_CRC64 } from '../xz/stream-flags.js';
import { decodeSequential } from '../xz/sequential.js';
import { headerFields, type TarPlan } from '../image/tar-plan.js';

function mismatch(name: string, what: string): PackdebugError {
  return new PackdebugError('E_VERIFY', `${name}: verification failed: ${what}`, { file: name });
}

/**
 * Reads a tarball back while it is being written, independently of the
 * writer's state: each Block is read from the file as soon as it is written
 * and decoded with its Check (one at a time, so the decoding fills the time
 * the encoders leave idle), every member is compared with the plan (name,
 * type, mode, mtime, owner, size, link target, offset) and with the SHA-256
 * of what was read from the image; at the end the container structure is
 * read from the file and compared with what was written.
 */
export class WrittenTarballVerifier {
  readonly #fh: FileHandle;
  readonly #name: string;
  readonly #plan: TarPlan;
  readonly #backend: EncoderBackend;
  readonly #parser: TarParser;
  #chain: Promise<void> = Promise.resolve();
  #failure: unknown;
  #member = 0;
  #uncompressed = 0;

  constructor(
    fh: FileHandle,
    name: string,
    plan: TarPlan,
    hashes: ReadonlyMap<number, string>,
    backend: EncoderBackend,
  ) {
    this.#fh = fh;
    this.#name = name;
    this.#plan = plan;
    this.#backend = backend;
    let hash: Hash | undefined;
    this.#parser = new TarParser(
      {
        entry: (e) => {
          const m = plan.members[this.#member];
          if (!m) throw mismatch(name, `unexpected member ${e.path}`);
          const want = headerFields(m.entry);
          const problems: string[] = [];
          if (e.path !== want.name) problems.push(`name ${JSON.stringify(e.path)}`);
          if (e.type !== want.type) problems.push(`type ${e.type} != ${want.type}`);
          if (e.size !== want.size) problems.push(`size ${e.size} != ${want.size}`);
          if (e.linkpath !== want.linkname) problems.push(`link target ${JSON.stringify(e.linkpath)}`);
          if (e.mode !== want.mode) problems.push(`mode ${e.mode.toString(8)}`);
          if (e.mtime !== want.mtime) problems.push(`mtime ${e.mtime}`);
          if (e.uid !== 0 || e.gid !== 0) problems.push('owner');
          if (e.headerOffset !== m.offset) problems.push(`offset ${e.headerOffset} != ${m.offset}`);
          if (problems.length > 0) throw mismatch(name, `${m.entry.member}: ${problems.join(', ')}`);
          hash = m.entry.kind === 'file' ? createHash('sha256') : undefined;
        },
        data(_e, chunk) {
          hash?.update(chunk);
        },
        entryEnd: () => {
          const m = plan.members[this.#member]!;
          if (hash && hash.digest('hex') !== (hashes.get(this.#member) ?? EMPTY_SHA256))
            throw mismatch(name, `${m.entry.member}: content differs from the image`);
          hash = undefined;
          this.#member++;
        },
      },
      name,
    );
  }

  /** The writer wrote a Block at `fileOffset`: queue reading it back. */
  blockWritten(fileOffset: number, record: IndexRecord): void {
    const block: XzBlockInfo = {
      stream: 0,
      fileOffset,
      unpaddedSize: record.unpaddedSize,
      totalSize: padTo4(record.unpaddedSize),
      uncompressedOffset: this.#uncompressed,
      uncompressedSize: record.uncompressedSize,
      checkId: CHECK_CRC64,
    };
    this.#uncompressed += record.uncompressedSize;
    this.#chain = this.#chain.then(async () => {
      if (this.#failure !== undefined) return;
      try {
        const bytes = Buffer.alloc(block.totalSize);
        const { bytesRead } = await this.#fh.read(bytes, 0, block.totalSize, block.fileOffset);
        if (bytesRead !== block.totalSize)
          throw mismatch(this.#name, `Block at offset ${block.fileOffset} is truncated`);
        this.#parser.write(await decodeBlock(bytes, block, this.#name, this.#backend));
      } catch (err) {
        this.#failure = err;
      }
    });
  }

  /** Waits for the last Block and checks the container and the end of the archive. */
  async finish(records: readonly IndexRecord[]): Promise<XzFileLayout> {
    await this.#chain;
    if (this.#failure !== undefined) throw this.#failure;
    const name = this.#name;
    const layout = await readXzLayout(this.#fh, name);
    if (layout.streams.length !== 1 || !layout.footerLast) throw mismatch(name, 'unexpected Stream structure');
    if (layout.blocks.length !== records.length)
      throw mismatch(name, `Index lists ${layout.blocks.length} Blocks, ${records.length} were written`);
    layout.blocks.forEach((b, i) => {
      const r = records[i]!;
      if (b.unpaddedSize !== r.unpaddedSize || b.uncompressedSize !== r.uncompressedSize)
        throw mismatch(name, `Index record ${i} differs from the Block written`);
    });
    if (layout.uncompressedSize !== this.#plan.size)
      throw mismatch(name, `tar stream is ${layout.uncompressedSize} bytes, expected ${this.#plan.size}`);
    this.#parser.end();
    if (!this.#parser.ended || this.#member !== this.#plan.members.length)
      throw mismatch(name, `read ${this.#member} members, expected ${this.#plan.members.length}`);
    if (this.#parser.offset !== this.#plan.trailerOffset + 1024)
      throw mismatch(name, 'end-of-archive marker at the wrong offset');
    return layout;
  }
}

/** Digests of every member of any .tar.xz (read sequentially, as it may be single-Block). */
export async function digestTarball(file: string): Promise<MemberDigest[]> {
  const { visitor, digests } = digestCollector();
  const parser = new TarParser(visitor, file);
  await decodeSequential(file, (chunk) => {
    parser.write(chunk);
    return !parser.ended;
  });
  parser.end();
  return digests;
}
