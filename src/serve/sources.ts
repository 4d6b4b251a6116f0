/**
 * Where the server finds artifacts: local trees (through their own index
 * when it is current, else through one kept in the cache directory), static
 * mirrors of trees (through their index, over HTTP), and upstream
 * debuginfod servers (with --upstream).
 */
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PackdebugError } from '../errors.js';
import { httpGet, type HttpOptions } from '../http/client.js';
import { lookupIn } from '../mirror/remote.js';
import { openTreeLocation, type TreeLocation } from '../mirror/tree-location.js';
import type { IndexLog } from '../mirror/update.js';
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

/** A tree (local, or a mirror) read through its build-id index. */
class IndexSource implements Source {
  readonly upstream = false;
  constructor(private readonly tree: TreeLocation) {}

  get name(): string {
    return this.tree.name;
  }

  async refresh(): Promise<void> {
    await this.tree.refresh();
  }

  async fetch(q: ArtifactQuery, out: FileHandle, signal: AbortSignal): Promise<Found> {
    const kind = q.kind === 'executable' ? 'executable' : 'debuginfo';
    const location = this.tree.location();
    const answer = await lookupIn({
      source: location.url,
      location,
      id: q.buildId,
      kind,
      path: q.kind === 'source' ? q.path : undefined,
      signal,
      out,
    });
    return { size: answer.size, file: fileHeader(answer.member, q.kind), archive: this.tree.archiveOf(answer.tarball) };
  }

  stats() {
    try {
      const { requests, bytes } = this.tree.location().stats;
      return { requests, bytes };
    } catch {
      return { requests: 0, bytes: 0 };
    }
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
  for (const t of targets) out.push(new IndexSource(await openTreeLocation(t, options)));
  for (const u of upstreams) {
    if (!/^https?:\/\//i.test(u)) throw new PackdebugError('E_USAGE', `--upstream ${u}: not an http(s) URL`);
    out.push(new UpstreamSource(u, options.http));
  }
  for (const s of out) await s.refresh?.();
  return out;
}
