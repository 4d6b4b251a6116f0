/**
 * A separate-debug-file-shaped ELF (64-bit, little-endian, ET_REL) whose
 * GNU build-id note sits between two large sections, far from both the
 * start and the section header table at the end: a streaming capture has
 * passed it before it learns that it is wanted.
 */
export function elfWithNoteInTheMiddle(buildId: Buffer, before: number, after: number): Buffer {
  const note = Buffer.alloc(16 + Math.ceil(buildId.length / 4) * 4);
  note.writeUInt32LE(4, 0); // namesz
  note.writeUInt32LE(buildId.length, 4);
  note.writeUInt32LE(3, 8); // NT_GNU_BUILD_ID
  note.write('GNU\0', 12, 'latin1');
  buildId.copy(note, 16);
  const strtab = Buffer.from('\0.debug_info\0.note.gnu.build-id\0.debug_str\0.shstrtab\0', 'latin1');
  const name = (s: string) => strtab.indexOf(`\0${s}\0`, 0, 'latin1') + 1;
  // [name, type, offset, size, align]; section 0 is the null section.
  const sections: [number, number, number, number, number][] = [[0, 0, 0, 0, 0]];
  let pos = 64;
  const add = (n: string, type: number, size: number, align: number) => {
    sections.push([name(n), type, pos, size, align]);
    pos += size;
  };
  add('.debug_info', 1, before, 1);
  add('.note.gnu.build-id', 7, note.length, 4);
  add('.debug_str', 1, after, 1);
  add('.shstrtab', 3, strtab.length, 1);
  const shoff = Math.ceil(pos / 8) * 8;
  const file = Buffer.alloc(shoff + sections.length * 64);
  file.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  file.writeUInt16LE(1, 16); // ET_REL
  file.writeUInt16LE(62, 18); // x86-64
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(BigInt(shoff), 40);
  file.writeUInt16LE(64, 52); // e_ehsize
  file.writeUInt16LE(56, 54); // e_phentsize
  file.writeUInt16LE(64, 58); // e_shentsize
  file.writeUInt16LE(sections.length, 60);
  file.writeUInt16LE(sections.length - 1, 62); // e_shstrndx
  note.copy(file, sections[2]![2]);
  strtab.copy(file, sections[4]![2]);
  // The large sections are not all zeros: xz would shrink them to nothing, and
  // Blocks are cut by uncompressed size anyway.
  for (const [, , off, size] of [sections[1]!, sections[3]!])
    for (let i = 0; i < size; i += 4096) file[off + i] = (i >> 12) & 0xff;
  sections.forEach(([n, type, off, size, al], i) => {
    const at = shoff + i * 64;
    file.writeUInt32LE(n, at);
    file.writeUInt32LE(type, at + 4);
    file.writeBigUInt64LE(BigInt(off), at + 24);
    file.writeBigUInt64LE(BigInt(size), at + 32);
    file.writeBigUInt64LE(BigInt(al), at + 48);
  });
  return file;
}
