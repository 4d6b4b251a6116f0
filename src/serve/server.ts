/**
 * `packdebug serve`: debuginfod's HTTP API over local trees, static mirrors
 * and upstream servers. Every artifact goes through the disk cache: fetched
 * (from all sources at once, the first good answer wins) into a temporary
 * file, verified, renamed, then streamed to the client from the file. What
 * a response holds in memory is one stream buffer, whatever the file's size
 * or the client's pace; a client that goes away closes its file.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { PackdebugError } from '../errors.js';
import { fdSource, findSection } from '../elf/index.js';
import { firstAnswer } from '../http/client.js';
import { DiskCache, type CacheHit, type TempFile } from './cache.js';
import { parseRequest } from './request.js';
import type { ArtifactQuery, Source } from './sources.js';

export interface ServerOptions {
  sources: Source[];
  cache: DiskCache;
  log: (message: string) => void;
}

class Metrics {
  readonly requests = new Map<string, number>();
  hits = 0;
  misses = 0;
  bytesSent = 0;
  bytesWritten = 0;
  upstreamErrors = 0;
  inFlight = 0;

  count(kind: string, status: number): void {
    const k = `kind="${kind}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  async text(sources: Source[], cache: DiskCache): Promise<string> {
    const lines: string[] = [];
    const metric = (name: string, help: string, type: string, rows: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of rows) lines.push(`${name}${labels ? `{${labels}}` : ''} ${v}`);
    };
    metric('packdebug_serve_requests_total', 'Requests by kind and status.', 'counter', [...this.requests]);
    metric('packdebug_serve_cache_hits_total', 'Artifacts served from the disk cache.', 'counter', [['', this.hits]]);
    metric('packdebug_serve_cache_misses_total', 'Artifacts fetched from the sources.', 'counter', [['', this.misses]]);
    metric('packdebug_serve_bytes_sent_total', 'Response body bytes sent.', 'counter', [['', this.bytesSent]]);
    metric('packdebug_serve_bytes_decoded_total', 'Artifact bytes decoded or fetched into the cache.', 'counter', [
      ['', this.bytesWritten],
    ]);
    metric(
      'packdebug_serve_source_requests_total',
      'Requests (HTTP, or file opens) made to each source.',
      'counter',
      sources.map((s) => [`source="${s.name.replace(/["\\\n]/g, '_')}"`, s.stats().requests]),
    );
    metric(
      'packdebug_serve_source_bytes_total',
      'Bytes fetched from each source.',
      'counter',
      sources.map((s) => [`source="${s.name.replace(/["\\\n]/g, '_')}"`, s.stats().bytes]),
    );
    metric('packdebug_serve_upstream_errors_total', 'Failed requests to upstream servers.', 'counter', [
      ['', this.upstreamErrors],
    ]);
    metric('packdebug_serve_cache_bytes', 'Bytes in the disk cache.', 'gauge', [['', await cache.size()]]);
    metric('packdebug_serve_requests_in_flight', 'Requests being answered.', 'gauge', [['', this.inFlight]]);
    return `${lines.join('\n')}\n`;
  }
}

export class DebuginfodServer {
  readonly http: http.Server;
  readonly metrics = new Metrics();
  readonly #options: ServerOptions;
  /** Artifacts being fetched: concurrent requests for one wait for the same fetch. */
  readonly #pending = new Map<string, Promise<CacheHit>>();

  constructor(options: ServerOptions) {
    this.#options = options;
    this.http = http.createServer({ maxHeaderSize: 16384, requestTimeout: 120_000 }, (req, res) => {
      void this.#handle(req, res);
    });
    this.http.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops accepting connections and resolves once the requests in flight are answered. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      this.http.closeIdleConnections();
    });
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.metrics.inFlight++;
    let kind = 'other';
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.#fail(res, kind, 405, 'only GET and HEAD');
      const parsed = parseRequest(req.url ?? '/');
      if (parsed.what === 'refused') return this.#fail(res, kind, parsed.status, parsed.reason);
      if (parsed.what === 'metrics') {
        kind = 'metrics';
        const body = await this.metrics.text(this.#options.sources, this.#options.cache);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
        this.metrics.count(kind, 200);
        return;
      }
      kind = parsed.kind;
      const query: ArtifactQuery =
        parsed.kind === 'section' ? { kind: 'debuginfo', buildId: parsed.buildId } : { ...parsed, kind: parsed.kind };
      let hit: CacheHit;
      let range: { offset: number; size: number } | undefined;
      if (parsed.kind === 'section') {
        // The section from the debuginfo file, else from the executable.
        const found = await this.#sectionOf(parsed.buildId, parsed.section!);
        if (!found) return this.#fail(res, kind, 404, 'no such section');
        ({ hit, range } = found);
      } else {
        hit = await this.#artifact(query);
      }
      const size = range?.size ?? hit.meta.size;
      const headers: http.OutgoingHttpHeaders = {
        'content-type': 'application/octet-stream',
        'content-length': size,
        'x-debuginfod-size': size,
        'x-debuginfod-file': hit.meta.file ?? '',
        'cache-control': 'public',
      };
      if (hit.meta.archive) headers['x-debuginfod-archive'] = hit.meta.archive;
      res.writeHead(200, headers);
      this.metrics.count(kind, 200);
      if (req.method === 'HEAD' || size === 0) {
        res.end();
        return;
      }
      await this.#send(hit.data, range?.offset ?? 0, size, res);
    } catch (err) {
      if (err instanceof PackdebugError && err.code === 'E_NOT_FOUND') return this.#fail(res, kind, 404, 'not found');
      if (err instanceof PackdebugError && err.code === 'E_AUTH') return this.#fail(res, kind, 404, 'not found');
      this.#options.log(`${req.url ?? ''}: ${err instanceof Error ? err.message : String(err)}`);
      return this.#fail(res, kind, 502, 'the sources failed');
    } finally {
      this.metrics.inFlight--;
    }
  }

  #fail(res: http.ServerResponse, kind: string, status: number, reason: string): void {
    this.metrics.count(kind, status);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = `${reason}\n`;
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** Streams [offset, offset + size) of `file`; a client that goes away ends it. */
  #send(file: string, offset: number, size: number, res: http.ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const stream = createReadStream(file, { start: offset, end: offset + size - 1, highWaterMark: 1 << 16 });
      stream.on('data', (c) => (this.metrics.bytesSent += c.length));
      stream.on('error', () => {
        res.destroy();
        resolve();
      });
      res.on('close', () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(res);
    });
  }

  /** The artifact from the cache, else from the sources (every source at once), into the cache. */
  #artifact(q: ArtifactQuery): Promise<CacheHit> {
    const key = DiskCache.key([q.kind, q.buildId, q.path ?? '']);
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#fetch(key, q).finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    return p;
  }

  async #fetch(key: string, q: ArtifactQuery): Promise<CacheHit> {
    const { cache, sources } = this.#options;
    const cached = await cache.get(key);
    if (cached) {
      this.metrics.hits++;
      return cached;
    }
    this.metrics.misses++;
    if (sources.length === 0) throw new PackdebugError('E_NOT_FOUND', 'no sources');
    const files: TempFile[] = [];
    try {
      const { file, found } = await firstAnswer(
        sources.map((s) => async (signal: AbortSignal) => {
          const file = await cache.begin(key);
          files.push(file);
          try {
            return { file, found: await s.fetch(q, file.fh, signal) };
          } catch (err) {
            if (s.upstream && !(err instanceof PackdebugError && err.code === 'E_NOT_FOUND'))
              this.metrics.upstreamErrors++;
            throw err;
          }
        }),
      );
      await file.fh.truncate(found.size);
      this.metrics.bytesWritten += found.size;
      return await cache.commit(key, file, { file: found.file, archive: found.archive });
    } finally {
      await Promise.all(files.map((f) => f.abort()));
    }
  }

  async #sectionOf(
    buildId: string,
    name: string,
  ): Promise<{ hit: CacheHit; range: { offset: number; size: number } } | undefined> {
    for (const kind of ['debuginfo', 'executable'] as const) {
      let hit: CacheHit;
      try {
        hit = await this.#artifact({ kind, buildId });
      } catch (err) {
        if (err instanceof PackdebugError && err.code === 'E_NOT_FOUND') continue;
        throw err;
      }
      const fh = await open(hit.data, 'r');
      let range: { offset: number; size: number } | undefined;
      try {
        range = findSection(fdSource(fh.fd, (await fh.stat()).size), name);
      } finally {
        await fh.close();
      }
      if (range) return { hit, range };
    }
    return undefined;
  }
}
