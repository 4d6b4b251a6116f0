/**
 * Caps on how much the ELF reader looks at, so that hostile or huge files
 * cost bounded time and memory. Real files stay far below them; a file over
 * a cap is reported (`incomplete` or `malformed`), never silently misread.
 */

/** Section header table entries examined (e_shnum is 16 bits; extended numbering can claim 2^32). */
export const MAX_SECTIONS = 65536;
/** Program header table entries examined (e_phnum is 16 bits; PN_XNUM defers to section 0's sh_info). */
export const MAX_SEGMENTS = 65535;
/** Largest section name string table read whole. */
export const MAX_STRTAB_BYTES = 4 * 1024 * 1024;
/** Note areas (SHT_NOTE sections or PT_NOTE segments) examined. */
export const MAX_NOTE_AREAS = 256;
/** Bytes read from the start of one note area. */
export const MAX_NOTE_AREA_BYTES = 1024 * 1024;
/** Note bytes read from one file in all. */
export const MAX_NOTE_BYTES_TOTAL = 4 * 1024 * 1024;
/** Note bytes read from a core file (NT_FILE of a process with many mappings runs to megabytes). */
export const MAX_CORE_NOTE_BYTES = 64 * 1024 * 1024;
/** NT_FILE entries examined. */
export const MAX_MAPPED_FILES = 1 << 20;
/** Longest path kept from a note (PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Modules reported from one core. */
export const MAX_CORE_MODULES = 65536;
