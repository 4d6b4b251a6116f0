import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TarEntry } from '../tar/parse.js';
import { fromSystemError, PackdebugError } from '../errors.js';
import { defaultTree } from '../portage/environment.js';
import type { BuildIdKind } from '../tarball/elf-members.js';
import { findByPath, lookupBuildId, type Extraction } from '../tarball/extract.js';
import { type Sink, TarballReader } from '../tarball/reader.js';
import type { TreeTarball } from '../tarball/tree.js';
import { MANY_READS_XZ_MIN_SPAN } from '../xz/random-access.js';
import type { CommandIO } from '../util/io.js';
import { printable, printableLine } from '../util/escape.js';

export interface ExtractArgs {
  /** A tarball or a tree of them; default `${EPREFIX}/usr/lib/debug/.tarball`. */
  source?: string;
  buildId?: string;
  kind?: BuildIdKind;
  path?: string;
  /** Output file; stdout when absent or `-`. */
  output?: string;
  /** Report what was done on stderr (member, tarball, bytes decoded). */
  verbose?: boolean;
}

interface Hit {
  tarball: TreeTarball;
  reader: TarballReader;
  found: Extraction;
}

/**
 * The extract arguments from a plain command line (`extract [SOURCE]
 * --build-id ID [--kind K] | --path M [-o FILE] [-v]`), parsed without
 * yargs: extract runs once per file a debugger asks for, and importing
 * yargs alone takes about 80 ms. Undefined for anything else (help, unknown
 * or repeated options, mistakes): the CLI then hands the line to yargs,
 * which gives the full messages.
 */
export function extractArgsFromArgv(argv: readonly string[]): ExtractArgs | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        'build-id': { type: 'string', multiple: true },
        kind: { type: 'string', multiple: true },
        path: { type: 'string', multiple: true },
        output: { type: 'string', short: 'o', multiple: true },
        verbose: { type: 'boolean', short: 'v', multiple: true },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch {
    return undefined;
  }
  const { values, positionals } = parsed;
  const once = <T>(v: T[] | undefined): T | undefined => v?.[0];
  if (positionals.length > 1 || Object.values(values).some((v) => v !== undefined && v.length !== 1)) return undefined;
  const kind = once(values.kind);
  if (kind !== undefined && kind !== 'debuginfo' && kind !== 'executable') return undefined;
  const args: ExtractArgs = {
    source: positionals[0],
    buildId: once(values['build-id']),
    kind,
    path: once(values.path),
    output: once(values.output),
    verbose: once(values.verbose) ?? false,
  };
  if ((args.buildId === undefined) === (args.path === undefined)) return undefined;
  return args;
}

export async function runExtract(args: ExtractArgs, io: CommandIO): Promise<number> {
  if ((args.buildId === undefined) === (args.path === undefined)) {
    throw new PackdebugError('E_USAGE', 'give exactly one of --build-id ID or --path MEMBER');
  }
  const source = args.source ?? defaultTree(io.env);
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
  // is committed only if the member is found; stdout gets it from memory when it is
  // small, else it is read again). A tree: found first, read from the newest afterwards.
  const single = candidates.length === 1;
  const toStdout = args.output === undefined || args.output === '-';
  const direct = single && !toStdout ? await outputFile(args.output!) : undefined;
  const held = single && toStdout ? memorySink(STDOUT_HOLD_MAX) : undefined;
  const hits: Hit[] = [];
  // A tree means many short reads: in-process decoding (lzma-native loaded once) costs
  // less than a child process per read, which one tarball's few reads are worth.
  const readerOptions = single ? undefined : { xzMinSpan: MANY_READS_XZ_MIN_SPAN };
  const slow: SlowRead[] = [];
  const noLink: TreeTarball[] = [];
  let unreadable = 0;
  const searchOne = async (tarball: TreeTarball, trustLinks: boolean): Promise<void> => {
    const reader = await TarballReader.open(tarball.path, io.env, readerOptions);
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
      io.stderr.write(`packdebug: warning: ${printableLine(r.reason.message)}; skipped\n`);
    }
  };
  try {
    if (single) await searchOne(candidates[0]!, false);
    else {
      // Estrip links first: reading every tarball in full is only for a build-id no link names.
      await searchAll(candidates, true);
      if (hits.length === 0 && noLink.length > 0) {
        io.stderr.write(
          `${printable(`packdebug: no estrip link names ${what} in ${source}: inspecting every ELF member of ${noLink.length} tarball${noLink.length === 1 ? '' : 's'}, which is slow`)}\n`,
        );
        await searchAll(noLink, false);
      }
    }
    slow.sort((a, b) => byPath(a.path, b.path));
    for (const line of slowNotices(slow, single, source)) io.stderr.write(`${printable(line)}\n`);
    if (hits.length === 0) {
      const skipped = unreadable > 0 ? ` (${unreadable} unreadable tarball${unreadable === 1 ? '' : 's'} skipped)` : '';
      throw new PackdebugError('E_NOT_FOUND', `${what}: not found in ${source}${skipped}`, { file: source });
    }
    hits.sort(
      (a, b) =>
        (b.tarball.buildNumber ?? -1) - (a.tarball.buildNumber ?? -1) ||
        b.tarball.mtimeMs - a.tarball.mtimeMs ||
        byPath(a.tarball.path, b.tarball.path),
    );
    const hit = hits[0]!;
    if (hits.length > 1) {
      io.stderr.write(
        `${printable(`packdebug: ${what} is in ${hits.length} tarballs; using the newest BUILD_ID: ${hit.tarball.path}`)}\n`,
      );
    }
    if (direct) await direct.commit();
    else if (toStdout) {
      const data = held?.dataOf(hit.found.entry);
      const out = stdoutSink(io.stdout);
      if (!data) await hit.reader.readData(hit.found.entry, out);
      else {
        // In slices, so that a slow pipe sets the pace here too.
        for (let at = 0; at < data.length; at += STDOUT_SLICE) {
          out.write(data.subarray(at, at + STDOUT_SLICE));
          await out.drained!();
        }
      }
    } else {
      const out = await outputFile(args.output!);
      try {
        await hit.reader.readData(hit.found.entry, out.sink);
        await out.commit();
      } finally {
        await out.abort();
      }
    }
    if (args.verbose) {
      io.stderr.write(
        `${printable(`packdebug: ${hit.found.entry.path} (${hit.found.entry.size} bytes) from ${hit.tarball.path}, found by ${{ index: 'the Block layout', cache: 'the cached member index', scan: 'a sequential scan' }[hit.found.via]}, ${hit.reader.bytesDecoded} bytes decoded`)}\n`,
      );
    }
    return 0;
  } finally {
    await direct?.abort();
    await Promise.all(hits.map((h) => h.reader.close()));
  }
}

/** Tarballs searched in parallel finish in any order: what is reported follows their paths. */
const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Tarballs of a tree searched at once. */
const TREE_SEARCH_JOBS = 4;
/** Members up to this size go to stdout from the pass that found them (larger ones are read again, Block by Block). */
const STDOUT_HOLD_MAX = 16 << 20;
const STDOUT_SLICE = 64 << 10;

/** Holds the last member begun, up to `limit` bytes, so stdout can have it without a second decode. */
function memorySink(limit: number): { sink: Sink; dataOf(entry: TarEntry): Buffer | undefined } {
  let current: TarEntry | undefined;
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    sink: {
      begin(entry) {
        current = entry.size <= limit ? entry : undefined;
        chunks = [];
        size = 0;
      },
      write(chunk) {
        if (!current) return;
        chunks.push(Buffer.from(chunk));
        size += chunk.length;
      },
    },
    dataOf: (entry) =>
      current && current.headerOffset === entry.headerOffset && size === entry.size
        ? Buffer.concat(chunks, size)
        : undefined,
  };
}

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
      `packdebug: ${slow.length} of the tarballs in ${source} were read sequentially, which is slow (the first: ${slow[0]!.path}); 'packdebug repack ${source}' fixes that for those not in the seekable layout`,
    ];
  }
  const { path: file, blocks, aligned } = slow[0]!;
  if (!aligned) {
    return [
      `packdebug: ${file} is not in the seekable layout (${blocks} xz Block${blocks === 1 ? '' : 's'}): read sequentially, which is slow; 'packdebug repack' fixes that`,
    ];
  }
  return [
    `packdebug: ${file} keeps its original member order (a repacked tarball): read in full once to index its members; later extracts use the index cached in PACKDEBUG_CACHE_DIR`,
  ];
}

/** Standard output as a Sink that lets a slow reader (a pipe) set the pace, Block by Block. */
function stdoutSink(stdout: CommandIO['stdout']): Sink {
  const stream = stdout as Partial<NodeJS.WritableStream> & { writableNeedDrain?: boolean; destroyed?: boolean };
  return {
    write: (chunk) => void stdout.write(chunk),
    drained: () =>
      stream.writableNeedDrain && !stream.destroyed && typeof stream.once === 'function'
        ? new Promise<void>((resolve) => {
            const done = () => {
              stream.off?.('drain', done);
              stream.off?.('close', done);
              resolve();
            };
            stream.once!('drain', done);
            stream.once!('close', done);
          })
        : Promise.resolve(),
  };
}

/** An atomically written output file fed through a Sink; only the last member begun is kept. */
async function outputFile(output: string): Promise<{ sink: Sink; commit(): Promise<void>; abort(): Promise<void> }> {
  const { AtomicFile } = await import('../util/atomic.js');
  const file = await AtomicFile.create(path.resolve(output));
  let writing = Promise.resolve();
  let position = 0;
  let failure: unknown;
  const sink: Sink = {
    begin() {
      position = 0;
      writing = writing.then(() => file.fh.truncate(0)).catch((err) => void (failure ??= err));
    },
    write(chunk) {
      const at = position;
      position += chunk.length;
      const copy = Buffer.from(chunk);
      writing = writing.then(async () => {
        if (failure === undefined) await file.fh.write(copy, 0, copy.length, at).catch((err) => void (failure ??= err));
      });
    },
    drained: () => writing,
  };
  return {
    sink,
    async commit() {
      await writing;
      if (failure !== undefined) throw fromSystemError(failure, output, 'writing the output');
      await file.fh.chmod(0o644);
      await file.commit();
    },
    abort: () => file.abort(),
  };
}
