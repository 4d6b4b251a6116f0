/**
 * A Portage binary package of either format, opened read-only: its metadata
 * and its image as a stream of tar entries with paths below ${D}. The file
 * is never written; payloads are read as byte ranges and decompressed by
 * the external tool Portage itself uses.
 */
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { PackdebugError, fromSystemError } from '../errors.js';
import { type TarEntry, TarParser } from '../tar/parse.js';
import { openRegularFile } from '../util/regular-file.js';
import { type Compression, compressionFromMagic, decompress } from './compression.js';
import { gpkgLayout, type GpkgLayout, payloadPrefixes } from './gpkg.js';
import { type BinpkgLimits, DEFAULT_LIMITS, limitError, MAX_METADATA_KEYS, MAX_VALUE_BYTES } from './limits.js';
import { type BinpkgMetadata, parseMetadata } from './metadata.js';
import { listOuterTar } from './outer-tar.js';
import { decodeXpak, locateXpak } from './xpak.js';
import { isRegular } from '../tar/types.js';

export type BinpkgFormat = 'gpkg' | 'xpak';

export interface Binpkg {
  file: string;
  format: BinpkgFormat;
  size: number;
  mtimeMs: number;
  metadata: BinpkgMetadata;
  /** Compression of the image tar. */
  imageCompression: Compression;
  /** GPKG only: signature and Manifest members (left alone). */
  signatures: string[];
  /** The caps it is read under (decompressor memory for the image). */
  limits: BinpkgLimits;
  /** Internal: where the image tar lies in the file and how its member names may start (none for XPAK). */
  readonly image: { offset: number; size: number; prefixes: readonly string[]; name: string };
}

/** A member of the image with its path relative to ${D} ('' for ${D} itself), no `./`, no trailing slash. */
export interface ImageTarEntry extends TarEntry {
  relPath: string;
}

/** Receives the image's entries in archive order; promises are awaited before reading on (backpressure). */
export interface ImageVisitor {
  entry?(entry: ImageTarEntry): void | Promise<void>;
  data?(entry: ImageTarEntry, chunk: Buffer): void | Promise<void>;
  entryEnd?(entry: ImageTarEntry): void | Promise<void>;
}

/** Format by name: `.gpkg.tar` is GPKG, `.tbz2` and `.xpak` are XPAK. */
export function formatFromName(file: string): BinpkgFormat | undefined {
  if (file.endsWith('.gpkg.tar')) return 'gpkg';
  if (file.endsWith('.tbz2') || file.endsWith('.xpak')) return 'xpak';
  return undefined;
}

const METADATA_HOW = '--max-metadata or PACKDEBUG_MAX_METADATA';

/** Opens `file` and reads its metadata, within `limits` (decompressor memory, metadata size). */
export async function openBinpkg(file: string, limits: BinpkgLimits = DEFAULT_LIMITS): Promise<Binpkg> {
  let fh: FileHandle;
  try {
    // A FIFO or device named like a binpkg: refused, not waited on.
    fh = await openRegularFile(file, { doing: 'opening the binary package' });
  } catch (err) {
    if (err instanceof PackdebugError && err.code === 'E_INPUT') throw err;
    const e = ((err as PackdebugError).cause ?? err) as NodeJS.ErrnoException;
    if (e.code === 'ENOENT')
      throw new PackdebugError('E_INPUT', `${file}: no such binary package`, { file, cause: err });
    throw fromSystemError(err, file, 'opening the binary package');
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PackdebugError('E_INPUT', `${file}: not a regular file`, { file });
    let format = formatFromName(file);
    if (format === undefined) {
      const tail = Buffer.alloc(4);
      if (st.size >= 4) await fh.read(tail, 0, 4, st.size - 4);
      format = tail.toString('latin1') === 'STOP' ? 'xpak' : 'gpkg';
    }
    const base = { file, size: st.size, mtimeMs: st.mtimeMs, limits };
    if (format === 'xpak') {
      const layout = await locateXpak(fh, st.size, file);
      if (layout.xpakSize > limits.metadataBytes)
        throw limitError(file, `XPAK metadata segment of ${layout.xpakSize} bytes`, limits.metadataBytes, METADATA_HOW);
      const segment = Buffer.alloc(layout.xpakSize);
      await fh.read(segment, 0, layout.xpakSize, layout.xpakOffset);
      const metadata = parseMetadata(decodeXpak(segment, file), file);
      const head = Buffer.alloc(Math.min(512, layout.tarSize));
      await fh.read(head, 0, head.length, 0);
      const imageCompression = compressionFromMagic(head);
      if (imageCompression === undefined)
        throw new PackdebugError(
          'E_FORMAT',
          `${file}: the data before the XPAK segment is neither a known compression nor a tar`,
          { file },
        );
      return {
        ...base,
        format,
        metadata,
        imageCompression,
        signatures: [],
        image: { offset: 0, size: layout.tarSize, prefixes: [], name: 'image tar' },
      };
    }
    const layout = gpkgLayout(await listOuterTar(fh, st.size, file), file);
    await checkMagic(fh, layout, file);
    const metadata = parseMetadata(await readGpkgMetadata(file, layout, limits), file);
    return {
      ...base,
      format,
      metadata,
      imageCompression: layout.image.compression,
      signatures: layout.signatures,
      image: {
        offset: layout.image.offset,
        size: layout.image.size,
        prefixes: payloadPrefixes(layout, 'image'),
        name: layout.image.name,
      },
    };
  } finally {
    await fh.close();
  }
}

/** A payload whose bytes contradict its suffix is corrupt, not something to feed to the wrong tool. */
async function checkMagic(fh: FileHandle, layout: GpkgLayout, file: string): Promise<void> {
  for (const p of [layout.metadata, layout.image]) {
    const head = Buffer.alloc(Math.min(512, p.size));
    await fh.read(head, 0, head.length, p.offset);
    const found = compressionFromMagic(head);
    if (found !== p.compression) {
      throw new PackdebugError(
        'E_FORMAT',
        `${file}: ${p.name} is not ${p.compression === 'none' ? 'a tar' : `${p.compression} data`} (corrupt)`,
        { file },
      );
    }
  }
}

function rangeStream(file: string, offset: number, size: number) {
  // createReadStream's end is inclusive; an empty range reads nothing.
  return size === 0
    ? Readable.from([])
    : createReadStream(file, { start: offset, end: offset + size - 1, highWaterMark: 1 << 20 });
}

/**
 * The `metadata/KEY` files of metadata.tar. Values over MAX_VALUE_BYTES (environment.bz2) are skipped without
 * being held; the decompressed payload may not exceed limits.metadataBytes, nor hold more than MAX_METADATA_KEYS
 * members (a hostile one could hold millions of empty ones).
 */
async function readGpkgMetadata(file: string, layout: GpkgLayout, limits: BinpkgLimits): Promise<Map<string, Buffer>> {
  const prefixes = payloadPrefixes(layout, 'metadata').map((p) => `${p}/`);
  const values = new Map<string, Buffer>();
  // One buffer of the member's size, filled in place: the value is held once, never copied again.
  let current: { key: string; value: Buffer; filled: number } | undefined;
  let total = 0;
  let members = 0;
  const parser = new TarParser(
    {
      entry: (e) => {
        const name = e.path.replace(/^\.\//, '');
        current = undefined;
        if (++members > MAX_METADATA_KEYS)
          throw new PackdebugError(
            'E_FORMAT',
            `${file}: ${layout.metadata.name} has more than ${MAX_METADATA_KEYS} members; not Portage metadata`,
            { file },
          );
        const prefix = prefixes.find((p) => name.startsWith(p));
        if (isRegular(e.type) && prefix !== undefined && e.size <= MAX_VALUE_BYTES) {
          const key = name.slice(prefix.length);
          if (key !== '' && !key.includes('/')) current = { key, value: Buffer.allocUnsafe(e.size), filled: 0 };
        }
      },
      data: (_e, chunk) => {
        total += chunk.length;
        if (total > limits.metadataBytes)
          throw limitError(
            file,
            `${layout.metadata.name} holds more metadata than allowed`,
            limits.metadataBytes,
            METADATA_HOW,
          );
        if (current) {
          chunk.copy(current.value, current.filled);
          current.filled += chunk.length;
        }
      },
      entryEnd: () => {
        if (current) values.set(current.key, current.value.subarray(0, current.filled));
        current = undefined;
      },
    },
    `${file}: ${layout.metadata.name}`,
  );
  const { offset, size, compression, name } = layout.metadata;
  const opts = { file, what: name, memoryLimit: limits.decompressMemory };
  for await (const chunk of decompress(rangeStream(file, offset, size), compression, opts)) parser.write(chunk);
  parser.end();
  return values;
}

/**
 * Streams the image tar through `visitor`. Entries outside the image
 * directory (GPKG) or with unsafe names are an E_FORMAT error, as is a
 * corrupt or truncated payload; the error names the binpkg.
 */
export async function readImage(
  pkg: Binpkg,
  visitor: ImageVisitor,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  const { file } = pkg;
  const { offset, size, prefixes, name } = pkg.image;
  type Event = { kind: 'entry' | 'end'; entry: ImageTarEntry } | { kind: 'data'; entry: ImageTarEntry; chunk: Buffer };
  let events: Event[] = [];
  let current: ImageTarEntry | undefined;
  const parser = new TarParser(
    {
      entry: (e) => {
        current = { ...e, relPath: imageRelPath(e.path, prefixes, file) };
        events.push({ kind: 'entry', entry: current });
      },
      data: (_e, chunk) => {
        if (visitor.data) events.push({ kind: 'data', entry: current!, chunk });
      },
      entryEnd: () => {
        events.push({ kind: 'end', entry: current! });
      },
    },
    `${file}: ${name}`,
  );
  // Read to the end even after the tar's end: only then has the decompressor checked the
  // payload's CRC or trailer, and garbage that decoded to a well-formed tar is caught.
  for await (const chunk of decompress(rangeStream(file, offset, size), pkg.imageCompression, {
    file,
    what: name,
    signal: opts.signal,
    memoryLimit: pkg.limits.decompressMemory,
  })) {
    if (parser.ended) continue;
    parser.write(chunk);
    const batch = events;
    events = [];
    for (const ev of batch) {
      if (ev.kind === 'entry') await visitor.entry?.(ev.entry);
      else if (ev.kind === 'data') await visitor.data?.(ev.entry, ev.chunk);
      else await visitor.entryEnd?.(ev.entry);
    }
  }
  if (!parser.ended) parser.end();
}

/** `./usr/x`, `image/usr/x` or `BASENAME/image/usr/x` -> `usr/x`; refuses names that leave the image. */
export function imageRelPath(name: string, prefixes: readonly string[], file: string): string {
  let rel = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (prefixes.length > 0) {
    const prefix = prefixes.find((p) => rel === p || rel.startsWith(`${p}/`));
    if (prefix === undefined) {
      throw new PackdebugError(
        'E_FORMAT',
        `${file}: image member '${name}' is outside '${prefixes[0]}/' (wrong GPKG layout)`,
        { file },
      );
    }
    rel = rel.slice(prefix.length + 1);
  }
  rel = rel.replace(/^(\.\/)+/, '');
  if (rel === '.') rel = '';
  const parts = rel === '' ? [] : rel.split('/');
  if (rel.startsWith('/') || parts.some((p) => p === '..' || p === '' || p === '.')) {
    throw new PackdebugError('E_UNSAFE', `${file}: image member '${name}' has an unsafe name`, { file });
  }
  return rel;
}

/** `CATEGORY/PF` plus `-BUILD_ID` when there is one: how packdebug names a binpkg in messages. */
export function describeBinpkg(pkg: Binpkg): string {
  const m = pkg.metadata;
  return `${m.category}/${m.pf}${m.buildNumber === undefined ? '' : `-${m.buildNumber}`}`;
}
