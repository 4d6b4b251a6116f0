/**
 * The server's disk cache: one file per artifact (a debug file, an
 * executable, a source file), written through AtomicFile (a temporary name,
 * renamed when verified), with a small record beside it (size and SHA-256,
 * the response headers). A hit is checked against its record (the size on
 * every hit, the digest once per file version per process): a damaged entry
 * is dropped and fetched again. Bounded by `maxBytes`: the least recently
 * used entries go first. Several servers may share the directory: every
 * write is a rename, every reader tolerates an entry vanishing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FileHandle } from 'node:fs/promises';

/**
 * A cache file being written: a temporary name beside the entry, renamed on
 * commit. Not an AtomicFile: a server that gets SIGTERM finishes the
 * requests in flight, their files included, rather than dropping them.
 */
export class TempFile {
  #done = false;
  private constructor(
    readonly fh: FileHandle,
    readonly temp: string,
    readonly final: string,
  ) {}

  static async create(final: string): Promise<TempFile> {
    const temp = `${final}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    return new TempFile(await fs.open(temp, 'wx+', 0o644), temp, final);
  }

  async commit(): Promise<void> {
    await this.fh.close();
    await fs.rename(this.temp, this.final);
    this.#done = true;
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.fh.close().catch(() => undefined);
    await fs.rm(this.temp, { force: true }).catch(() => undefined);
  }
}

export interface EntryMeta {
  size: number;
  sha256: string;
  /** X-DEBUGINFOD-FILE and X-DEBUGINFOD-ARCHIVE as the source gave them. */
  file?: string;
  archive?: string;
}

export interface CacheHit {
  data: string;
  meta: EntryMeta;
}

export class DiskCache {
  readonly dir: string;
  readonly maxBytes: number;
  /** Entries whose digest this process checked, by path and mtime. */
  readonly #verified = new Set<string>();
  #evicting = false;

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  static key(parts: string[]): string {
    return createHash('sha256').update(parts.join('\0')).digest('hex');
  }

  #paths(key: string): { data: string; meta: string } {
    const base = path.join(this.dir, 'files', key.slice(0, 2), key);
    return { data: `${base}.data`, meta: `${base}.json` };
  }

  async get(key: string): Promise<CacheHit | undefined> {
    const p = this.#paths(key);
    let meta: EntryMeta;
    let st;
    try {
      meta = JSON.parse(await fs.readFile(p.meta, 'utf8')) as EntryMeta;
      st = await fs.lstat(p.data);
    } catch {
      return undefined;
    }
    if (!st.isFile() || st.size !== meta.size || !(await this.#digestOk(p.data, st.mtimeMs, meta.sha256))) {
      await this.drop(key);
      return undefined;
    }
    // Most recently used: the mtime orders eviction.
    const now = new Date();
    await fs.utimes(p.data, now, now).catch(() => undefined);
    this.#verified.add(`${p.data}:${now.getTime()}`);
    return { data: p.data, meta };
  }

  async #digestOk(file: string, mtimeMs: number, sha256: string): Promise<boolean> {
    if (this.#verified.has(`${file}:${mtimeMs}`)) return true;
    const ok = (await digestFile(file)) === sha256;
    if (ok) this.#verified.add(`${file}:${mtimeMs}`);
    return ok;
  }

  /** A temporary file for a new entry of `key`; commit() it when filled and verified. */
  async begin(key: string): Promise<TempFile> {
    const p = this.#paths(key);
    await fs.mkdir(path.dirname(p.data), { recursive: true });
    return TempFile.create(p.data);
  }

  /** Publishes a filled temporary file as the entry of `key`. */
  async commit(key: string, file: TempFile, meta: Omit<EntryMeta, 'sha256' | 'size'>): Promise<CacheHit> {
    const p = this.#paths(key);
    await file.fh.sync();
    const size = (await file.fh.stat()).size;
    const sha256 = await digestFile(file.temp);
    const full: EntryMeta = { ...meta, size, sha256 };
    const metaFile = await TempFile.create(p.meta);
    try {
      await metaFile.fh.writeFile(JSON.stringify(full));
      // The data first: a record never names data that is not there.
      await file.commit();
      await metaFile.commit();
    } finally {
      await metaFile.abort();
    }
    if (!this.#evicting) {
      this.#evicting = true;
      void this.#evict().finally(() => {
        this.#evicting = false;
      });
    }
    return { data: p.data, meta: full };
  }

  async drop(key: string): Promise<void> {
    const p = this.#paths(key);
    await fs.rm(p.meta, { force: true }).catch(() => undefined);
    await fs.rm(p.data, { force: true }).catch(() => undefined);
  }

  /** Bytes of the entries now (a scan of the directory). */
  async size(): Promise<number> {
    return (await this.#entries()).reduce((n, e) => n + e.size, 0);
  }

  async #entries(): Promise<{ key: string; size: number; mtimeMs: number }[]> {
    const out: { key: string; size: number; mtimeMs: number }[] = [];
    const top = path.join(this.dir, 'files');
    for (const sub of await fs.readdir(top).catch(() => [] as string[])) {
      for (const name of await fs.readdir(path.join(top, sub)).catch(() => [] as string[])) {
        if (!name.endsWith('.data')) continue;
        const st = await fs.lstat(path.join(top, sub, name)).catch(() => undefined);
        if (st?.isFile()) out.push({ key: name.slice(0, -5), size: st.size, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }

  async #evict(): Promise<void> {
    const entries = await this.#entries();
    let total = entries.reduce((n, e) => n + e.size, 0);
    if (total <= this.maxBytes) return;
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const e of entries) {
      if (total <= this.maxBytes) break;
      await this.drop(e.key);
      total -= e.size;
    }
  }
}

async function digestFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
