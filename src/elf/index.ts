/**
 * ELF inspection for packdebug: what `packdebug list` reports per member
 * (GNU build-id, debuginfod's debuginfo/executable classes, Go build id),
 * and the dynamic section (needed libraries, RPATH/RUNPATH, interpreter).
 * Import from here; the other files in this directory are one concept each.
 */
export { ElfCapture } from './capture.js';
export { readDynamic, type DynamicInfo } from './dynamic.js';
export { gnuBuildIdFromSegments, inspectElf, isElf, type ElfInfo } from './inspect.js';
export { bufferSource, fdSource, type ByteSource } from './source.js';
export { findSection } from './find-section.js';
