/**
 * extract's search: one member, by path or by GNU build-id, from one tarball
 * or from a tree of them (several at once; the newest BUILD_ID wins), written
 * to a file or to standard output.
 */
import fs from 'node:fs/promises';
import { PackdebugError } from '../errors.js';
import type { TarEntry } from '../tar/parse.js';
import { MANY_READS_XZ_MIN_SPAN } from '../xz/random-access.js';
import type { BuildIdKind } from './elf-members.js';
import { findByPath, lookupBuildId, type Extraction } from './extract.js';
import {
  memorySink,
  openOutputStream,
  type OutputStream,
  outputFile,
  planOutput,
  STDOUT_HOLD_MAX,
  STDOUT_SLICE,
  stdoutSink,
} from './extract-output.js';
import { TarballReader } from './reader.js';
import { newestFirst } from './order.js';
import type { TreeTarball } from './tree.js';

export interface ExtractRequest {
  /** A tarball or a tree of them. */
  source: string;
  /** GNU build-id (hex) of the wanted ELF file; exactly one of buildId and path. */
  buildId?: string;
  kind?: BuildIdKind;
  /** Member name. */
  path?: string;
  /** Output file (written atomically); stdout when absent or `-`. */
  output?: string;
  /** For the member-index cache (PACKDEBUG_CACHE_DIR) and xz(1). */
  env: NodeJS.ProcessEnv;
}

export interface ExtractLog {
  /** A tarball of the tree that could not be read (skipped). */
  warn(message: string): void;
  /** Slow paths taken, and which tarball won among several. */
  notice(message: string): void;
}

export interface Extracted {
  entry: TarEntry;
  /** The tarball it came from. */
  tarball: string;
  via: Extraction['via'];
  bytesDecoded: number;
}

interface Hit {
  tarball: TreeTarball;
  reader: TarballReader;
  found: Extraction;
}

/** Finds the member and writes it to `args.output` or `stdout`; E_NOT_FOUND when no tarball has it. */
export async function extractMember(args: ExtractRequest, stdout: OutputStream, log: ExtractLog): Promise<Extracted> {
  if ((args.buildId === undefined) === (args.path === undefined)) {
    throw new PackdebugError('E_USAGE', 'give exactly one of --build-id ID or --path MEMBER');
  }
  const source = args.source;
  const st = await fs.stat(source).catch(() => undefined);
  if (!st) throw new PackdebugError('E_INPUT', `${source}: no such tarball or directory`, { file: source });
  // Modules only some runs need are loaded when needed: extract's start-up counts.
  const candidates: TreeTarball[] = st.isDirectory()
    ? await (await import('../tarball/tree.js')).findTarballs(source)
    : [{ path: source, buildNumber: undefined, mtimeMs: st.mtimeMs }];
  if (candidates.length === 0)
    throw new PackdebugError('E_INPUT', `${source}: holds no CATEGORY/PN/*-debug.tar.xz tarballs`, { file: source });
  const what =
    args.buildId !== undefined
      ? `build-id ${args.buildId}${args.kind === 'executable' ? ' (executable)' : ''}`
      : `member ${args.path}`;

  // One tarball: the member goes into the output in the pass that finds it (a file
  // is committed only if the member is found; a stream - stdout, a device, a FIFO -
  // gets it from memory when it is small, else it is read again: what went into a
  // stream cannot be taken back). A tree: found first, read from the newest afterwards.
  // Every writer waits for its output, so memory stays near one chunk, whatever the size.
  const single = candidates.length === 1;
  const plan = await planOutput(args.output);
  const direct = single && plan.kind === 'replace' ? await outputFile(args.output!, plan.path) : undefined;
  const held = single && plan.kind !== 'replace' ? memorySink(STDOUT_HOLD_MAX) : undefined;
  const hits: Hit[] = [];
  // A tree means many short reads: in-process decoding (lzma-native loaded once) costs
  // less than a child process per read, which one tarball's few reads are worth.
  const readerOptions = single ? undefined : { xzMinSpan: MANY_READS_XZ_MIN_SPAN };
  const slow: SlowRead[] = [];
  const noLink: TreeTarball[] = [];
  let unreadable = 0;
  const searchOne = async (tarball: TreeTarball, trustLinks: boolean): Promise<void> => {
    const reader = await TarballReader.open(tarball.path, args.env, readerOptions);
    let found: Extraction | 'no-link' | undefined;
    try {
      const sink = direct?.sink ?? held?.sink;
      found =
        args.buildId !== undefined
          ? await lookupBuildId(reader, args.buildId, args.kind ?? 'debuginfo', sink, { trustLinks })
          : await findByPath(reader, args.path!, sink);
    } catch (err) {
      await reader.close();
      throw err;
    }
    if (reader.sequentialScans > 0 && !reader.oneSmallBlock && reader.ra.size > 0) {
      // Asked before the reader closes (cheap: one small probe per Block, if the lookup did not already).
      const aligned = reader.seekable && (await reader.locator.layout().catch(() => ({ aligned: false }))).aligned;
      slow.push({ path: tarball.path, blocks: reader.ra.blocks.length, aligned });
    }
    if (found === 'no-link') noLink.push(tarball);
    if (found && found !== 'no-link') hits.push({ tarball, reader, found });
    else await reader.close();
  };
  const searchAll = async (list: TreeTarball[], trustLinks: boolean) => {
    // A few tarballs at once: one waits for its file or its xz(1) while another decodes.
    const { limiter } = await import('../util/limit.js');
    const limit = limiter(TREE_SEARCH_JOBS);
    const settled = await Promise.allSettled(list.map((t) => limit(() => searchOne(t, trustLinks))));
    for (const r of settled) {
      if (r.status === 'fulfilled') continue;
      // One damaged tarball does not hide the member from the others (audit names what is wrong).
      if (!(r.reason instanceof PackdebugError)) throw r.reason;
      unreadable++;
      log.warn(`${r.reason.message.replace(/\s*\n\s*/g, ' ')}; skipped`);
    }
  };
  try {
    if (single) await searchOne(candidates[0]!, false);
    else {
      // Estrip links first: reading every tarball in full is only for a build-id no link names.
      await searchAll(candidates, true);
      if (hits.length === 0 && noLink.length > 0) {
        log.notice(
          `no estrip link names ${what} in ${source}: inspecting every ELF member of ` +
            `${noLink.length} tarball${noLink.length === 1 ? '' : 's'}, which is slow`,
        );
        await searchAll(noLink, false);
      }
    }
    slow.sort((a, b) => byPath(a.path, b.path));
    for (const line of slowNotices(slow, single, source)) log.notice(line);
    if (hits.length === 0) {
      const skipped = unreadable > 0 ? ` (${unreadable} unreadable tarball${unreadable === 1 ? '' : 's'} skipped)` : '';
      throw new PackdebugError('E_NOT_FOUND', `${what}: not found in ${source}${skipped}`, { file: source });
    }
    hits.sort((a, b) => newestFirst(a.tarball, b.tarball));
    const hit = hits[0]!;
    if (hits.length > 1) {
      log.notice(`${what} is in ${hits.length} tarballs; using the newest BUILD_ID: ${hit.tarball.path}`);
    }
    if (direct) await direct.commit();
    else if (plan.kind !== 'replace') {
      const data = held?.dataOf(hit.found.entry);
      const into = plan.kind === 'into' ? await openOutputStream(args.output!, plan) : undefined;
      const out = into?.sink ?? stdoutSink(stdout);
      try {
        if (!data) await hit.reader.readData(hit.found.entry, out);
        else {
          // In slices, so that a slow pipe sets the pace here too.
          for (let at = 0; at < data.length; at += STDOUT_SLICE) {
            out.write(data.subarray(at, at + STDOUT_SLICE));
            await out.drained!();
          }
        }
      } finally {
        await into?.finish();
      }
    } else {
      const out = await outputFile(args.output!, plan.path);
      try {
        await hit.reader.readData(hit.found.entry, out.sink);
        await out.commit();
      } finally {
        await out.abort();
      }
    }
    return {
      entry: hit.found.entry,
      tarball: hit.tarball.path,
      via: hit.found.via,
      bytesDecoded: hit.reader.bytesDecoded,
    };
  } finally {
    await direct?.abort();
    await Promise.all(hits.map((h) => h.reader.close()));
  }
}

/** Tarballs searched in parallel finish in any order: what is reported follows their paths. */
const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Tarballs of a tree searched at once. */
const TREE_SEARCH_JOBS = 4;

/** A tarball that had to be read from its start (one small Block does not count: it is read whole anyway). */
interface SlowRead {
  path: string;
  blocks: number;
  /** Blocks start at headers (a repacked tarball in its original member order). */
  aligned: boolean;
}

/** What stderr says of tarballs that had to be read from their start. */
function slowNotices(slow: SlowRead[], single: boolean, source: string): string[] {
  if (slow.length === 0) return [];
  if (!single) {
    return [
      `${slow.length} of the tarballs in ${source} were read sequentially, which is slow ` +
        `(the first: ${slow[0]!.path}); 'packdebug repack ${source}' fixes that for those not in the seekable layout`,
    ];
  }
  const { path: file, blocks, aligned } = slow[0]!;
  if (!aligned) {
    return [
      `${file} is not in the seekable layout (${blocks} xz Block${blocks === 1 ? '' : 's'}): ` +
        "read sequentially, which is slow; 'packdebug repack' fixes that",
    ];
  }
  return [
    `${file} keeps its original member order (a repacked tarball): read in full once to index its members; ` +
      'later extracts use the index cached in PACKDEBUG_CACHE_DIR',
  ];
}
