#!/usr/bin/env node
/**
 * Command-line entry: wires yargs to src/commands/<verb>.ts. Each command
 * module is imported only when its verb runs, to keep start-up light.
 */
import type { Argv } from 'yargs';
import { exitStatusFor, PackdebugError } from './errors.js';
import { processIO } from './util/io.js';
import { printableLine } from './util/escape.js';

// liblzma work runs on libuv's thread pool: leave room for file I/O beside the encoders.
process.env.UV_THREADPOOL_SIZE ??= '8';

// `packdebug audit | head`: a reader that went away ends the run quietly, as SIGPIPE would.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(141);
  throw err;
});

type Handler = () => Promise<number>;

async function run(handler: Handler): Promise<void> {
  try {
    process.exitCode = await handler();
  } catch (err) {
    if (err instanceof PackdebugError) {
      // Names in messages come from tarballs, trees and binpkgs: one line, no control characters.
      process.stderr.write(`packdebug: ${printableLine(err.message)}\n`);
      process.exitCode = exitStatusFor(err.code);
    } else {
      const e = err as Error;
      process.stderr.write(`packdebug: internal error: ${e?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    }
  }
}

const identityOptions = (y: Argv) =>
  y
    .option('image', { alias: 'D', type: 'string', demandOption: true, describe: 'image directory (Portage ${ED})' })
    .option('category', { type: 'string', demandOption: true, describe: 'package category (${CATEGORY})' })
    .option('pn', { type: 'string', demandOption: true, describe: 'package name (${PN})' })
    .option('pf', { type: 'string', demandOption: true, describe: 'package name and version with revision (${PF})' })
    .option('build-id', {
      type: 'string',
      demandOption: true,
      describe: 'binpkg BUILD_ID (an integer, FEATURES=binpkg-multi-instance)',
    });

// extract runs once per file a debugger asks for: a plain extract command
// line skips yargs (about 80 ms to import); help and mistakes still get it.
const quickExtract =
  process.argv[2] === 'extract'
    ? (await import('./commands/extract.js')).extractArgsFromArgv(process.argv.slice(3))
    : undefined;
if (quickExtract) {
  await run(async () => (await import('./commands/extract.js')).runExtract(quickExtract, processIO()));
} else {
  await wireYargs();
}

async function wireYargs(): Promise<void> {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const parser = yargs(hideBin(process.argv));
  await parser
    .scriptName('packdebug')
    .usage('$0 <command> [options]\n\nBlock-seekable debug tarballs for Gentoo binhosts, served by debuginfod.')
    .command(
      'pack',
      'pack usr/src/debug and usr/lib/debug of an image into a verified, seekable .tar.xz',
      (y) =>
        identityOptions(y)
          .option('out', {
            alias: 'o',
            type: 'string',
            describe: 'output file (default: IMAGE/usr/lib/debug/.tarball/CAT/PN/PF-N-debug.tar.xz)',
          })
          .option('preset', { type: 'string', describe: 'xz preset 0-9 or 0e-9e', default: '6' })
          .option('threads', { alias: 'T', type: 'number', describe: 'Blocks compressed at once (default: all cores)' })
          .option('block-size', {
            type: 'string',
            describe: 'target uncompressed size of a Block of small members, default 1984KiB (see docs/layout.md)',
          })
          .option('source-block-size', {
            type: 'string',
            describe:
              'Block size for usr/src/debug, which debuggers fetch one file at a time (default: the smaller of --block-size and 1984KiB)',
          })
          .option('large-block-size', {
            type: 'string',
            describe:
              'members of at least --block-size get Blocks of their own, at most this large (default: twice --block-size, at most the preset dictionary, so 3968KiB at the defaults)',
          })
          .option('encoder', {
            choices: ['auto', 'xz', 'lzma-native'] as const,
            default: 'auto' as const,
            describe: 'who compresses Blocks: the system xz(1) (faster) or the bundled lzma-native; same output',
          })
          .option('remove-packed', {
            type: 'boolean',
            default: false,
            describe:
              'after a verified write, remove the packed files from the image and prune the directories that emptied',
          })
          .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
          .example('$0 pack --image "$ED" --category app-misc --pn hello --pf hello-1.0 --build-id 1', '')
          .epilog('Exit status: 0 packed (or nothing to pack), 1 failed (nothing written), 2 usage or input error.'),
      (a) =>
        run(async () => {
          const { runPack } = await import('./commands/pack.js');
          return runPack(
            {
              image: a.image,
              category: a.category,
              pn: a.pn,
              pf: a.pf,
              buildId: a['build-id'],
              out: a.out,
              preset: a.preset,
              threads: a.threads,
              blockSize: a['block-size'],
              largeBlockSize: a['large-block-size'],
              sourceBlockSize: a['source-block-size'],
              encoder: a.encoder,
              removePacked: a['remove-packed'],
              json: a.json,
            },
            processIO(),
          );
        }),
    )
    .command(
      'list <tarball>',
      'list members with offsets, build-ids and how debuginfod would index them; summary of the xz Blocks',
      (y) =>
        y
          .positional('tarball', { type: 'string', demandOption: true, describe: 'a .tar.xz debug tarball' })
          .option('json', {
            type: 'boolean',
            default: false,
            describe:
              'print {tarball, blocks, largestBlock, seekable, packdebugLayout, sorted, oneSmallBlock, members, buildIds, entries[]} as JSON',
          }),
      (a) =>
        run(async () => {
          const { runList } = await import('./commands/list.js');
          return runList({ tarball: a.tarball as string, json: a.json }, processIO());
        }),
    )
    .command(
      'extract [source]',
      'write one member, by build-id or by path, decoding only the xz Blocks that hold it',
      (y) =>
        y
          .positional('source', {
            type: 'string',
            describe: 'a tarball, or a tree of them (default: ${EPREFIX}/usr/lib/debug/.tarball)',
          })
          .option('build-id', { type: 'string', describe: 'GNU build-id (hex) of the wanted ELF file' })
          .option('kind', {
            choices: ['debuginfo', 'executable'] as const,
            default: 'debuginfo' as const,
            describe: 'with --build-id: which file debuginfod would serve',
          })
          .option('path', { type: 'string', describe: 'member name, e.g. /usr/src/debug/CAT/PF/file.c' })
          .option('output', {
            alias: 'o',
            type: 'string',
            describe: 'output file (written atomically); default stdout',
          })
          .option('verbose', {
            alias: 'v',
            type: 'boolean',
            default: false,
            describe: 'say where the member came from and how much was decoded',
          })
          .conflicts('build-id', 'path')
          .check((a) =>
            a['build-id'] !== undefined || a.path !== undefined ? true : 'give --build-id ID or --path MEMBER',
          )
          .epilog('Exit status: 0 written, 1 not found or failed, 2 usage or input error.'),
      (a) =>
        run(async () => {
          const { runExtract } = await import('./commands/extract.js');
          return runExtract(
            {
              source: a.source,
              buildId: a['build-id'],
              kind: a.kind,
              path: a.path,
              output: a.output,
              verbose: a.verbose,
            },
            processIO(),
          );
        }),
    )
    .command(
      'repack [targets..]',
      "rewrite tarballs that are not block-seekable (Portage's single-Block ones) into packdebug's layout; the tar stream stays byte-identical",
      (y) =>
        y
          .positional('targets', {
            type: 'string',
            array: true,
            describe: 'tarballs, or a tree of them (default: ${EPREFIX}/usr/lib/debug/.tarball)',
          })
          .option('dry-run', {
            alias: 'n',
            type: 'boolean',
            default: false,
            describe: 'only say what would be repacked',
          })
          .option('block-size', { type: 'string', describe: 'as for pack (default 1984KiB)' })
          .option('source-block-size', { type: 'string', describe: 'as for pack' })
          .option('preset', { type: 'string', default: '6', describe: 'xz preset 0-9 or 0e-9e' })
          .option('threads', { alias: 'T', type: 'number', describe: 'Blocks compressed at once (default: all cores)' })
          .option('encoder', {
            choices: ['auto', 'xz', 'lzma-native'] as const,
            default: 'auto' as const,
            describe: 'as for pack',
          })
          .option('json', { type: 'boolean', default: false, describe: 'print the results as a JSON array' })
          .epilog(
            'Exit status: 0 all repacked or skipped, 1 some failed (those are left as they were), 2 usage or input error.',
          ),
      (a) =>
        run(async () => {
          const { runRepack } = await import('./commands/repack.js');
          return runRepack(
            {
              targets: (a.targets as string[] | undefined) ?? [],
              dryRun: a['dry-run'],
              blockSize: a['block-size'],
              sourceBlockSize: a['source-block-size'],
              preset: a.preset,
              threads: a.threads,
              encoder: a.encoder,
              json: a.json,
            },
            processIO(),
          );
        }),
    )
    .command(
      'audit [tree]',
      'check a tarball tree: layout, xz containers, unsafe members, build-ids, binpkgs and installed builds',
      (y) =>
        y
          .positional('tree', {
            type: 'string',
            describe: 'the tarball tree (default: ${EPREFIX}/usr/lib/debug/.tarball)',
          })
          .option('pkgdir', {
            type: 'string',
            describe: 'a binpkg directory (PKGDIR): report tarballs without binpkg and binpkgs without tarball',
          })
          .option('vdb', {
            type: 'string',
            describe:
              'the installed-package database (e.g. /var/db/pkg): tell which tarballs belong to installed builds',
          })
          .option('deep', {
            type: 'boolean',
            default: false,
            describe: 'decode every Block (Checks verified) and parse every tar stream to its end',
          })
          .option('severity', {
            choices: ['error', 'warning', 'info'] as const,
            default: 'info' as const,
            describe: 'show findings of this severity or worse (the summary counts all)',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'print {schema, tree, deep, tarballs[], findings[], summary} as JSON (docs/audit.md)',
          })
          .epilog(
            'Shallow by default: reads footers, Indexes and tar headers only. Finding codes: docs/audit.md.\nExit status: 0 no error finding, 1 error findings, 2 usage or I/O error.',
          ),
      (a) =>
        run(async () => {
          const { runAudit } = await import('./commands/audit.js');
          return runAudit(
            { tree: a.tree, pkgdir: a.pkgdir, vdb: a.vdb, deep: a.deep, json: a.json, severity: a.severity },
            processIO(),
          );
        }),
    )
    .command(
      'prune [tree]',
      'delete old tarballs: per CATEGORY/PN keep the newest N builds and those with a binpkg or installed',
      (y) =>
        y
          .positional('tree', {
            type: 'string',
            describe: 'the tarball tree (default: ${EPREFIX}/usr/lib/debug/.tarball)',
          })
          .option('keep', {
            type: 'number',
            default: 3,
            describe: 'newest builds (highest version, then BUILD_ID) kept per CATEGORY/PN',
          })
          .option('pkgdir', { type: 'string', describe: 'also keep every tarball whose binpkg is in this PKGDIR' })
          .option('vdb', {
            type: 'string',
            describe: 'also keep every tarball of an installed build (e.g. /var/db/pkg)',
          })
          .option('older-than', {
            type: 'number',
            describe: 'only delete tarballs last modified at least this many days ago',
          })
          .option('dry-run', {
            alias: 'n',
            type: 'boolean',
            default: false,
            describe: 'only say what would be deleted',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe:
              'print {schema, tree, dryRun, keep, deleted[], removedDirs[], skipped[], failed[], kept, reclaimedBytes} as JSON',
          })
          .epilog(
            'Deletes only regular files named CATEGORY/PN/PF-BUILD_ID-debug.tar.xz, re-checked right before unlink; removes directories it emptied. Safe from cron beside debuginfod.\nExit status: 0 done, 1 some deletions failed, 2 usage or input error (nothing deleted).',
          ),
      (a) =>
        run(async () => {
          const { runPrune } = await import('./commands/prune.js');
          return runPrune(
            {
              tree: a.tree,
              keep: a.keep,
              pkgdir: a.pkgdir,
              vdb: a.vdb,
              olderThan: a['older-than'],
              dryRun: a['dry-run'],
              json: a.json,
            },
            processIO(),
          );
        }),
    )
    .command(
      'from-binpkg <targets..>',
      'debug tarballs from binpkgs (GPKG or XPAK) that still carry usr/lib/debug and usr/src/debug, without unpacking them',
      (y) =>
        y
          .positional('targets', {
            type: 'string',
            array: true,
            demandOption: true,
            describe: 'a PKGDIR (with or without its Packages index) or binpkg files (*.gpkg.tar, *.tbz2, *.xpak)',
          })
          .option('out', {
            alias: 'o',
            type: 'string',
            describe:
              'output tree: tarballs go to TREE/CATEGORY/PN/PF-BUILD_ID-debug.tar.xz (default: ${EPREFIX}/usr/lib/debug/.tarball)',
          })
          .option('jobs', {
            alias: 'j',
            type: 'number',
            describe: 'binpkgs converted at once (default: the number of cores)',
          })
          .option('threads', {
            alias: 'T',
            type: 'number',
            describe:
              'Blocks compressed at once per binpkg (default: the number of cores; all binpkgs together never compress more Blocks at once than that)',
          })
          .option('preset', { type: 'string', default: '6', describe: 'xz preset 0-9 or 0e-9e' })
          .option('block-size', { type: 'string', describe: 'as for pack (default 1984KiB)' })
          .option('source-block-size', { type: 'string', describe: 'as for pack' })
          .option('large-block-size', { type: 'string', describe: 'as for pack' })
          .option('encoder', {
            choices: ['auto', 'xz', 'lzma-native'] as const,
            default: 'auto' as const,
            describe: 'as for pack',
          })
          .option('tmpdir', {
            type: 'string',
            describe:
              "where the debug data of a binpkg waits while its image streams by (default: $TMPDIR); needs room for the largest package's debug files, times --jobs",
          })
          .option('max-spill', {
            type: 'string',
            describe: 'most debug file data per binpkg (default 32GiB; env PACKDEBUG_MAX_SPILL)',
          })
          .option('max-spill-ratio', {
            type: 'string',
            describe: "most debug file data per binpkg, times the binpkg's size, at least 256MiB (default 100)",
          })
          .option('decompress-memory', {
            type: 'string',
            describe: 'most memory a decompressor may use per binpkg (default 256MiB; zstd, xz, lzip)',
          })
          .option('max-metadata', {
            type: 'string',
            describe: 'most decompressed metadata per binpkg (default 32MiB)',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'print {tree, packed, skipped, failed, notices, results[]} as JSON',
          })
          .example('$0 from-binpkg /var/cache/binpkgs --out /srv/debug/.tarball', '')
          .epilog(
            'Binpkgs are never modified. Exit status: 0 every binpkg packed or skipped, 1 some failed (the others are done), 2 usage or input error.',
          ),
      (a) =>
        run(async () => {
          const { runFromBinpkg } = await import('./commands/from-binpkg.js');
          return runFromBinpkg(
            {
              targets: (a.targets as string[] | undefined) ?? [],
              out: a.out,
              jobs: a.jobs,
              threads: a.threads,
              preset: a.preset,
              blockSize: a['block-size'],
              largeBlockSize: a['large-block-size'],
              sourceBlockSize: a['source-block-size'],
              encoder: a.encoder,
              tmpdir: a.tmpdir,
              maxSpill: a['max-spill'],
              maxSpillRatio: a['max-spill-ratio'],
              decompressMemory: a['decompress-memory'],
              maxMetadata: a['max-metadata'],
              json: a.json,
            },
            processIO(),
          );
        }),
    )
    .command(
      'verify [targets..]',
      'check that debuginfod servers serve every build-id of the tarballs (after publishing, in CI)',
      (y) =>
        y
          .positional('targets', {
            type: 'string',
            array: true,
            describe: 'tarballs, or trees of them (default: ${EPREFIX}/usr/lib/debug/.tarball)',
          })
          .option('server', {
            alias: 's',
            type: 'string',
            array: true,
            describe: 'debuginfod server URL, repeatable (default: DEBUGINFOD_URLS)',
          })
          .option('jobs', {
            alias: 'j',
            type: 'number',
            default: 8,
            describe: 'requests in flight at once, over all servers',
          })
          .option('deep', {
            type: 'boolean',
            default: false,
            describe: 'download what is served and compare it with the tarball member (SHA-256)',
          })
          .option('every-server', {
            type: 'boolean',
            default: false,
            describe: 'every server must serve every build-id (default: one is enough, as for a client)',
          })
          .option('retries', {
            type: 'number',
            default: 4,
            describe:
              'retries of a request after 5xx, 429 or a transport error (capped exponential backoff with jitter)',
          })
          .option('deadline', { type: 'number', default: 600, describe: 'total time allowed, in seconds' })
          .option('attempt-timeout', {
            type: 'number',
            default: 60,
            describe: 'seconds one request may wait for its response headers',
          })
          .option('body-timeout', {
            type: 'number',
            default: 30,
            describe: 'with --deep: seconds in which a body must bring 1 KiB (or end); slower bodies are retried',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe:
              'print {ok, deep, tarballs, unreadable, artifacts, served, servers[{url, served, missing, mismatched, unauthorized, errors}]} as JSON',
          })
          .example('$0 verify /srv/debug/.tarball --server http://binhost:8002', '')
          .epilog(
            '404/410 from a server: not there; 401/403: credentials needed; 5xx, 429 and network errors are retried. Exit status: 0 every build-id served, 1 some missing, mismatched or unanswered, 2 usage or input error.',
          ),
      (a) =>
        run(async () => {
          const { runVerify } = await import('./commands/verify.js');
          return runVerify(
            {
              targets: (a.targets as string[] | undefined) ?? [],
              servers: a.server as string[] | undefined,
              jobs: a.jobs,
              deep: a.deep,
              everyServer: a['every-server'],
              retries: a.retries,
              deadline: a.deadline,
              attemptTimeout: a['attempt-timeout'],
              bodyTimeout: a['body-timeout'],
              json: a.json,
            },
            processIO(),
          );
        }),
    )
    .command(
      'hook',
      'run from /etc/portage/bashrc in pre_pkg_preinst (see hooks/packdebug.bashrc); settings from PACKDEBUG_* variables',
      (y) =>
        y.epilog(
          'Reads D, ED, EPREFIX, CATEGORY, PN, PF, BUILD_ID, T, PORTAGE_BUILDDIR from the environment. See docs/hook.md.',
        ),
      () =>
        run(async () => {
          const { runHook } = await import('./commands/hook.js');
          return runHook({}, processIO());
        }),
    )
    .command(
      'snippet <kind>',
      'print ready-to-paste configuration: make.conf, bashrc, debuginfod-systemd, debuginfod-openrc, client',
      (y) =>
        y
          .positional('kind', {
            type: 'string',
            demandOption: true,
            choices: ['make.conf', 'bashrc', 'debuginfod-systemd', 'debuginfod-openrc', 'client'],
          })
          .option('eprefix', {
            type: 'string',
            describe: 'Gentoo Prefix (EPREFIX) to apply to every path',
            default: '',
          })
          .option('url', { type: 'string', describe: 'debuginfod URL for the client snippet' })
          .option('port', { type: 'number', describe: 'debuginfod port', default: 8002 })
          .option('json', { type: 'boolean', default: false, describe: 'print {kind, path, text} as JSON' }),
      (a) =>
        run(async () => {
          const { runSnippet } = await import('./commands/snippet.js');
          return runSnippet(
            { kind: a.kind as string, eprefix: a.eprefix, url: a.url, port: a.port, json: a.json },
            processIO(),
          );
        }),
    )
    .command(
      'demo',
      'pack the shipped fixture image (fixtures/hello-image.tar) into a temporary directory and show the result',
      (y) => y.option('keep', { type: 'boolean', default: false, describe: 'keep the temporary directory' }),
      (a) =>
        run(async () => {
          const { runDemo } = await import('./commands/demo.js');
          return runDemo({ keep: a.keep }, processIO());
        }),
    )
    .demandCommand(1, 'name a command; see --help')
    .check((argv) => repeatedOption(argv, (parser as unknown as DeclaredOptions).getOptions()) ?? true)
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err, y) => {
      // yargs' own validation failures arrive as YError or as a plain message
      // (yargs 18 hands a .check() message over as both msg and err).
      if (err instanceof Error && err.name !== 'YError') throw err;
      process.stderr.write(`packdebug: ${msg ?? String(err)}\n\n`);
      y.showHelp((s: string) => process.stderr.write(`${s}\n`));
      process.exit(2);
    })
    .parseAsync();
}

interface OptionTypes {
  string: string[];
  number: string[];
  array: string[];
}

/** yargs' getOptions(), which @types/yargs does not declare. */
interface DeclaredOptions {
  getOptions(): OptionTypes;
}

/**
 * yargs gathers a repeated option into an array, which a string or number
 * option's reader would take for its value: name the option instead.
 */
function repeatedOption(argv: Record<string, unknown>, options: OptionTypes): string | undefined {
  const single = [...options.string, ...options.number].filter((key) => !options.array.includes(key));
  const repeated = single.find((key) => Array.isArray(argv[key]));
  return repeated === undefined ? undefined : `--${repeated} given more than once`;
}
