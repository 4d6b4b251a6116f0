import { createHash, type Hash } from 'node:crypto';
import { constants as C } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import type { BlockRange } from '../tarball/layout.js';
import type { MemberData, PlannedMember, TarPlan } from '../image/tar-plan.js';

/**
 * Produces the bytes of the planned tar stream range by range, reading each
 * member's data once, in order, and hashing it on the way so that
 * verification can compare the written tarball with what was read.
 */
export class TarSource {
  readonly #plan: TarPlan;
  readonly #data: MemberData;
  #cursor = 0;
  #open: { member: PlannedMember; hash: Hash; read: number } | undefined;
  /** SHA-256 of each non-empty regular file's content, by member index. */
  readonly hashes = new Map<number, string>();

  /** `data` is the image directory (files read from disk) or another MemberData. */
  constructor(plan: TarPlan, data: string | MemberData) {
    this.#plan = plan;
    this.#data = typeof data === 'string' ? new ImageFileData(data) : data;
  }

  /** Ranges must be requested in order and without gaps. */
  async read(range: BlockRange): Promise<Buffer> {
    const out = Buffer.alloc(range.end - range.start); // zero-filled: padding and trailer for free
    const members = this.#plan.members;
    while (this.#cursor < members.length && members[this.#cursor]!.end <= range.start) this.#cursor++;
    for (let i = this.#cursor; i < members.length && members[i]!.offset < range.end; i++) {
      const m = members[i]!;
      const headerEnd = m.offset + m.header.length;
      if (m.offset < range.end && headerEnd > range.start) {
        const from = Math.max(m.offset, range.start);
        const to = Math.min(headerEnd, range.end);
        m.header.copy(out, from - range.start, from - m.offset, to - m.offset);
      }
      const dataEnd = headerEnd + m.dataSize;
      if (m.dataSize > 0 && headerEnd < range.end && dataEnd > range.start) {
        const from = Math.max(headerEnd, range.start);
        const to = Math.min(dataEnd, range.end);
        await this.#readData(i, m, from - headerEnd, out.subarray(from - range.start, to - range.start));
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.#open = undefined;
    await this.#data.close();
  }

  async #readData(index: number, m: PlannedMember, position: number, into: Buffer): Promise<void> {
    if (this.#open?.member !== m) this.#open = { member: m, hash: createHash('sha256'), read: 0 };
    const open = this.#open;
    if (open.read !== position) throw new Error(`internal: out-of-order read of ${m.entry.member}`);
    await this.#data.read(m, position, into);
    open.hash.update(into);
    open.read += into.length;
    if (open.read === m.dataSize) {
      const sha = open.hash.digest('hex');
      this.hashes.set(index, sha);
      this.#open = undefined;
      await this.#data.finished(m, sha);
    }
  }
}

/** Member data read from the image's files, each checked to still be the inode that was listed. */
export class ImageFileData implements MemberData {
  readonly #image: string;
  #open: { member: PlannedMember; fh: FileHandle } | undefined;

  constructor(image: string) {
    this.#image = image;
  }

  async read(m: PlannedMember, position: number, into: Buffer): Promise<void> {
    const abs = path.join(this.#image, m.entry.relPath);
    if (this.#open?.member !== m) {
      await this.close();
      let fh: FileHandle;
      try {
        // O_NOFOLLOW: if the file was swapped for a symlink since we listed it, do not read through it.
        fh = await fs.open(abs, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
      } catch (err) {
        throw fromSystemError(err, abs, 'opening a file to pack');
      }
      const st = await fh.stat();
      if (st.ino !== m.entry.ino || st.dev !== m.entry.dev || !st.isFile()) {
        await fh.close();
        throw new PackdebugError('E_CHANGED', `${abs}: replaced while packing`, { file: abs });
      }
      this.#open = { member: m, fh };
    }
    const fh = this.#open!.fh;
    let done = 0;
    while (done < into.length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(into, done, into.length - done, position + done));
      } catch (err) {
        throw fromSystemError(err, abs, 'reading a file to pack');
      }
      if (bytesRead === 0) throw new PackdebugError('E_CHANGED', `${abs}: file shrank while packing`, { file: abs });
      done += bytesRead;
    }
  }

  async finished(m: PlannedMember): Promise<void> {
    const open = this.#open;
    if (open?.member !== m) return;
    const abs = path.join(this.#image, m.entry.relPath);
    const probe = Buffer.alloc(1);
    const { bytesRead } = await open.fh.read(probe, 0, 1, m.dataSize);
    if (bytesRead !== 0) throw new PackdebugError('E_CHANGED', `${abs}: file grew while packing`, { file: abs });
    await this.close();
  }

  async close(): Promise<void> {
    const open = this.#open;
    this.#open = undefined;
    await open?.fh.close().catch(() => undefined);
  }
}
