import { ElfCapture, inspectElf, isElf, type ElfInfo } from '../elf/index.js';
import type { TarEntry, TarVisitor } from '../tar/parse.js';
import type { XzRandomAccess } from '../xz/random-access.js';
import { inspectElfAt, type ElfAtOptions } from './elf-at.js';

export interface ElfMember {
  entry: TarEntry;
  elf: ElfInfo;
}

/** Captures held for second looks, in bytes at most; past that a second look reads the member's start again. */
const SECOND_LOOKS_RETAINED = 64 << 20;

/**
 * ELF members whose streamed inspection was incomplete, for a second look
 * by random access once the scan is over: a note section that streamed by
 * before the section header table (at the end) said it was wanted is lost
 * to the capture, not to the tarball.
 */
export class SecondLooks {
  readonly #items: { entry: TarEntry; elf: ElfInfo; capture: ElfCapture | undefined }[] = [];
  readonly #entries = new Set<TarEntry>();
  #retained = 0;

  add(entry: TarEntry, elf: ElfInfo, capture: ElfCapture): void {
    const keep = this.#retained + capture.retainedBytes <= SECOND_LOOKS_RETAINED;
    if (keep) this.#retained += capture.retainedBytes;
    this.#items.push({ entry, elf, capture: keep ? capture : undefined });
    this.#entries.add(entry);
  }

  has(entry: TarEntry): boolean {
    return this.#entries.has(entry);
  }

  /**
   * Inspects each member again through `ra` (inspectElfAt) and hands the
   * result to `onElf`, in stream order, until `shouldStop`. What still
   * cannot be decided (the Blocks are too large to decode) keeps `incomplete`.
   */
  async complete(
    ra: XzRandomAccess,
    onElf: (m: ElfMember) => void,
    shouldStop: () => boolean = () => false,
    options?: ElfAtOptions,
  ): Promise<void> {
    const items = this.#items.splice(0);
    this.#entries.clear();
    this.#retained = 0;
    for (const item of items) {
      if (shouldStop()) return;
      onElf({ entry: item.entry, elf: (await inspectElfAt(ra, item.entry, item.capture, options)) ?? item.elf });
    }
  }
}

/** inspectElf on a capture, and a second look through `ra` when that was incomplete. */
export async function inspectCaptured(
  ra: XzRandomAccess,
  entry: TarEntry,
  capture: ElfCapture,
): Promise<ElfInfo | undefined> {
  const elf = inspectElf(capture);
  if (elf?.incomplete === undefined) return elf;
  return (await inspectElfAt(ra, entry, capture)) ?? elf;
}

/**
 * Wraps a TarVisitor so that every regular file that is ELF is inspected as
 * its data streams by (bounded memory: see ElfCapture). With `later`, a
 * member whose inspection was incomplete goes there instead of to `onElf`
 * (for SecondLooks.complete after the scan).
 */
export function inspectingVisitor(
  onElf: (m: ElfMember) => void,
  inner: TarVisitor = {},
  later?: SecondLooks,
): TarVisitor {
  let capture: ElfCapture | undefined;
  let head: Buffer | undefined;
  return {
    entry(e) {
      capture = (e.type === '0' || e.type === '7') && e.size >= 52 ? new ElfCapture(e.size) : undefined;
      head = undefined;
      inner.entry?.(e);
    },
    data(e, chunk) {
      if (capture) {
        if (head === undefined) {
          head = chunk.length >= 16 ? chunk : Buffer.from(chunk);
          if (head.length >= 16 && !isElf(head)) capture = undefined;
        }
        capture?.push(chunk);
      }
      inner.data?.(e, chunk);
    },
    entryEnd(e) {
      if (capture) {
        const elf = inspectElf(capture);
        if (elf && elf.incomplete !== undefined && later) later.add(e, elf, capture);
        else if (elf) onElf({ entry: e, elf });
      }
      capture = undefined;
      inner.entryEnd?.(e);
    },
  };
}

export type BuildIdKind = 'debuginfo' | 'executable';

export function matchesBuildId(elf: ElfInfo, id: string, kind: BuildIdKind): boolean {
  return elf.gnuBuildId === id && (kind === 'debuginfo' ? elf.debuginfo : elf.executable);
}
