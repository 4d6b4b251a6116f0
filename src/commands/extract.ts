import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExtractArgs } from './extract.args.js';
import { PackdebugError } from '../errors.js';
import { defaultTree } from '../portage/environment.js';
import { INDEX_DIR } from '../portage/naming.js';
import { extractMember } from '../tarball/tree-search.js';
import { printable, printableLine } from '../util/escape.js';
import type { CommandIO } from '../util/io.js';
import { isUrl } from '../util/url.js';

export async function runExtract(args: ExtractArgs, io: CommandIO): Promise<number> {
  // Said once, and only with -v: the probe costs an xz(1) run and loading lzma-native.
  if (args.verbose)
    io.stderr.write(`packdebug: ${await (await import('../xz/backends.js')).describeBackends(io.env)}\n`);
  const sources = [args.source ?? []].flat();
  if (sources.some(isUrl)) return runRemote(args, sources, io);
  if (sources.length > 1) throw new PackdebugError('E_USAGE', 'several sources are for URLs; give one tarball or tree');
  const source = sources[0] ?? defaultTree(io.env);
  // A tree whose build-id index describes it as it is: one shard and the Blocks, not a search of every tarball.
  if (args.buildId !== undefined && (await hasCurrentIndex(source)))
    return runRemote(args, [`${pathToFileURL(path.resolve(source)).href}/`], io);
  const log = {
    warn: (m: string) => io.stderr.write(`packdebug: warning: ${printableLine(m)}\n`),
    notice: (m: string) => io.stderr.write(`packdebug: ${printable(m)}\n`),
  };
  let from = source;
  if (args.buildId !== undefined && args.path !== undefined) {
    // A source file of the build: the tarball that holds the build-id, then the path in it.
    const holder = await extractMember(
      { source, buildId: args.buildId, kind: args.kind, output: '/dev/null', env: io.env },
      io.stdout,
      log,
    );
    from = holder.tarball;
  }
  const found = await extractMember(
    { ...args, source: from, buildId: from === source ? args.buildId : undefined, env: io.env },
    io.stdout,
    log,
  );
  if (args.verbose) {
    const via = { index: 'the Block layout', cache: 'the cached member index', scan: 'a sequential scan' }[found.via];
    io.stderr.write(
      `${printable(
        `packdebug: ${found.entry.path} (${found.entry.size} bytes) from ${found.tarball}, ` +
          `found by ${via}, ${found.bytesDecoded} bytes decoded`,
      )}\n`,
    );
  }
  return 0;
}

/** `tree` is a directory with a build-id index that is current (docs/index-format.md). */
async function hasCurrentIndex(tree: string): Promise<boolean> {
  // Most trees have none: that is told without loading the index code.
  if (!(await fs.stat(path.join(tree, INDEX_DIR)).catch(() => undefined))?.isDirectory()) return false;
  return (await import('../mirror/update.js')).indexIsCurrent(path.resolve(tree));
}

async function runRemote(args: ExtractArgs, sources: string[], io: CommandIO): Promise<number> {
  const [{ fetchRemote }, { httpOptionsFromFlags }, { planOutput, openOutputStream, stdoutSink }, { AtomicFile }] =
    await Promise.all([
      import('../mirror/remote.js'),
      import('../http/client.js'),
      import('../tarball/extract-output.js'),
      import('../util/atomic.js'),
    ]);
  const urls = sources.map((s) => (isUrl(s) ? s : pathToFileURL(s).href));
  const plan = await planOutput(args.output);
  const http = httpOptionsFromFlags(args, (m) => io.stderr.write(`packdebug: ${printableLine(m)}\n`));
  // Each source writes into a temporary file: beside the output (committed by a rename once verified), or in
  // $TMPDIR for a stream (copied out once verified). Memory stays small whatever the member's size.
  const files: Awaited<ReturnType<typeof AtomicFile.create>>[] = [];
  const open = async () => {
    const at = plan.kind === 'replace' ? plan.path : path.join(os.tmpdir(), `packdebug-extract-${process.pid}`);
    const f = await AtomicFile.create(at);
    files.push(f);
    return f;
  };
  try {
    const result = await fetchRemote(
      { sources: urls, buildId: args.buildId, kind: args.kind, path: args.path, http },
      open,
    );
    if (plan.kind === 'replace') {
      await result.file.fh.chmod(0o644);
      await result.file.commit();
    } else {
      const into = plan.kind === 'into' ? await openOutputStream(args.output!, plan) : undefined;
      const sink = into?.sink ?? stdoutSink(io.stdout);
      try {
        const chunk = Buffer.allocUnsafe(1 << 16);
        for (let at = 0; at < result.size;) {
          const { bytesRead } = await result.file.fh.read(chunk, 0, Math.min(chunk.length, result.size - at), at);
          if (bytesRead === 0) break;
          sink.write(Buffer.from(chunk.subarray(0, bytesRead)));
          await sink.drained?.();
          at += bytesRead;
        }
      } finally {
        await into?.finish();
      }
    }
    if (args.verbose) {
      io.stderr.write(
        `${printable(
          `packdebug: ${result.member} (${result.size} bytes) from ${result.tarball} at ${result.source} ` +
            `through its ${result.via === 'index' ? 'build-id index' : 'xz Index'}: ${result.requests} requests, ` +
            `${result.bytesFetched} bytes fetched`,
        )}\n`,
      );
    }
    return 0;
  } finally {
    await Promise.all(files.map((f) => f.abort()));
  }
}
