/**
 * Where a build-id's debug info is: in each tree or mirror (through its
 * build-id index: one shard GET, plus one for the tarball's member list when
 * sources are counted), and on each debuginfod server (a GET whose body is
 * not read, with the seed's status semantics: 404 and other 4xx are "not
 * there", 401/403 "credentials needed", the rest retried, then an error).
 */
import { probeArtifact, type ArtifactKind } from '../debuginfod/probe.js';
import { DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, type HttpOptions } from '../http/client.js';
import { KIND_DEBUGINFO, KIND_EXECUTABLE, type ShardTarball, type TarballObject } from '../mirror/format.js';
import { indexedBuild, tarballObjectOf } from '../mirror/remote.js';
import type { TreeLocation } from '../mirror/tree-location.js';
import { parseTarballName } from '../portage/naming.js';

/** Where one artifact was found. */
export interface Place {
  /** The tree, mirror or server, as given. */
  source: string;
  /** The tarball (path in the tree), for trees and mirrors. */
  tarball?: string;
  /** CATEGORY/PF of the tarball's package, and its BUILD_ID. */
  package?: string;
  buildNumber?: string;
  member?: string;
  size?: number;
}

export interface Coverage {
  debuginfo?: Place;
  executable?: Place;
  /** The source files the tarball holding the debug info has (trees and mirrors only). */
  sources?: Place & { count: number };
  /** Sources that could not answer (network, credentials, no index), one line each. */
  errors: string[];
}

/** Source members: regular files under usr/src/debug/. */
export const SOURCES_PREFIX = 'usr/src/debug/';

export function isSourceMember(m: { name: string; type: string }): boolean {
  return m.type === '0' && m.name.replace(/^(\.\/|\/)+/, '').startsWith(SOURCES_PREFIX);
}

export interface CoverageOptions {
  trees: TreeLocation[];
  servers: string[];
  http: HttpOptions;
  signal: AbortSignal;
}

/** Asks every tree and server about build-ids; tarball member lists are fetched once each. */
export class CoverageChecker {
  readonly #objects = new Map<string, Promise<TarballObject>>();
  readonly #records = new Map<string, ShardTarball>();

  constructor(private readonly options: CoverageOptions) {}

  /** The index object of `t` in `tree` (cached). */
  tarballObject(tree: TreeLocation, t: ShardTarball): Promise<TarballObject> {
    const key = `${tree.name}\0${t.key}`;
    let p = this.#objects.get(key);
    if (!p) {
      p = tarballObjectOf(tree.location(), t, this.options.signal);
      this.#objects.set(key, p);
    }
    return p;
  }

  /** The index record of a tarball some check() met in `tree`. */
  tarballRecord(tree: TreeLocation, tarball: string): ShardTarball | undefined {
    return this.#records.get(`${tree.name}\0${tarball}`);
  }

  async check(buildId: string): Promise<Coverage> {
    const out: Coverage = { errors: [] };
    for (const tree of this.options.trees) {
      try {
        await this.#fromTree(tree, buildId, out);
      } catch (err) {
        out.errors.push(`${tree.name}: ${(err as Error).message}`);
      }
      if (out.debuginfo && out.executable && out.sources) return out;
    }
    for (const server of this.options.servers) {
      for (const kind of ['debuginfo', 'executable'] as const) {
        if (out[kind]) continue;
        const found = await this.#fromServer(server, buildId, kind, out);
        if (found) out[kind] = found;
      }
    }
    return out;
  }

  async #fromTree(tree: TreeLocation, buildId: string, out: Coverage): Promise<void> {
    const entries = await indexedBuild(tree.location(), buildId, this.options.signal);
    for (const { t } of entries) this.#records.set(`${tree.name}\0${t.path}`, t);
    const place = (e: (typeof entries)[number]): Place => ({
      source: tree.name,
      tarball: e.t.path,
      ...packageOf(e.t.path),
      member: e.e.member,
      size: e.e.size,
    });
    const debuginfo = entries.find((x) => (x.e.kinds & KIND_DEBUGINFO) !== 0);
    const executable = entries.find((x) => (x.e.kinds & KIND_EXECUTABLE) !== 0);
    if (debuginfo && !out.debuginfo) out.debuginfo = place(debuginfo);
    if (executable && !out.executable) out.executable = place(executable);
    const holder = debuginfo ?? executable;
    if (holder && !out.sources) {
      const obj = await this.tarballObject(tree, holder.t);
      const count = obj.members.filter(isSourceMember).length;
      if (count > 0) out.sources = { source: tree.name, tarball: holder.t.path, ...packageOf(holder.t.path), count };
    }
  }

  async #fromServer(server: string, buildId: string, kind: ArtifactKind, out: Coverage): Promise<Place | undefined> {
    const { http, signal } = this.options;
    const r = await probeArtifact(server, buildId, kind, {
      retries: http.retries ?? DEFAULT_RETRIES,
      backoff: {
        baseMs: http.backoffBaseMs ?? DEFAULT_BACKOFF.baseMs,
        capMs: http.backoffCapMs ?? DEFAULT_BACKOFF.capMs,
      },
      attemptTimeoutMs: http.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      signal,
    });
    if (r.outcome === 'served') return { source: server, ...(r.size !== undefined ? { size: r.size } : {}) };
    if (r.outcome === 'auth') out.errors.push(`${server}: credentials needed (HTTP ${r.status ?? '401/403'})`);
    else if (r.outcome === 'error') out.errors.push(`${server}: ${r.detail ?? 'failed'}`);
    return undefined;
  }
}

/** CATEGORY/PF and BUILD_ID from a tarball's path in a tree (CATEGORY/PN/PF-BUILD_ID-debug.tar.xz). */
export function packageOf(tarball: string): { package?: string; buildNumber?: string } {
  const parts = tarball.split('/');
  if (parts.length < 3) return {};
  const [category, pn, file] = parts.slice(-3) as [string, string, string];
  const name = parseTarballName(category, pn, file);
  return typeof name === 'string' ? {} : { package: `${category}/${name.pf}`, buildNumber: name.buildNumber };
}
