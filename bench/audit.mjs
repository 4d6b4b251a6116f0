#!/usr/bin/env node
// Audit benchmark (issue 4): `packdebug audit` over a generated tree of at
// least 2,000 tarballs (bench/make-audit-tree.mjs, cached under .cache/),
// shallow and --deep, against xz(1) doing the nearest thing:
//   shallow  vs  xz --list --robot on every tarball (reads footers and Indexes)
//   --deep   vs  xz --test on every tarball (decodes everything, checks verified)
// Reports wall time, tarballs per second, peak RSS (/usr/bin/time's maximum
// resident set; audit runs no child processes) and the bytes audit decoded.
//
//   node bench/audit.mjs [--count 2000] [--corpus DIR] [--json-out FILE]
//   npm run bench -- --audit           (the same, after the packing benchmark)
//   npm run bench -- --audit-only      (only this)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeAuditTree } from './make-audit-tree.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repoRoot, 'dist', 'cli.js');
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: { count: { type: 'string', default: '2000' }, corpus: { type: 'string' }, 'json-out': { type: 'string' } },
  allowPositionals: true,
});
const log = (m) => process.stderr.write(`${m}\n`);

// The small corpus by default (what docs/audit.md measures): five copies of the
// full one would make the tree 2 GiB of tar.
const corpusArg =
  values.corpus ?? process.env.PACKDEBUG_BENCH_CORPUS ?? path.join(repoRoot, 'bench', 'corpus', 'small');
const corpus = fs.existsSync(path.join(corpusArg, 'image', 'usr'))
  ? path.join(corpusArg, 'image')
  : fs.existsSync(path.join(corpusArg, 'usr'))
    ? corpusArg
    : undefined;

/** Runs argv under /usr/bin/time: wall seconds, max RSS bytes, stdout. */
function measure(argv) {
  const timeFile = path.join(repoRoot, '.cache', `time-${process.pid}`);
  const full = TIME ? [TIME, '-f', '%e %M', '-o', timeFile, ...argv] : argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0], full.slice(1), { maxBuffer: 1 << 30, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  let rss;
  if (TIME) {
    const m = /(\S+) (\d+)\s*$/.exec(fs.readFileSync(timeFile, 'utf8'));
    rss = m ? Number(m[2]) * 1024 : undefined;
    fs.rmSync(timeFile, { force: true });
  }
  return { wall, rss, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function main() {
  const count = Number(values.count);
  log(
    `audit benchmark: tree of ${count} tarballs` +
      (corpus ? ` plus copies of the corpus at ${corpus}` : '') +
      ' (cached under .cache/)',
  );
  const tree = await makeAuditTree({ count, corpus, log });
  const files = spawnSync(
    'sh',
    ['-c', 'find "$1" -name "*.tar.xz" -type f | wc -l; du -sb "$1" | cut -f1', 'sh', tree],
    { encoding: 'utf8' },
  )
    .stdout.trim()
    .split('\n')
    .map(Number);
  log(`tree: ${tree}: ${files[0]} tarballs, ${(files[1] / MiB).toFixed(1)} MiB`);

  const rows = [];
  for (const deep of [false, true]) {
    const mode = deep ? 'deep' : 'shallow';
    log(`  packdebug audit ${deep ? '--deep ' : ''}...`);
    const a = measure([process.execPath, cli, 'audit', tree, '--json', ...(deep ? ['--deep'] : [])]);
    if (a.status !== 0 && a.status !== 1) throw new Error(`audit exited ${a.status}: ${a.stderr}`);
    const doc = JSON.parse(a.stdout);
    const ref = deep
      ? {
          shown: 'xz --test (every tarball)',
          argv: ['sh', '-c', 'find "$1" -name "*.tar.xz" -type f -print0 | xargs -0 xz --test', 'sh', tree],
        }
      : {
          shown: 'xz --list --robot (every tarball)',
          argv: [
            'sh',
            '-c',
            'find "$1" -name "*.tar.xz" -type f -print0 | xargs -0 xz --list --robot > /dev/null',
            'sh',
            tree,
          ],
        };
    log(`  ${ref.shown} ...`);
    const r = measure(ref.argv);
    rows.push({
      mode,
      tarballs: doc.summary.tarballs,
      wall: a.wall,
      tarballsPerSecond: doc.summary.tarballs / a.wall,
      peakRss: a.rss,
      decodedBytes: doc.summary.decodedBytes,
      uncompressedBytes: doc.summary.uncompressedBytes,
      findings: doc.summary.findings,
      reference: ref.shown,
      referenceWall: r.wall,
      referencePeakRss: r.rss,
      wallRatio: a.wall / r.wall,
    });
  }
  const fmt = (n, d = 1) => (n === undefined ? '-' : n.toFixed(d));
  const lines = [
    '| audit | tarballs | wall (s) | tarballs/s | peak RSS (MB) | decoded (MiB of tar) ' +
      '| reference | reference wall (s) | × reference |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.tarballs} | ${fmt(r.wall, 2)} | ${fmt(r.tarballsPerSecond, 0)} ` +
        `| ${fmt(r.peakRss / 1e6, 0)} | ${fmt(r.decodedBytes / MiB)} of ${fmt(r.uncompressedBytes / MiB)} ` +
        `| ${r.reference} | ${fmt(r.referenceWall, 2)} | ${fmt(r.wallRatio, 2)} |`,
    ),
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
  if (values['json-out']) fs.writeFileSync(values['json-out'], JSON.stringify({ tree, rows }, null, 2));
}

main().catch((err) => {
  process.stderr.write(`bench/audit: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
