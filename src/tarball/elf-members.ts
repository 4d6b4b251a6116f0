import { ElfCapture, inspectElf, isElf, type ElfInfo } from '../elf/index.js';
import type { TarEntry, TarVisitor } from '../tar/parse.js';

export interface ElfMember {
  entry: TarEntry;
  elf: ElfInfo;
}

/**
 * Wraps a TarVisitor so that every regular file that is ELF is inspected as
 * its data streams by (bounded memory: see ElfCapture).
 */
export function inspectingVisitor(onElf: (m: ElfMember) => void, inner: TarVisitor = {}): TarVisitor {
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
        if (elf) onElf({ entry: e, elf });
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
