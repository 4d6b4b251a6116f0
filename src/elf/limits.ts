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

// The dynamic section (dynamic.ts).

/** Dynamic entries examined (the array ends at DT_NULL; real files have a few dozen). */
export const MAX_DYNAMIC_ENTRIES = 65536;
/** Strings read from the dynamic string table per file (DT_NEEDED names, DT_SONAME, DT_RPATH, DT_RUNPATH). */
export const MAX_DYNAMIC_STRINGS = 1024;
/** Longest dynamic string read, NUL included (long enough for the RUNPATHs of Nix-style builds). */
export const MAX_DYNAMIC_STRING_BYTES = 64 * 1024;
/** Dynamic string bytes read from one file in all. */
export const MAX_DYNAMIC_STRING_BYTES_TOTAL = 1024 * 1024;
/** Longest PT_INTERP read, NUL included (PATH_MAX). */
export const MAX_INTERP_BYTES = 4096;

// The library search (library-search.ts and src/system/).

/** Libraries resolved for one file, the interpreter included (4096 is far beyond any real program). */
export const MAX_LIBRARIES = 4096;
/** Depth of the dependency tree (the file itself is depth 0). */
export const MAX_LOAD_DEPTH = 64;
/** Directories searched for one DT_NEEDED name (RPATHs of the loading chain, RUNPATH, ld.so.conf, defaults). */
export const MAX_SEARCH_DIRS = 4096;
/** Configuration files read for ld.so.conf, includes included. */
export const MAX_LD_SO_CONF_FILES = 256;
/** Nesting of ld.so.conf `include` lines. */
export const MAX_LD_SO_CONF_DEPTH = 16;
/** Directories taken from ld.so.conf. */
export const MAX_LD_SO_CONF_DIRS = 1024;
/** Largest ld.so.conf (or included file) read. */
export const MAX_LD_SO_CONF_BYTES = 256 * 1024;
/** Candidate files looked up for one file's libraries in all (real programs need a few hundred). */
export const MAX_LIBRARY_LOOKUPS = 262144;
