import { createHash, type Hash } from 'node:crypto';
import { constants as C } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError, fromSystemError } from '../errors.js';
import type { BlockRange } from './layout.js';
import type { PlannedMember, TarPlan } from './tar-plan.js';

/**
 * Produces the bytes of the planned tar stream range by range, reading the
 * image's files once, in order, and hashing their contents on the way so
 * that verification can compare the written tarball with what was read.
 */
export class TarSource {
  readonly #plan: TarPlan;
  readonly #image: string;
  #cursor = 0;
  #open: { member: PlannedMember; fh: FileHandle; hash: Hash; read: number } | undefined;
  /** SHA-256 of each non-empty regular file's content, by member index. */
  readonly hashes = new Map<number, string>();

  constructor(plan: TarPlan, image: string) {
    this.#plan = plan;
    this.#image = image;
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
    const open = this.#open;
    this.#open = undefined;
    await open?.fh.close().catch(() => undefined);
  }

  async #readData(index: number, m: PlannedMember, position: number, into: Buffer): Promise<void> {
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
      this.#open = { member: m, fh, hash: createHash('sha256'), read: 0 };
    }
    const open = this.#open!;
    if (open.read !== position) throw new Error(`internal: out-of-order read of ${abs}`);
    let done = 0;
    while (done < into.length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await open.fh.read(into, done, into.length - done, position + done));
      } catch (err) {
        throw fromSystemError(err, abs, 'reading a file to pack');
      }
      if (bytesRead === 0) throw new PackdebugError('E_CHANGED', `${abs}: file shrank while packing`, { file: abs });
      done += bytesRead;
    }
    open.hash.update(into);
    open.read += into.length;
    if (open.read === m.dataSize) {
      const probe = Buffer.alloc(1);
      const { bytesRead } = await open.fh.read(probe, 0, 1, m.dataSize);
      if (bytesRead !== 0) throw new PackdebugError('E_CHANGED', `${abs}: file grew while packing`, { file: abs });
      this.hashes.set(index, open.hash.digest('hex'));
      await this.close();
    }
  }
}
