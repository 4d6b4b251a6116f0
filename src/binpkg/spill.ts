/**
 * A temporary file that holds the data of the debug members of a binpkg's
 * image while the rest of the image streams by, so that the tarball can be
 * written in packdebug's sorted member order without unpacking the image.
 * The file is unlinked as soon as it is open: nothing is left behind by a
 * crash or a signal, and the disk space returns when it is closed.
 */
import { createHash } from 'node:crypto';
import fs, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import type { MemberData, PlannedMember } from '../image/tar-plan.js';

export interface SpilledFile {
  offset: number;
  size: number;
  sha256: string;
}

/** Writes are gathered to this size before they go to disk. */
const WRITE_BATCH = 1 << 20;

export class SpillFile implements MemberData {
  readonly #fh: FileHandle;
  readonly #name: string;
  #size = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #current: { offset: number; size: number; hash: ReturnType<typeof createHash> } | undefined;
  /** Data of planned members by image path (relative to ${ED}), set by the caller. */
  readonly files = new Map<string, SpilledFile>();

  private constructor(fh: FileHandle, name: string) {
    this.#fh = fh;
    this.#name = name;
  }

  /** Opens a spill file in `dir` (default: $TMPDIR) and unlinks it at once. */
  static async create(dir: string = os.tmpdir()): Promise<SpillFile> {
    const name = path.join(dir, `.packdebug-spill-${process.pid}-${Math.random().toString(36).slice(2)}`);
    let fh: FileHandle;
    try {
      fh = await fs.open(name, 'wx+', 0o600);
    } catch (err) {
      throw fromSystemError(err, name, 'creating a temporary file');
    }
    await fs.unlink(name).catch(() => undefined);
    return new SpillFile(fh, name);
  }

  /** Bytes spilled so far. */
  get size(): number {
    return this.#size + this.#pendingBytes;
  }

  begin(): void {
    this.#current = { offset: this.size, size: 0, hash: createHash('sha256') };
  }

  async append(chunk: Buffer): Promise<void> {
    const cur = this.#current!;
    cur.hash.update(chunk);
    cur.size += chunk.length;
    // The parser's chunks are views of a buffer that is reused: copy what is kept.
    this.#pending.push(Buffer.from(chunk));
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes >= WRITE_BATCH) await this.#flush();
  }

  end(): SpilledFile {
    const cur = this.#current!;
    this.#current = undefined;
    return { offset: cur.offset, size: cur.size, sha256: cur.hash.digest('hex') };
  }

  async #flush(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const buf = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    try {
      await this.#fh.write(buf, 0, buf.length, this.#size);
    } catch (err) {
      throw fromSystemError(
        err,
        this.#name,
        'writing a temporary file (give from-binpkg a roomier --tmpdir or TMPDIR)',
      );
    }
    this.#size += buf.length;
  }

  /** Call once everything is spilled, before reading. */
  async sealed(): Promise<void> {
    await this.#flush();
  }

  async read(member: PlannedMember, position: number, into: Buffer): Promise<void> {
    const f = this.files.get(member.entry.relPath);
    if (f === undefined || position + into.length > f.size)
      throw new Error(`internal: no spilled data for ${member.entry.member}`);
    let done = 0;
    while (done < into.length) {
      const { bytesRead } = await this.#fh.read(into, done, into.length - done, f.offset + position + done);
      if (bytesRead === 0)
        throw new PackdebugError('E_IO', `${this.#name}: temporary file is shorter than what was written to it`, {
          file: this.#name,
        });
      done += bytesRead;
    }
  }

  async finished(member: PlannedMember, sha256: string): Promise<void> {
    const f = this.files.get(member.entry.relPath);
    if (f?.sha256 !== sha256) {
      throw new PackdebugError(
        'E_IO',
        `${member.entry.member}: data read back from the temporary file differs from the binpkg's ` +
          '(disk error in TMPDIR?)',
        { file: this.#name },
      );
    }
  }

  async close(): Promise<void> {
    this.#pending = [];
    await this.#fh.close().catch(() => undefined);
  }
}
