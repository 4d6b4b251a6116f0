/**
 * A tree of tarballs as a Location read through a build-id index: a URL
 * (a mirror, or file://) through the index it publishes, a local directory
 * through its own index when that is current, else through one kept in a
 * cache directory (brought up to date on every refresh, incrementally).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PackdebugError } from '../errors.js';
import type { HttpOptions } from '../http/client.js';
import { type Location, openLocation } from '../http/location.js';
import { isUrl } from '../util/url.js';
import { INDEX_DIR } from './format.js';
import { indexIsCurrent, type IndexLog, updateIndex } from './update.js';

export interface TreeLocation {
  /** As given on the command line. */
  readonly name: string;
  /** A local tree's directory; undefined for a URL. */
  readonly tree?: string;
  /** The current Location (changes when a refresh moves between the tree's own index and the cached one). */
  location(): Location;
  /** Where a tarball of the tree is: a local path, or its URL. */
  archiveOf(tarball: string): string;
  /** Brings a local tree's index up to date; true when it was not current and had to be (re)built in the cache. */
  refresh(): Promise<boolean>;
}

export interface TreeLocationOptions {
  /** Where indexes of trees without a current one are kept. */
  cacheDir: string;
  http: HttpOptions;
  log: IndexLog;
  env: NodeJS.ProcessEnv;
}

/** Opens a tree given as a directory or a URL; call refresh() before the first use. */
export async function openTreeLocation(target: string, options: TreeLocationOptions): Promise<TreeLocation> {
  if (isUrl(target)) {
    const location = openLocation(target.endsWith('/') ? target : `${target}/`, options.http);
    return {
      name: target,
      location: () => location,
      archiveOf: (tarball) => location.urlOf(tarball),
      refresh: async () => false,
    };
  }
  const tree = path.resolve(target);
  const st = await fs.stat(tree).catch(() => undefined);
  if (!st?.isDirectory()) throw new PackdebugError('E_INPUT', `${target}: not a directory or a URL`, { file: target });
  return new LocalTree(target, tree, options);
}

class LocalTree implements TreeLocation {
  #location: Location | undefined;
  #indexDir: string | undefined;

  constructor(
    readonly name: string,
    readonly tree: string,
    private readonly options: TreeLocationOptions,
  ) {}

  location(): Location {
    if (!this.#location) throw new Error('TreeLocation used before refresh()');
    return this.#location;
  }

  archiveOf(tarball: string): string {
    return path.join(this.tree, tarball);
  }

  async refresh(): Promise<boolean> {
    if (await indexIsCurrent(this.tree)) {
      if (this.#indexDir !== undefined || !this.#location) this.#open(undefined);
      return false;
    }
    const dir = path.join(
      this.options.cacheDir,
      'index',
      createHash('sha256').update(this.tree).digest('hex').slice(0, 16),
    );
    await updateIndex({ tree: this.tree, indexDir: dir, env: this.options.env, log: this.options.log });
    if (this.#indexDir !== dir || !this.#location) this.#open(dir);
    return true;
  }

  #open(indexDir: string | undefined): void {
    this.#indexDir = indexDir;
    const overlay = indexDir ? { prefix: `${INDEX_DIR}/`, root: indexDir } : undefined;
    this.#location = openLocation(`${pathToFileURL(this.tree).href}/`, {}, overlay);
  }
}
