/**
 * One inspection's view of a file: bounded reads from a ByteSource, and the
 * two kinds of trouble met on the way — the file is malformed (what it says
 * is impossible), or the source lacks bytes it would take to decide
 * (streaming capture, or a reader cap).
 */
import { fits, type ByteSource } from './source.js';

export class ReadContext {
  private readonly malformedNotes: string[] = [];
  private readonly incompleteNotes: string[] = [];

  constructor(readonly src: ByteSource) {}

  get size(): number {
    return this.src.size;
  }

  /**
   * Reads [offset, offset + length). A range outside the file is malformed;
   * a range the source cannot supply is incomplete. Either way: undefined.
   */
  read(offset: number, length: number, what: string): Buffer | undefined {
    if (!fits(offset, length, this.src.size)) {
      this.malformed(`${what} lies outside the file`);
      return undefined;
    }
    if (length === 0) return Buffer.alloc(0);
    let buf: Buffer | undefined;
    try {
      buf = this.src.read(offset, length);
    } catch {
      buf = undefined;
    }
    if (buf === undefined || buf.length !== length) {
      this.incomplete(what);
      return undefined;
    }
    return buf;
  }

  /** Passes a hint on to the source (see ByteSource.want); ranges outside the file are dropped. */
  want(offset: number, length: number): void {
    if (length === 0 || !fits(offset, length, this.src.size)) return;
    try {
      this.src.want?.(offset, length);
    } catch {
      // a hint only
    }
  }

  malformed(note: string): void {
    if (!this.malformedNotes.includes(note) && this.malformedNotes.length < 8) this.malformedNotes.push(note);
  }

  incomplete(note: string): void {
    if (!this.incompleteNotes.includes(note) && this.incompleteNotes.length < 8) this.incompleteNotes.push(note);
  }

  get malformedText(): string | undefined {
    return this.malformedNotes.length > 0 ? this.malformedNotes.join('; ') : undefined;
  }

  get incompleteText(): string | undefined {
    return this.incompleteNotes.length > 0 ? this.incompleteNotes.join('; ') : undefined;
  }
}
