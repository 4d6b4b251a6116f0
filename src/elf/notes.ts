/**
 * ELF notes (gABI "Note Section"): a 12-byte header (n_namesz, n_descsz,
 * n_type in the file's byte order), the name, padding, the descriptor,
 * padding. Padding is to 4 bytes, or to 8 in an area aligned to 8 (GNU
 * property notes), exactly as libelf's gelf_getnote walks them: a note that
 * does not fit ends the walk.
 *
 * Two notes matter here:
 *  - NT_GNU_BUILD_ID (3), owner "GNU\0": the build-id debuginfod indexes;
 *  - type 4, owner "Go\0\0", in section .note.go.buildid: the Go toolchain's
 *    own build id (text such as "actionID/contentID").
 */
import type { ByteOrder } from './endian.js';

export const NT_GNU_BUILD_ID = 3;
export const NT_GO_BUILD_ID = 4;
export const GO_BUILD_ID_SECTION = '.note.go.buildid';

const NOTE_HEADER_SIZE = 12;
const GNU_OWNER = Buffer.from('GNU\0', 'latin1');
const GO_OWNER = Buffer.from('Go\0\0', 'latin1');

export interface Note {
  type: number;
  /** The name as stored (n_namesz bytes, NUL included). */
  name: Buffer;
  /** The descriptor (n_descsz bytes, padding excluded). */
  desc: Buffer;
}

/** The note alignment an area's sh_addralign or p_align implies. */
export function noteAlignment(align: number): 4 | 8 {
  return align === 8 ? 8 : 4;
}

function alignUp(n: number, to: 4 | 8): number {
  return Math.ceil(n / to) * to;
}

/**
 * Walks the notes of one note area. Every step advances at least 12 bytes and
 * every size is checked against the area before use, so a hostile area ends
 * the walk instead of overflowing or looping.
 */
export function* parseNotes(data: Buffer, order: ByteOrder, align: 4 | 8): Generator<Note> {
  const u32 = (at: number): number => (order === 'little' ? data.readUInt32LE(at) : data.readUInt32BE(at));
  let pos = 0;
  while (data.length - pos >= NOTE_HEADER_SIZE) {
    const namesz = u32(pos);
    const descsz = u32(pos + 4);
    const type = u32(pos + 8);
    const namePos = pos + NOTE_HEADER_SIZE;
    if (namesz > data.length - namePos) return;
    const descPos = alignUp(namePos + namesz, align);
    const paddedDesc = alignUp(descsz, align);
    if (descPos > data.length || paddedDesc > data.length - descPos) return;
    yield { type, name: data.subarray(namePos, namePos + namesz), desc: data.subarray(descPos, descPos + descsz) };
    pos = descPos + paddedDesc;
  }
}

/** The GNU build-id note test of libdwfl's check_notes: type 3, n_namesz 4, "GNU\0". */
export function isGnuBuildIdNote(note: Note): boolean {
  return note.type === NT_GNU_BUILD_ID && note.name.equals(GNU_OWNER);
}

/** The Go build id note: type 4, n_namesz 4, "Go\0\0". */
export function isGoBuildIdNote(note: Note): boolean {
  return note.type === NT_GO_BUILD_ID && note.name.equals(GO_OWNER);
}

/**
 * A Go build id as text. Real ones are printable ASCII; any other byte is
 * written as \xNN so that the result is always safe to print.
 */
export function goBuildIdText(desc: Buffer): string {
  let out = '';
  for (const b of desc) {
    out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}
