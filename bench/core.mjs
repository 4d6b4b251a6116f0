#!/usr/bin/env node
// packdebug core against eu-unstrip (issue 15), in one run, on a real core:
// gcore's core of the crash fixture (fixtures/make-crash-image.sh) in
// `crash dlopen` mode after it loaded the many-libs fixture's 100 libraries
// (fixtures/make-many-libs.sh), both images packed into a tree with a
// build-id index.
//
//   listing      `packdebug core CORE --source TREE --json` against `eu-unstrip -n --core CORE`
//                (best of --runs, in rounds); both must list the same build-ids, and every
//                build-id of the tree must be in the core and covered.
//   fetch        `packdebug core CORE --source TREE --fetch DIR --json` into a fresh empty DIR
//                each run (best of --runs): files, bytes written, bytes decoded (what the xz
//                Blocks holding them came to) and their ratio.
//
//   node bench/core.mjs [--count 100] [--runs 3] [--json] [--json-out FILE]
//   npm run bench -- --core-only       (only this)
//
// The two fixture images are built once (make-many-libs.sh takes about 17 s for 100) and cached
// in .cache/core-fixtures-v1-N-HASH, keyed by the fixture sources; the tree is packed and indexed
// by the CLI under test on every run (a few seconds), the core made anew.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.resolve(process.env.PACKDEBUG_BENCH_CLI ?? path.join(repoRoot, 'dist', 'cli.js'));
const fixtures = path.join(repoRoot, 'fixtures');

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    'json-out': { type: 'string' },
  },
  allowPositionals: true,
});
const log = (m) => process.stderr.write(`bench/core: ${m}\n`);
const die = (m) => {
  process.stderr.write(`bench/core: ${m}\n`);
  process.exit(2);
};
/** A result that must not be reported as a measurement: thrown, so that processes and files are cleaned up. */
class BenchFailure extends Error {}
const fail = (m) => {
  throw new BenchFailure(m);
};
const count = Number(values.count);
const runs = Number(values.runs);
if (!Number.isInteger(count) || count < 1 || count > 9999) die(`--count: expected 1..9999, got '${values.count}'`);
if (!Number.isInteger(runs) || runs < 1) die(`--runs: expected a positive integer, got '${values.runs}'`);
if (!fs.existsSync(cli)) die(`${cli} does not exist: run \`npm run build\``);
for (const tool of ['gcore', 'eu-unstrip', 'gcc', 'objcopy', 'xz']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) die(`${tool} is missing (needed by this benchmark)`);
}

// gdb, eu-unstrip and packdebug must not ask debuginfod servers about the system libraries.
const env = { ...process.env };
delete env.DEBUGINFOD_URLS;

// ---------------------------------------------------------------- fixtures (cached)

/** Hash of everything the two fixture scripts read: a changed fixture is rebuilt. */
function fixtureKey() {
  const h = createHash('sha256');
  const files = ['make-crash-image.sh', 'make-many-libs.sh', 'image-common.sh'].map((f) => path.join(fixtures, f));
  const crashSrc = path.join(fixtures, 'src', 'crash');
  for (const f of fs.readdirSync(crashSrc).sort()) files.push(path.join(crashSrc, f));
  for (const f of files) h.update(path.relative(fixtures, f)).update('\0').update(fs.readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** { crash, many }: the two images, from the cache or built into it (atomically, by rename). */
function fixtureImages() {
  const dir = path.join(repoRoot, '.cache', `core-fixtures-v1-${count}-${fixtureKey()}`);
  const images = { crash: path.join(dir, 'crash', 'image'), many: path.join(dir, 'many', 'image') };
  if (fs.existsSync(path.join(dir, '.done'))) {
    log(`fixtures from the cache: ${path.relative(repoRoot, dir)}`);
    return images;
  }
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const building = fs.mkdtempSync(`${dir}.building-`);
  try {
    const t0 = Date.now();
    log(`building the fixtures: make-crash-image.sh, make-many-libs.sh ${count} ...`);
    for (const [name, script, args] of [
      ['crash', 'make-crash-image.sh', []],
      ['many', 'make-many-libs.sh', [String(count)]],
    ]) {
      execFileSync('bash', [path.join(fixtures, script), path.join(building, name), ...args], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
    fs.writeFileSync(path.join(building, '.done'), `${new Date().toISOString()}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(building, dir);
    log(`  built in ${((Date.now() - t0) / 1000).toFixed(1)} s, cached in ${path.relative(repoRoot, dir)}`);
    return images;
  } finally {
    fs.rmSync(building, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- helpers

function run(argv, { ok = [0], ...options } = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30, env, ...options });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  if (!ok.includes(r.status)) {
    throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  }
  return { wall, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Children still running (the crash program): killed on any way out. */
const children = new Set();
function killChildren() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', killChildren);

/**
 * gcore's core of `crash dlopen LIBDIR count READY`, the process killed
 * before this returns or throws.
 */
async function makeCore(crashImage, libDir, work) {
  const ready = path.join(work, 'ready');
  const program = path.join(crashImage, 'usr/bin/crash');
  const child = spawn(program, ['dlopen', libDir, String(count), ready], { cwd: work, env, stdio: 'ignore' });
  children.add(child);
  let ended;
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve((ended = signal ?? `exit status ${code}`))),
  );
  try {
    const deadline = Date.now() + 20_000;
    let text;
    while ((text = fs.existsSync(ready) ? fs.readFileSync(ready, 'utf8') : undefined) === undefined) {
      if (ended !== undefined) throw new Error(`${program} dlopen: ended (${ended}) before writing ${ready}`);
      if (Date.now() > deadline) throw new Error(`${program} dlopen: no ${ready} after 20 s`);
      await sleep(25);
    }
    const pid = Number(text.trim());
    if (pid !== child.pid) throw new Error(`${ready} holds ${JSON.stringify(text)}, but the pid is ${child.pid}`);
    const prefix = path.join(work, 'core');
    run(['gcore', '-o', prefix, String(pid)], { timeout: 120_000 });
    const core = `${prefix}.${pid}`;
    if (!fs.statSync(core, { throwIfNoEntry: false })?.isFile()) throw new Error(`gcore wrote no ${core}`);
    return core;
  } finally {
    child.kill('SIGKILL');
    await exited;
    children.delete(child);
  }
}

const UNSTRIP_LINE = /^0x[0-9a-f]+\+0x[0-9a-f]+ (-|[0-9a-f]+)(?:@0x[0-9a-f]+)? \S+ \S+ .+$/;

/** The build-ids `eu-unstrip -n --core` prints (modules without one left out). */
function unstripBuildIds(stdout) {
  const ids = [];
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const m = UNSTRIP_LINE.exec(line);
    if (!m) throw new Error(`eu-unstrip -n --core: unexpected line ${JSON.stringify(line)}`);
    if (m[1] !== '-') ids.push(m[1]);
  }
  return ids;
}

/** The one JSON report `packdebug core --json` prints for one core. */
function coreReport(stdout) {
  const lines = stdout.split('\n').filter(Boolean);
  if (lines.length !== 1) throw new Error(`packdebug core --json: ${lines.length} lines of output, expected 1`);
  return JSON.parse(lines[0]);
}

const setDiff = (a, b) => [...a].filter((x) => !b.has(x));
const best = (xs) => Math.min(...xs);

// ---------------------------------------------------------------- main

async function main() {
  const images = fixtureImages();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-bench-core-'));
  const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      killChildren();
      cleanup();
      process.exit(130);
    });
  }
  try {
    // The tree: both images packed by the CLI under test (from copies: pack may prune), and indexed.
    const tree = path.join(work, 'tree');
    const tarballs = [];
    let t0 = Date.now();
    for (const [name, pf] of [
      ['crash', 'crash-1.0'],
      ['many', 'many-1.0'],
    ]) {
      const copy = path.join(work, `pack-${name}`);
      run(['cp', '-a', '--', images[name], copy]);
      const out = path.join(tree, 'app-misc', name, `${pf}-1-debug.tar.xz`);
      const id = ['--category', 'app-misc', '--pn', name, '--pf', pf, '--build-id', '1'];
      run([process.execPath, cli, 'pack', '-D', copy, ...id, '-o', out]);
      fs.rmSync(copy, { recursive: true, force: true });
      tarballs.push(out);
    }
    const indexReport = JSON.parse(run([process.execPath, cli, 'index', tree, '--json']).stdout);
    log(
      `packed and indexed the tree in ${((Date.now() - t0) / 1000).toFixed(1)} s (${indexReport.buildIds} build-ids)`,
    );
    const treeIds = new Set(
      tarballs.flatMap((t) =>
        JSON.parse(run([process.execPath, cli, 'list', t, '--json']).stdout)
          .entries.map((e) => e.buildId)
          .filter(Boolean),
      ),
    );
    if (treeIds.size !== count + 2) fail(`the tree has ${treeIds.size} build-ids, expected ${count + 2}`);

    t0 = Date.now();
    const core = await makeCore(images.crash, path.join(images.many, 'usr/lib64/many'), work);
    const coreBytes = fs.statSync(core).size;
    log(`gcore: ${(coreBytes / 1e6).toFixed(1)} MB core in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // Listing, in rounds: packdebug's exit status is 1 when a module (libc, ld.so: not in the tree) is missing.
    const listArgv = [process.execPath, cli, 'core', core, '--source', tree, '--json'];
    const unstripArgv = ['eu-unstrip', '-n', '--core', core];
    const pdWalls = [];
    const euWalls = [];
    let report;
    let euIds;
    for (let i = 0; i < runs; i++) {
      log(`listing, round ${i + 1}/${runs} ...`);
      const pd = run(listArgv, { ok: [0, 1] });
      pdWalls.push(pd.wall);
      report = coreReport(pd.stdout);
      const eu = run(unstripArgv);
      euWalls.push(eu.wall);
      euIds = unstripBuildIds(eu.stdout);
    }

    const pdIdSet = new Set(report.modules.map((m) => m.buildId).filter(Boolean));
    const euIdSet = new Set(euIds);
    const onlyPd = setDiff(pdIdSet, euIdSet);
    const onlyEu = setDiff(euIdSet, pdIdSet);
    if (onlyPd.length > 0 || onlyEu.length > 0) {
      fail(
        `packdebug core and eu-unstrip list different build-ids (${pdIdSet.size} against ${euIdSet.size}):\n` +
          `  only packdebug: ${onlyPd.join(' ') || '-'}\n  only eu-unstrip: ${onlyEu.join(' ') || '-'}`,
      );
    }
    const statusOf = new Map(report.modules.filter((m) => m.buildId).map((m) => [m.buildId, m.status]));
    const notCovered = [...treeIds].filter((id) => statusOf.get(id) !== 'covered');
    if (notCovered.length > 0) {
      fail(
        `${notCovered.length} build-ids of the tree are not 'covered' in the core: ` +
          notCovered.map((id) => `${id} (${statusOf.get(id) ?? 'not in the core'})`).join(', '),
      );
    }
    const statuses = {};
    for (const m of report.modules) statuses[m.status] = (statuses[m.status] ?? 0) + 1;

    // Fetch: a fresh empty directory each run.
    const fetches = [];
    for (let i = 0; i < runs; i++) {
      log(`fetch, run ${i + 1}/${runs} ...`);
      const dir = path.join(work, `fetch-${i}`);
      fs.mkdirSync(dir);
      const r = run([process.execPath, cli, 'core', core, '--source', tree, '--fetch', dir, '--json'], { ok: [0, 1] });
      const f = coreReport(r.stdout).fetched;
      if (!f) fail(`packdebug core --fetch ${dir}: no 'fetched' in its report`);
      if (f.failures?.length) fail(`packdebug core --fetch: ${f.failures.join('; ')}`);
      if (f.reused !== 0) fail(`packdebug core --fetch into an empty directory reused ${f.reused} files`);
      fetches.push({ wall: r.wall, files: f.files, bytesWritten: f.bytesWritten, bytesDecoded: f.bytesDecoded });
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const f0 = fetches[0];
    if (fetches.some((f) => f.files !== f0.files || f.bytesWritten !== f0.bytesWritten)) {
      fail(`the fetch runs wrote different things: ${JSON.stringify(fetches)}`);
    }

    const result = {
      cli,
      count,
      runs,
      core: { bytes: coreBytes, modules: report.modules.length, buildIds: pdIdSet.size, statuses },
      tree: { tarballs: tarballs.length, buildIds: treeIds.size },
      listing: {
        packdebugSeconds: best(pdWalls),
        euUnstripSeconds: best(euWalls),
        ratio: best(pdWalls) / best(euWalls),
        packdebugWalls: pdWalls,
        euUnstripWalls: euWalls,
        sameBuildIds: true,
      },
      fetch: {
        seconds: best(fetches.map((f) => f.wall)),
        walls: fetches.map((f) => f.wall),
        files: f0.files,
        bytesWritten: f0.bytesWritten,
        bytesDecoded: Math.min(...fetches.map((f) => f.bytesDecoded)),
        decodedPerWritten: Math.min(...fetches.map((f) => f.bytesDecoded)) / f0.bytesWritten,
      },
    };

    const fmt = (x, d = 3) => x.toFixed(d);
    const lines = [
      `core: gcore of \`crash dlopen\` with ${count} libraries, ${fmt(coreBytes / 1e6, 1)} MB, ` +
        `${report.modules.length} modules (${Object.entries(statuses)
          .map(([s, n]) => `${n} ${s}`)
          .join(', ')}); tree: ${tarballs.length} tarballs, ${treeIds.size} build-ids; best of ${runs}`,
      '',
      '| command | wall (s) | x eu-unstrip |',
      '|---|---:|---:|',
      `| \`eu-unstrip -n --core CORE\` | ${fmt(result.listing.euUnstripSeconds)} | 1.00 |`,
      `| \`packdebug core CORE --source TREE --json\` | ${fmt(result.listing.packdebugSeconds)} ` +
        `| ${fmt(result.listing.ratio, 2)} |`,
      '',
      `same build-ids listed by both: yes (${pdIdSet.size})`,
      '',
      '| --fetch into an empty DIR | wall (s) | files | bytes written | bytes decoded | decoded / written |',
      '|---|---:|---:|---:|---:|---:|',
      `| \`packdebug core CORE --source TREE --fetch DIR --json\` | ${fmt(result.fetch.seconds)} ` +
        `| ${result.fetch.files} | ${result.fetch.bytesWritten} | ${result.fetch.bytesDecoded} ` +
        `| ${fmt(result.fetch.decodedPerWritten, 2)} |`,
    ];
    if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`\n${lines.join('\n')}\n`);
    if (values['json-out']) fs.writeFileSync(values['json-out'], `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    killChildren();
    cleanup();
  }
}

main().catch((err) => {
  killChildren();
  process.stderr.write(`bench/core: ${err instanceof BenchFailure ? `FAIL: ${err.message}` : (err.stack ?? err)}\n`);
  process.exitCode = 1;
});
