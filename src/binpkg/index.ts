export {
  type Binpkg,
  type BinpkgFormat,
  describeBinpkg,
  formatFromName,
  type ImageTarEntry,
  type ImageVisitor,
  imageRelPath,
  openBinpkg,
  readImage,
} from './binpkg.js';
export { type Compression, compressionFromMagic, DECOMPRESSORS } from './compression.js';
export { collectDebugEntries, type DebugEntries } from './debug-entries.js';
export { gpkgLayout, type GpkgLayout, payloadPrefixes } from './gpkg.js';
export { type BinpkgMetadata, splitPf } from './metadata.js';
export { type PackagesIndex, type PackagesIndexEntry, parsePackagesIndex } from './packages-index.js';
export { listPkgdir, type PkgdirBinpkg, type PkgdirListing } from './pkgdir.js';
export { SpillFile } from './spill.js';
