#!/usr/bin/env node
// Build-id index and remote-read benchmark (issue 13), in one run:
//
//   index build        `packdebug index --rebuild` (cold) and `packdebug index` after one new
//                      tarball (incremental), on the full-corpus tree (the corpus packed into one
//                      tarball, plus Portage's single-Block tarball of it) and on the audit
//                      bench's 2,010-tarball tree; index bytes per build-id.
//   remote lookups     20 build-ids sampled from the full-corpus tree, each fetched cold (a new
//                      process) through a real nginx on loopback: HTTP requests per lookup (goal:
//                      at most 2), bytes transferred against the member's size and the Blocks that
//                      hold it (goal: those Blocks plus at most 64 KiB of index), whole-process time
//                      against `packdebug extract` on the same tree on local disk (goal: within
//                      1.5x) and against curl fetching the whole tarball.
//
//   node bench/index.mjs [--corpus DIR] [--samples 20] [--json-out FILE]
//   npm run bench -- --index-only      (only this)

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeAuditTree } from './make-audit-tree.mjs';
import { packCorpusTree, startNginx } from './serving.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repoRoot, 'dist', 'cli.js');
const KiB = 1024;

const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    samples: { type: 'string', default: '20' },
    'json-out': { type: 'string' },
    'audit-count': { type: 'string', default: '2000' },
  },
  allowPositionals: true,
});
const log = (m) => process.stderr.write(`bench/index: ${m}\n`);
const corpusArg = values.corpus ?? process.env.PACKDEBUG_BENCH_CORPUS ?? path.join(repoRoot, 'bench', 'corpus');
const image = fs.existsSync(path.join(corpusArg, 'image')) ? path.join(corpusArg, 'image') : corpusArg;
if (!fs.existsSync(path.join(image, 'usr'))) {
  console.error(`bench/index: no corpus image at ${corpusArg} (run npm run bench first, or pass --corpus)`);
  process.exit(2);
}
for (const tool of ['nginx', 'curl', 'tar', 'xz']) {
  const found = spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).status === 0;
  if (!found) {
    console.error(`bench/index: ${tool} is missing (apt-get install ${tool === 'xz' ? 'xz-utils' : tool})`);
    process.exit(2);
  }
}

function run(argv, options = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30, ...options });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { wall, stdout: r.stdout, stderr: r.stderr };
}

/** Bytes and files of the index a mirror serves (the writer's state.json left out). */
function indexFiles(tree) {
  const sizes = [];
  const walk = (dir) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.isFile() && d.name !== 'state.json') sizes.push(fs.statSync(p).size);
    }
  };
  walk(path.join(tree, '.packdebug-index'));
  return { bytes: sizes.reduce((a, b) => a + b, 0), files: sizes.length };
}

/** Cold index, then incremental after one more tarball (a copy under a new BUILD_ID). */
function indexBuild(name, tree, newTarball) {
  log(`${name}: packdebug index --rebuild ...`);
  const cold = run([process.execPath, cli, 'index', tree, '--rebuild', '--json']);
  const report = JSON.parse(cold.stdout);
  const { bytes, files } = indexFiles(tree);
  newTarball();
  log(`${name}: packdebug index after one new tarball ...`);
  const inc = run([process.execPath, cli, 'index', tree, '--json']);
  const incReport = JSON.parse(inc.stdout);
  return {
    tree: name,
    tarballs: report.tarballs,
    buildIds: report.buildIds,
    coldSeconds: cold.wall,
    incrementalSeconds: inc.wall,
    incrementalRead: incReport.read,
    incrementalShards: incReport.shardsWritten,
    indexBytes: bytes,
    bytesPerBuildId: bytes / Math.max(1, report.buildIds),
    files,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-bench-index-'));
  const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
  try {
    // The full-corpus tree: the corpus packed by packdebug, and Portage's single-Block tarball of it.
    const tree = path.join(work, 'tree');
    log('packing the corpus into a tree ...');
    const seekable = packCorpusTree(cli, image, tree);
    // BUILD_ID 0: lookups go to packdebug's tarball (the highest BUILD_ID wins), the Portage one is indexed too.
    const portage = path.join(tree, 'sys-libs/glibc-single/glibc-single-2.36-0-debug.tar.xz');
    fs.mkdirSync(path.dirname(portage), { recursive: true });
    run(['sh', '-c', 'cd "$1" && tar -cf - ./usr/src/debug ./usr/lib/debug | xz -T0 -6 > "$2"', 'sh', image, portage]);
    const builds = [
      indexBuild('full corpus', tree, () =>
        fs.copyFileSync(portage, portage.replace('-2.36-0-debug', '-2.36.1-0-debug')),
      ),
    ];
    // The audit bench's tree (the same cache: the small corpus's copies among 2,000 generated tarballs).
    const small = path.join(repoRoot, 'bench', 'corpus', 'small', 'image');
    const auditTree = await makeAuditTree({
      count: Number(values['audit-count']),
      corpus: fs.existsSync(path.join(small, 'usr')) ? small : undefined,
      log,
    });
    const copy = path.join(work, 'audit-tree');
    run(['cp', '-a', auditTree, copy]);
    builds.push(
      indexBuild(`audit tree`, copy, () => {
        const first = execFileSync('sh', ['-c', 'find "$1" -name "*-debug.tar.xz" | sort | head -1', 'sh', copy], {
          encoding: 'utf8',
        }).trim();
        fs.copyFileSync(first, first.replace(/-(\d+)-debug\.tar\.xz$/, '-999-debug.tar.xz'));
      }),
    );

    // 20 build-ids of the packdebug tarball, spread through it.
    const listing = JSON.parse(run([process.execPath, cli, 'list', seekable, '--json']).stdout);
    const elf = listing.entries.filter((e) => e.buildId && e.debuginfod && e.debuginfod.includes('debuginfo'));
    const n = Math.min(Number(values.samples), elf.length);
    const samples = Array.from({ length: n }, (_, i) => elf[Math.floor((i * elf.length) / n)]);
    const nginx = await startNginx(tree, work);
    const rows = [];
    try {
      const tarballUrl = `${nginx.url}sys-libs/glibc/glibc-2.36-1-debug.tar.xz`;
      const out = path.join(work, 'member');
      for (const s of samples) {
        const remote = run([process.execPath, cli, 'extract', nginx.url, '--build-id', s.buildId, '-o', out, '-v']);
        const m = / (\d+) requests, (\d+) bytes fetched/.exec(remote.stderr);
        const local = run([process.execPath, cli, 'extract', tree, '--build-id', s.buildId, '-o', out]);
        const chosen = / from (\S+) at /.exec(remote.stderr)?.[1];
        const localTarball = run([
          process.execPath,
          cli,
          'extract',
          path.join(tree, chosen),
          '--build-id',
          s.buildId,
          '-o',
          out,
        ]);
        const curl = run(['curl', '-sS', '-o', path.join(work, 'whole'), tarballUrl]);
        rows.push({
          buildId: s.buildId,
          member: s.path,
          size: s.size,
          requests: m ? Number(m[1]) : undefined,
          bytes: m ? Number(m[2]) : undefined,
          remoteSeconds: remote.wall,
          localSeconds: local.wall,
          localTarballSeconds: localTarball.wall,
          tarball: chosen,
          curlSeconds: curl.wall,
        });
      }
    } finally {
      nginx.stop();
    }
    // The Blocks that hold each sample, from the index (the bytes a reader must fetch at least).
    const shardOf = (id) =>
      JSON.parse(fs.readFileSync(path.join(tree, '.packdebug-index/buildid', `${id.slice(0, 2)}.json`), 'utf8'));
    for (const r of rows) {
      const shard = shardOf(r.buildId);
      const e = shard.entries.find((x) => x[0] === r.buildId && x[7] && shard.tarballs[x[2]][0] === r.tarball);
      const sizes = e ? e[7][3] : [];
      let blocks = 0;
      for (let i = 0; i < sizes.length; i += 2) blocks += (sizes[i] + 3) & ~3;
      r.blockBytes = blocks;
      r.indexOverhead = r.bytes - blocks;
    }
    const fmt = (x, d = 2) => (x === undefined ? '-' : x.toFixed(d));
    const stat = (f, d, scale = 1) =>
      `${fmt(median(rows.map(f)) / scale, d)}; ${fmt(Math.max(...rows.map(f)) / scale, d)}`;
    const lines = [
      '| tree | tarballs | build-ids | cold index (s) | incremental, 1 new tarball (s) ' +
        '| index bytes | bytes/build-id | files |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...builds.map(
        (b) =>
          `| ${b.tree} | ${b.tarballs} | ${b.buildIds} | ${fmt(b.coldSeconds)} | ${fmt(b.incrementalSeconds)} ` +
          `(read ${b.incrementalRead}, ${b.incrementalShards} shards) | ${b.indexBytes} ` +
          `| ${fmt(b.bytesPerBuildId, 0)} | ${b.files} |`,
      ),
      '',
      `${rows.length} cold lookups through nginx on loopback (median; worst):`,
      '',
      '| measure | value |',
      '|---|---:|',
      `| HTTP requests per lookup (goal: at most 2) | ${stat((r) => r.requests, 0)} |`,
      `| index bytes beyond the Blocks, KiB (goal: at most 64) | ${stat((r) => r.indexOverhead, 1, KiB)} |`,
      `| bytes fetched / member size | ${stat((r) => r.bytes / r.size, 3)} |`,
      `| Blocks holding the member / member size | ${stat((r) => r.blockBytes / r.size, 3)} |`,
      `| remote extract (s) | ${stat((r) => r.remoteSeconds, 3)} |`,
      `| local extract, same tree (s) | ${stat((r) => r.localSeconds, 3)} |`,
      `| remote / local (goal: at most 1.5x) | ${stat((r) => r.remoteSeconds / r.localSeconds, 3)} |`,
      `| local extract of the tarball that holds it (s) | ${stat((r) => r.localTarballSeconds, 3)} |`,
      `| remote / local tarball | ${stat((r) => r.remoteSeconds / r.localTarballSeconds, 3)} |`,
      `| curl of the whole tarball (s) | ${stat((r) => r.curlSeconds, 3)} |`,
    ];
    process.stdout.write(`\n${lines.join('\n')}\n`);
    if (values['json-out']) fs.writeFileSync(values['json-out'], JSON.stringify({ builds, rows }, null, 2));
  } finally {
    cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`bench/index: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
