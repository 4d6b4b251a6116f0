/**
 * debuginfod's classification of an ELF file (elfutils debuginfod.cxx,
 * elf_classify), applied only when the file has a GNU build-id (without one
 * debuginfod does not index the file at all):
 *  - executable: e_type ET_EXEC or ET_DYN, and some section is SHT_PROGBITS
 *    with SHF_ALLOC (loadable bytes present, so not a stripped-out .debug);
 *  - debuginfo: walking sections from index 1, some name starts with
 *    ".debug_" or ".zdebug_" (".debug_line" included) before the first name
 *    libelf cannot resolve (the walk stops there).
 */
import { ET_DYN, ET_EXEC } from './header.js';
import { SHF_ALLOC, SHT_PROGBITS, type SectionHeader, type SectionNames } from './sections.js';

export function isDebuginfodExecutable(eType: number, sections: readonly SectionHeader[]): boolean {
  if (eType !== ET_EXEC && eType !== ET_DYN) return false;
  return sections.some((s) => s.type === SHT_PROGBITS && (s.flags & SHF_ALLOC) !== 0);
}

export function isDebugSectionName(name: string): boolean {
  return name.startsWith('.debug_') || name.startsWith('.zdebug_');
}

/** True or false as debuginfod decides; 'unknown' when a name it needs was not available. */
export function isDebuginfodDebuginfo(sections: readonly SectionHeader[], names: SectionNames): boolean | 'unknown' {
  for (let i = 1; i < sections.length; i++) {
    const name = names.name(sections[i]!);
    if (name === 'invalid') return false;
    if (name === 'unknown') return 'unknown';
    if (isDebugSectionName(name.name)) return true;
  }
  return false;
}
