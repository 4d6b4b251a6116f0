/**
 * A section's bytes by name, as debuginfod's /section/NAME serves them: the
 * section's file range, when it has contents in the file (not SHT_NOBITS).
 */
import { ReadContext } from './context.js';
import { readElfHeader } from './header.js';
import { readSectionNames, readSectionTable, SHT_NOBITS } from './sections.js';
import { fits, type ByteSource } from './source.js';

export function findSection(src: ByteSource, name: string): { offset: number; size: number } | undefined {
  try {
    const hdr = readElfHeader(src);
    if (hdr === undefined || hdr.truncated) return undefined;
    const ctx = new ReadContext(src);
    const table = readSectionTable(ctx, hdr);
    if (table === undefined || table === 'rejected') return undefined;
    const names = readSectionNames(ctx, table);
    for (const s of table.sections) {
      const n = names.name(s);
      if (typeof n !== 'object' || n.name !== name) continue;
      if (s.type === SHT_NOBITS || !fits(s.offset, s.size, src.size)) return undefined;
      return { offset: s.offset, size: s.size };
    }
    return undefined;
  } catch {
    return undefined;
  }
}
