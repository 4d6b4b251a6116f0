#!/usr/bin/env node
// packdebug serve against Debian's debuginfod (issue 14), in one run, on the
// full-corpus tree (the corpus packed by packdebug) served from local disk,
// and by packdebug serve from the same tree behind nginx on loopback:
//   cold and warm latency of a debug file (median and worst of 20 build-ids,
//   each fetched once cold, then again warm), requests per second with 16
//   concurrent clients (warm), peak RSS of each server, and the bytes
//   packdebug serve fetched from nginx per cold request. Goals: cold requests
//   from a local tree at least 5 times faster than debuginfod; through nginx
//   within 2 times of the local tree.
//
//   node bench/serve.mjs [--corpus DIR] [--samples 20] [--json-out FILE]
//   npm run bench -- --serve-only
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeAuditTree } from './make-audit-tree.mjs';
import { freePort, packCorpusTree, startNginx } from './serving.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repoRoot, 'dist', 'cli.js');
const { values } = parseArgs({
  options: { corpus: { type: 'string' }, samples: { type: 'string', default: '20' }, 'json-out': { type: 'string' } },
  allowPositionals: true,
});
const log = (m) => process.stderr.write(`bench/serve: ${m}\n`);
const corpusArg = values.corpus ?? process.env.PACKDEBUG_BENCH_CORPUS ?? path.join(repoRoot, 'bench', 'corpus');
const image = fs.existsSync(path.join(corpusArg, 'image')) ? path.join(corpusArg, 'image') : corpusArg;
if (!fs.existsSync(path.join(image, 'usr'))) {
  console.error(`bench/serve: no corpus image at ${corpusArg}`);
  process.exit(2);
}
for (const tool of ['debuginfod', 'nginx']) {
  if (spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) {
    console.error(`bench/serve: ${tool} is missing`);
    process.exit(2);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const hwm = (pid) =>
  Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;

async function timedGet(url) {
  const t0 = process.hrtime.bigint();
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, status: res.status, bytes: body.length };
}

async function waitFor(check, what, ms = 600_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startPackdebug(source, cache) {
  const port = await freePort();
  const child = spawn(process.execPath, [cli, 'serve', source, '--listen', `127.0.0.1:${port}`, '--cache', cache], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => /serving/.test(err), `packdebug serve (${err})`);
  return { url, child, stop: stopper(child) };
}

async function startDebuginfod(tree, db, scanned) {
  const port = await freePort();
  const child = spawn('debuginfod', ['-d', db, '-p', String(port), '-Z', '.tar.xz', '-t', '0', '-g', '0', tree], {
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  // The first start scans the tree into the database; later ones find it there (and skip the unchanged file).
  await waitFor(async () => {
    const m = await (await fetch(`${url}/metrics`)).text();
    return (scanned || /^scanned_files_total\{[^}]*\} [1-9]/m.test(m)) && /^thread_busy\{role="scan"\} 0/m.test(m);
  }, 'debuginfod to scan the tree');
  return { url, child, stop: stopper(child) };
}

/**
 * Cold: for each build-id a new server process (an empty cache, debuginfod's
 * own fd cache empty too) and one request. Warm: one server, each build-id
 * fetched once, then timed. Then 16 clients for 5 s on the warm server.
 */
async function measure(name, start, ids) {
  const cold = [];
  for (const id of ids) {
    const s = await start();
    cold.push(await timedGet(`${s.url}/buildid/${id}/debuginfo`));
    await s.stop();
  }
  const s = await start();
  try {
    for (const id of ids) await timedGet(`${s.url}/buildid/${id}/debuginfo`);
    const warm = [];
    for (const id of ids) warm.push(await timedGet(`${s.url}/buildid/${id}/debuginfo`));
    const bad = [...cold, ...warm].filter((r) => r.status !== 200).length;
    let done = 0;
    const until = Date.now() + 5000;
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        for (let i = w; Date.now() < until; i++) {
          const r = await timedGet(`${s.url}/buildid/${ids[i % ids.length]}/debuginfo`);
          if (r.status === 200) done++;
        }
      }),
    );
    return {
      server: name,
      failed: bad,
      coldMedian: median(cold.map((r) => r.seconds)),
      coldWorst: Math.max(...cold.map((r) => r.seconds)),
      warmMedian: median(warm.map((r) => r.seconds)),
      warmWorst: Math.max(...warm.map((r) => r.seconds)),
      rps16: done / 5,
      peakRss: hwm(s.child.pid),
      metrics: await (await fetch(`${s.url}/metrics`)).text(),
    };
  } finally {
    await s.stop();
  }
}

function stopper(child) {
  return () =>
    new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-bench-serve-'));
  try {
    const tree = path.join(work, 'tree');
    log('packing the corpus ...');
    const tarball = packCorpusTree(cli, image, tree);
    const listing = JSON.parse(
      execFileSync(process.execPath, [cli, 'list', tarball, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 }),
    );
    const elf = listing.entries.filter((e) => e.buildId && e.debuginfod?.includes('debuginfo'));
    const n = Math.min(Number(values.samples), elf.length);
    const ids = [...new Set(Array.from({ length: n }, (_, i) => elf[Math.floor((i * elf.length) / n)].buildId))];
    const sizes = ids.map((id) => elf.find((e) => e.buildId === id).size);

    log('debuginfod: scanning the tree ...');
    const db = path.join(work, 'db.sqlite');
    await (await startDebuginfod(tree, db, false)).stop();
    const rows = [await measure('Debian debuginfod (local tree)', () => startDebuginfod(tree, db, true), ids)];

    log('packdebug serve, local tree ...');
    execFileSync(process.execPath, [cli, 'index', tree]);
    let caches = 0;
    const fresh = () => path.join(work, `cache-${++caches}`);
    rows.push(await measure('packdebug serve (local tree)', () => startPackdebug(tree, fresh()), ids));

    log('packdebug serve, through nginx ...');
    const nginx = await startNginx(tree, work);
    let fetched = 0;
    const viaNginx = async () => {
      const s = await startPackdebug(nginx.url, fresh());
      const stop = s.stop;
      // Bytes fetched from nginx, summed over the cold servers (one request each).
      s.stop = async () => {
        const m = await (await fetch(`${s.url}/metrics`)).text();
        fetched += Number(/^packdebug_serve_source_bytes_total\{[^}]*\} (\d+)/m.exec(m)?.[1] ?? 0);
        await stop();
      };
      return s;
    };
    const row = await measure('packdebug serve (nginx mirror)', viaNginx, ids);
    // The warm server's own fetch of every id counts too: one cold fetch per id over 2 x ids servers' worth.
    rows.push({ ...row, bytesFetchedPerCold: fetched / (2 * ids.length) });
    nginx.stop();

    // Start-up on the audit bench's 2,010-tarball tree with a current index: process start to first answer.
    const small = path.join(repoRoot, 'bench', 'corpus', 'small', 'image');
    const auditTree = await makeAuditTree({ corpus: fs.existsSync(path.join(small, 'usr')) ? small : undefined, log });
    const copy = path.join(work, 'audit-tree');
    execFileSync('cp', ['-a', auditTree, copy]);
    execFileSync(process.execPath, [cli, 'index', copy]);
    const anyShard = fs
      .readdirSync(path.join(copy, '.packdebug-index/buildid'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(copy, '.packdebug-index/buildid', f), 'utf8')))
      .find((sh) => sh.entries?.length > 0);
    const t0 = Date.now();
    const started = await startPackdebug(copy, fresh());
    const first = await timedGet(`${started.url}/buildid/${anyShard.entries[0][0]}/debuginfo`);
    const firstAnswerSeconds = (Date.now() - t0) / 1000;
    await started.stop();

    const fmt = (x, d = 3) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
    const lines = [
      `${ids.length} build-ids of ${tarball.replace(work, '...')}: debug files of ` +
        `${fmt(median(sizes) / 1e3, 0)} KB median (largest ${fmt(Math.max(...sizes) / 1e6, 1)} MB)`,
      '',
      '| server | cold median (s) | cold worst (s) | warm median (s) | warm worst (s) | req/s, 16 clients ' +
        '| peak RSS (MB) | fetched per cold request | failed |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.server} | ${fmt(r.coldMedian)} | ${fmt(r.coldWorst)} | ${fmt(r.warmMedian)} | ${fmt(r.warmWorst)} | ` +
          `${fmt(r.rps16, 0)} | ${fmt(r.peakRss / 1e6, 0)} | ` +
          `${r.bytesFetchedPerCold ? `${fmt(r.bytesFetchedPerCold / 1e3, 0)} KB` : '-'} | ${r.failed} |`,
      ),
      '',
      `cold, debuginfod / packdebug local: ${fmt(rows[0].coldMedian / rows[1].coldMedian, 1)}x (goal: at least 5x)`,
      `cold, packdebug nginx / local: ${fmt(rows[2].coldMedian / rows[1].coldMedian, 2)}x (goal: at most 2x)`,
      `audit tree (2,010 tarballs, current index): first answer ${fmt(firstAnswerSeconds, 2)} s after the ` +
        `process started (HTTP ${first.status}; goal: within 1 s)`,
    ];
    process.stdout.write(`\n${lines.join('\n')}\n`);
    if (values['json-out']) fs.writeFileSync(values['json-out'], JSON.stringify({ ids, rows }, null, 2));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/serve: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
