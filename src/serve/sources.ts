/**
 * Where the server finds artifacts: local trees (through their own index
 * when it is current, else through one kept in the cache directory), static
 * mirrors of trees (through their index, over HTTP), and upstream
 * debuginfod servers (with --upstream).
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PackdebugError } from '../errors.js';
import { httpGet, type HttpOptions } from '../http/client.js';
import { type Location, openLocation } from '../http/location.js';
import { INDEX_DIR } from '../mirror/format.js';
import { lookupIn } from '../mirror/remote.js';
import { indexIsCurrent, type IndexLog, updateIndex } from '../mirror/update.js';
import { isUrl } from '../util/url.js';
import type { ArtifactKind } from './request.js';

export interface ArtifactQuery {
  kind: Exclude<ArtifactKind, 'section'>;
  buildId: string;
  /** For kind 'source': the canonical absolute path. */
  path?: string;
}

/** What a source found: the bytes are in `out`; the headers debuginfod would send. */
export interface Found {
  size: number;
  file: string;
  archive?: string;
}

export interface Source {
  readonly name: string;
  readonly upstream: boolean;
  fetch(q: ArtifactQuery, out: FileHandle, signal: AbortSignal): Promise<Found>;
  /** Bytes and requests it fetched (for /metrics). */
  stats(): { requests: number; bytes: number };
  /** Brings a local tree's index up to date (new tarballs); nothing for others. */
  refresh?(): Promise<void>;
}

/**
 * X-DEBUGINFOD-FILE as debuginfod (0.188) sends it for an archive member:
 * the member's base name (X-DEBUGINFOD-ARCHIVE names the archive). Sources
 * keep their whole path, which is what the client asked for.
 */
function fileHeader(name: string, kind: ArtifactQuery['kind']): string {
  return kind === 'source' ? `/${name.replace(/^(\.\/|\/)+/, '')}` : path.posix.basename(name);
}

class IndexSource implements Source {
  readonly upstream = false;
  constructor(
    readonly name: string,
    private readonly location: Location,
    /** The archive as X-DEBUGINFOD-ARCHIVE names it: a local path, or the tarball's URL. */
    private readonly archiveOf: (tarball: string) => string,
  ) {}

  async fetch(q: ArtifactQuery, out: FileHandle, signal: AbortSignal): Promise<Found> {
    const kind = q.kind === 'executable' ? 'executable' : 'debuginfo';
    const answer = await lookupIn({
      source: this.location.url,
      location: this.location,
      id: q.buildId,
      kind,
      path: q.kind === 'source' ? q.path : undefined,
      signal,
      out,
    });
    return { size: answer.size, file: fileHeader(answer.member, q.kind), archive: this.archiveOf(answer.tarball) };
  }

  stats() {
    return { requests: this.location.stats.requests, bytes: this.location.stats.bytes };
  }
}

/** A local tree: its own index when current, else one the server keeps in `cacheDir`. */
class LocalTreeSource implements Source {
  readonly upstream = false;
  #inner: IndexSource | undefined;
  #indexDir: string | undefined;

  constructor(
    readonly name: string,
    private readonly tree: string,
    private readonly cacheDir: string,
    private readonly log: IndexLog,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  async refresh(): Promise<void> {
    if (await indexIsCurrent(this.tree)) {
      if (this.#indexDir !== undefined || !this.#inner) {
        this.#indexDir = undefined;
        this.#inner = this.#source();
      }
      return;
    }
    const dir = path.join(this.cacheDir, 'index', createHash('sha256').update(this.tree).digest('hex').slice(0, 16));
    await updateIndex({ tree: this.tree, indexDir: dir, env: this.env, log: this.log });
    if (this.#indexDir !== dir || !this.#inner) {
      this.#indexDir = dir;
      this.#inner = this.#source();
    }
  }

  #source(): IndexSource {
    const url = `${pathToFileURL(this.tree).href}/`;
    const overlay = this.#indexDir ? { prefix: `${INDEX_DIR}/`, root: this.#indexDir } : undefined;
    return new IndexSource(this.name, openLocation(url, {}, overlay), (t) => path.join(this.tree, t));
  }

  fetch(q: ArtifactQuery, out: FileHandle, signal: AbortSignal): Promise<Found> {
    if (!this.#inner) throw new Error('LocalTreeSource used before refresh()');
    return this.#inner.fetch(q, out, signal);
  }

  stats() {
    return this.#inner?.stats() ?? { requests: 0, bytes: 0 };
  }
}

/** A debuginfod server asked as a client would (--upstream). */
class UpstreamSource implements Source {
  readonly upstream = true;
  #requests = 0;
  #bytes = 0;
  constructor(
    readonly name: string,
    private readonly http: HttpOptions,
  ) {}

  async fetch(q: ArtifactQuery, out: FileHandle, signal: AbortSignal): Promise<Found> {
    const base = this.name.replace(/\/+$/, '');
    const tail = q.kind === 'source' ? `source${q.path!.split('/').map(encodeURIComponent).join('/')}` : q.kind;
    this.#requests++;
    await out.truncate(0);
    const res = await httpGet(
      `${base}/buildid/${q.buildId}/${tail}`,
      { into: out, maxBytes: 2 ** 42 },
      {
        ...this.http,
        signal,
      },
    );
    this.#bytes += res.written;
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    return { size: res.written, file: header('x-debuginfod-file') ?? '', archive: header('x-debuginfod-archive') };
  }

  stats() {
    return { requests: this.#requests, bytes: this.#bytes };
  }
}

/** Sources from the command line: directories are local trees, URLs static mirrors of trees. */
export async function openSources(
  targets: string[],
  upstreams: string[],
  options: { cacheDir: string; http: HttpOptions; log: IndexLog; env: NodeJS.ProcessEnv },
): Promise<Source[]> {
  const out: Source[] = [];
  for (const t of targets) {
    if (isUrl(t)) {
      const location = openLocation(t.endsWith('/') ? t : `${t}/`, options.http);
      out.push(new IndexSource(t, location, (tarball) => location.urlOf(tarball)));
      continue;
    }
    const tree = path.resolve(t);
    const st = await fs.stat(tree).catch(() => undefined);
    if (!st?.isDirectory()) throw new PackdebugError('E_INPUT', `${t}: not a directory or a URL`, { file: t });
    out.push(new LocalTreeSource(t, tree, options.cacheDir, options.log, options.env));
  }
  for (const u of upstreams) {
    if (!/^https?:\/\//i.test(u)) throw new PackdebugError('E_USAGE', `--upstream ${u}: not an http(s) URL`);
    out.push(new UpstreamSource(u, options.http));
  }
  for (const s of out) await s.refresh?.();
  return out;
}
