/**
 * Where remote data lives: an `http://`, `https://` or `file://` URL of a
 * tree or of one tarball. Small objects (index files) are fetched whole;
 * tarballs are read through `ReadAt` with Range requests, so the xz code
 * reads a tarball on a mirror as it reads one on disk.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PackdebugError } from '../errors.js';
import type { ReadAt } from '../util/read-at.js';
import { openRegularFile } from '../util/regular-file.js';
import { httpGet, type HttpOptions, type HttpResponse } from './client.js';

/** What a location fetched, for reports and the benchmark. */
export interface FetchStats {
  requests: number;
  /** Body bytes received (a 200 to a Range request counts in full). */
  bytes: number;
  /** A server answered a Range request with the whole file. */
  ignoredRange: boolean;
}

export interface Location {
  /** The URL as given (a tree's ends with `/`). */
  readonly url: string;
  readonly stats: FetchStats;
  /** The URL of `rel` below this location. */
  urlOf(rel: string): string;
  /** A small object below the location, whole; E_NOT_FOUND when absent. */
  get(rel: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer>;
  /** A file below the location ('' for the location itself), for reads by range. */
  open(rel: string, expectedSize?: number, signal?: AbortSignal): Promise<RangeSource>;
}

/** A ReadAt that can be told which bytes will be read, to fetch them in one request. */
export interface RangeSource extends ReadAt {
  /** Fetch [start, end) now, in one request, and keep it for the reads that follow. */
  prefetch(start: number, end: number): Promise<void>;
}

/** A relative path inside a location: no `..`, `.`, empty or absolute components, no NUL or backslash. */
export function isSafeRelative(rel: string): boolean {
  if (rel === '' || rel.length > 4096 || rel.startsWith('/') || /[\0\\]/.test(rel)) return false;
  return rel.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
}

/** For a file:// tree: the objects under `prefix` come from another directory (an index kept outside the tree). */
export interface Overlay {
  prefix: string;
  root: string;
}

export function openLocation(url: string, options: HttpOptions = {}, overlay?: Overlay): Location {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PackdebugError('E_USAGE', `${url}: not a valid URL`);
  }
  if (parsed.protocol === 'file:') return new FileLocation(url, fileURLToPath(parsed), overlay);
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return new HttpLocation(url, options);
  throw new PackdebugError('E_USAGE', `${url}: only http://, https:// and file:// URLs are supported`);
}

function checkRelative(base: string, rel: string): void {
  if (rel !== '' && !isSafeRelative(rel))
    throw new PackdebugError('E_UNSAFE', `${base}: refusing the path ${JSON.stringify(rel)} (not inside the tree)`, {
      file: base,
    });
}

class HttpLocation implements Location {
  readonly stats: FetchStats = { requests: 0, bytes: 0, ignoredRange: false };
  readonly #base: string;

  constructor(
    readonly url: string,
    private readonly options: HttpOptions,
  ) {
    this.#base = url.endsWith('/') ? url : `${url}/`;
  }

  urlOf(rel: string): string {
    checkRelative(this.url, rel);
    if (rel === '') return this.url;
    return new URL(rel.split('/').map(encodeURIComponent).join('/'), this.#base).href;
  }

  async fetch(url: string, request: Parameters<typeof httpGet>[1], signal?: AbortSignal): Promise<HttpResponse> {
    this.stats.requests++;
    const res = await httpGet(url, request, { ...this.options, signal: signal ?? this.options.signal });
    this.stats.bytes += res.ignoredRange ? (res.total ?? res.body.length) : res.body.length;
    if (res.ignoredRange && !this.stats.ignoredRange) {
      this.stats.ignoredRange = true;
      this.options.log?.(`${url}: the server ignores Range requests and sends whole files, which is slow`);
    }
    return res;
  }

  async get(rel: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
    return (await this.fetch(this.urlOf(rel), { maxBytes }, signal)).body;
  }

  async open(rel: string, expectedSize?: number, signal?: AbortSignal): Promise<RangeSource> {
    return new HttpRangeSource(this, this.urlOf(rel), expectedSize, signal);
  }
}

/** Reads smaller than this fetch this much (the layout's many small reads at a tarball's end). */
const MIN_WINDOW = 64 << 10;
/** A run of reads, each where the last one ended (a scan), doubles its fetches up to this. */
const MAX_WINDOW = 16 << 20;
/**
 * prefetch fetches at most this much at once: the Blocks of a larger member
 * (a 2 GB debug file) are read in windows instead, so memory stays bounded.
 */
const MAX_PREFETCH = 64 << 20;
/** The tail fetched first: Stream Footer, Index and, for small tarballs, everything. */
const TAIL_WINDOW = 64 << 10;
/** Fetched bytes kept for later reads. */
const WINDOW_CACHE_BYTES = 64 << 20;

class HttpRangeSource implements RangeSource {
  readonly fd = undefined;
  #size: number | undefined;
  /** Fetched byte ranges, most recently used last. */
  #windows: { start: number; data: Buffer }[] = [];
  #held = 0;
  /** Where the last fetch ended, and how much the next one takes if it starts there. */
  #lastEnd = -1;
  #window = MIN_WINDOW;

  constructor(
    private readonly location: HttpLocation,
    private readonly url: string,
    expectedSize: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.#size = expectedSize;
  }

  async stat(): Promise<{ size: number }> {
    if (this.#size === undefined) {
      // One request for the size and the tail, where the xz Index is.
      const res = await this.location.fetch(this.url, { range: { suffix: TAIL_WINDOW } }, this.signal);
      this.#size = res.total ?? res.body.length;
      if (res.whole) this.#keep(0, res.whole);
      else this.#keep(this.#size - res.body.length, res.body);
    }
    return { size: this.#size };
  }

  async prefetch(start: number, end: number): Promise<void> {
    const size = (await this.stat()).size;
    if (end > size)
      throw new PackdebugError('E_CHANGED', `${this.url}: is ${size} bytes, shorter than expected (${end})`, {
        file: this.url,
      });
    if (this.#find(start, end - start)) return;
    await this.#fetch(start, Math.min(end, start + MAX_PREFETCH));
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const size = (await this.stat()).size;
    const want = Math.max(0, Math.min(length, size - position));
    if (want === 0) return { bytesRead: 0 };
    let w = this.#find(position, 1);
    if (!w) {
      this.#window = position === this.#lastEnd ? Math.min(this.#window * 2, MAX_WINDOW) : MIN_WINDOW;
      await this.#fetch(position, Math.min(size, position + Math.max(want, this.#window)));
      w = this.#find(position, 1)!;
    }
    const from = position - w.start;
    const n = Math.min(want, w.data.length - from);
    w.data.copy(buffer, offset, from, from + n);
    return { bytesRead: n };
  }

  async close(): Promise<void> {
    this.#windows = [];
    this.#held = 0;
  }

  async #fetch(start: number, end: number): Promise<void> {
    const res = await this.location.fetch(this.url, { range: { start, end } }, this.signal);
    if (res.total !== undefined && this.#size !== undefined && res.total !== this.#size) {
      throw new PackdebugError(
        'E_CHANGED',
        `${this.url}: is ${res.total} bytes now, ${this.#size} expected: the file changed`,
        { file: this.url },
      );
    }
    this.#lastEnd = end;
    // The whole file came anyway: keep all of it rather than fetch it again for the next read.
    if (res.whole) this.#keep(0, res.whole);
    else this.#keep(start, res.body);
  }

  #keep(start: number, data: Buffer): void {
    this.#windows.push({ start, data });
    this.#held += data.length;
    while (this.#held > WINDOW_CACHE_BYTES && this.#windows.length > 1)
      this.#held -= this.#windows.shift()!.data.length;
  }

  #find(position: number, length: number): { start: number; data: Buffer } | undefined {
    for (let i = this.#windows.length - 1; i >= 0; i--) {
      const w = this.#windows[i]!;
      if (position >= w.start && position + length <= w.start + w.data.length) return w;
    }
    return undefined;
  }
}

class FileLocation implements Location {
  readonly stats: FetchStats = { requests: 0, bytes: 0, ignoredRange: false };

  constructor(
    readonly url: string,
    private readonly root: string,
    private readonly overlay?: Overlay,
  ) {}

  urlOf(rel: string): string {
    checkRelative(this.url, rel);
    return rel === '' ? this.url : `${this.url.replace(/\/+$/, '')}/${rel}`;
  }

  /** Opens `rel` if it is a regular file whose real path is inside the root (no symlink out). */
  async #openInside(rel: string) {
    checkRelative(this.url, rel);
    const inOverlay = this.overlay && rel.startsWith(this.overlay.prefix);
    const base = inOverlay ? this.overlay!.root : this.root;
    const sub = inOverlay ? rel.slice(this.overlay!.prefix.length) : rel;
    const file = sub === '' ? base : path.join(base, sub);
    const fh = await openRegularFile(file, { name: this.urlOf(rel) }).catch((err: unknown) => {
      const errno = ((err as { cause?: NodeJS.ErrnoException }).cause ?? (err as NodeJS.ErrnoException))?.code;
      if (errno === 'ENOENT' || errno === 'ENOTDIR')
        throw new PackdebugError('E_NOT_FOUND', `${this.urlOf(rel)}: not found`, { file: this.urlOf(rel) });
      throw err;
    });
    if (sub !== '') {
      const [real, rootReal] = await Promise.all([fs.realpath(file), fs.realpath(base)]);
      if (!real.startsWith(`${rootReal}/`)) {
        await fh.close();
        throw new PackdebugError('E_UNSAFE', `${this.urlOf(rel)}: a symlink out of ${this.url}; not followed`, {
          file: file,
        });
      }
    }
    this.stats.requests++;
    return fh;
  }

  async get(rel: string, maxBytes: number): Promise<Buffer> {
    const fh = await this.#openInside(rel);
    try {
      const { size } = await fh.stat();
      if (size > maxBytes)
        throw new PackdebugError('E_FORMAT', `${this.urlOf(rel)}: ${size} bytes, more than the ${maxBytes} expected`, {
          file: this.urlOf(rel),
        });
      const data = await fh.readFile();
      this.stats.bytes += data.length;
      return data;
    } finally {
      await fh.close();
    }
  }

  async open(rel: string): Promise<RangeSource> {
    const fh = await this.#openInside(rel);
    const stats = this.stats;
    return {
      fd: fh.fd,
      read: async (buffer, offset, length, position) => {
        const r = await fh.read(buffer, offset, length, position);
        stats.bytes += r.bytesRead;
        return r;
      },
      stat: () => fh.stat(),
      close: () => fh.close(),
      prefetch: async () => undefined,
    };
  }
}
