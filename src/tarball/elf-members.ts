import { ElfCapture, inspectElf, isElf, type ByteSource, type ElfInfo } from '../elf/index.js';
import { PackdebugError } from '../errors.js';
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

/** The smallest ELF file header (ELF32): a shorter member cannot be ELF. */
const ELF_HEADER_MIN = 52;

/** The member streaming by, with the capture of its bytes while it is (or may still be) ELF. */
export interface CapturedMember {
  entry: TarEntry;
  /** Undefined once the member is known not to be ELF, or cannot be (not a regular file, too small). */
  capture: ElfCapture | undefined;
  /** Its identification bytes were seen and say ELF. */
  isElf: boolean;
}

/** A TarVisitor that captures the ELF members streaming by (see captureElfMembers). */
export interface ElfCapturingVisitor extends TarVisitor {
  /** The member between its entry and its entryEnd. */
  readonly current: CapturedMember | undefined;
  /**
   * The rest of the current member will not stream by (the walk skips it):
   * stops following it, and returns its capture if it is ELF, for a look by
   * random access instead.
   */
  detach(): { entry: TarEntry; capture: ElfCapture } | undefined;
}

/**
 * Wraps `inner` so that the bytes of every regular member that is ELF are
 * captured as they stream by (bounded memory: see ElfCapture) and inspected
 * at the member's end: `onElf` gets the result, before `inner.entryEnd`.
 * The one ELF capture of audit, list, extract and verify.
 */
export function captureElfMembers(
  onElf: (entry: TarEntry, elf: ElfInfo, capture: ElfCapture) => void,
  inner: TarVisitor = {},
): ElfCapturingVisitor {
  let current: CapturedMember | undefined;
  return {
    get current() {
      return current;
    },
    detach() {
      const c = current;
      current = undefined;
      return c?.capture && c.isElf ? { entry: c.entry, capture: c.capture } : undefined;
    },
    entry(e) {
      const regular = e.type === '0' || e.type === '7';
      current = {
        entry: e,
        capture: regular && e.size >= ELF_HEADER_MIN ? new ElfCapture(e.size) : undefined,
        isElf: false,
      };
      inner.entry?.(e);
    },
    data(e, chunk) {
      const c = current;
      if (c?.capture) {
        c.capture.push(chunk);
        if (!c.isElf && c.capture.position >= 16) {
          const ident = c.capture.read(0, 16);
          if (ident !== undefined && isElf(ident)) c.isElf = true;
          else c.capture = undefined;
        }
      }
      inner.data?.(e, chunk);
    },
    entryEnd(e) {
      const c = current;
      current = undefined;
      if (c?.capture && c.isElf) {
        const elf = inspectElf(c.capture);
        if (elf) onElf(e, elf, c.capture);
      }
      inner.entryEnd?.(e);
    },
    // Only when the inner visitor takes them: without it the parser throws (list, extract).
    ...(inner.ambiguous ? { ambiguous: inner.ambiguous.bind(inner) } : {}),
  };
}

/**
 * captureElfMembers reporting ElfMember records. With `later`, a member
 * whose inspection was incomplete goes there instead of to `onElf` (for
 * SecondLooks.complete after the scan).
 */
export function inspectingVisitor(
  onElf: (m: ElfMember) => void,
  inner: TarVisitor = {},
  later?: SecondLooks,
): ElfCapturingVisitor {
  return captureElfMembers((entry, elf, capture) => {
    if (later && elf.incomplete !== undefined) later.add(entry, elf, capture);
    else onElf({ entry, elf });
  }, inner);
}

export type BuildIdKind = 'debuginfo' | 'executable';

export function matchesBuildId(elf: ElfInfo, id: string, kind: BuildIdKind): boolean {
  return elf.gnuBuildId === id && (kind === 'debuginfo' ? elf.debuginfo : elf.executable);
}

/**
 * Throws E_VERIFY unless `src` is the `kind` file of build-id `id` as
 * debuginfod decides; `what` names the file (`URL: the member fetched`).
 */
export function verifyBuildIdFile(src: ByteSource, id: string, kind: BuildIdKind, what: string, file?: string): void {
  const elf = inspectElf(src);
  if (!elf || !matchesBuildId(elf, id, kind))
    throw new PackdebugError(
      'E_VERIFY',
      `${what} is not the ${kind} file of build-id ${id} (its ELF note disagrees)`,
      file === undefined ? {} : { file },
    );
}
