#!/usr/bin/env node
// packdebug benchmark: Portage's own `tar -cJf` against `packdebug pack`, then
// random access, audit and from-binpkg against their reference commands.
//
//   npm run bench                      everything: packing (full corpus: Portage's command, packdebug
//                                      default, size-leaning), then the parts below
//   npm run bench -- --sweep           ... plus a sweep of Block layouts (markdown frontier table)
//   npm run bench -- --quick           the small corpus (about 28 MiB), for a smoke run
//   npm run bench -- --corpus DIR      a make-corpus.sh OUTDIR or its image/ directory
//                                      (also: PACKDEBUG_BENCH_CORPUS=DIR)
//   npm run bench -- --runs 3          measure everything 3 times, in rounds; wall time is the median
//   npm run bench -- --json            machine-readable results on stdout
//   npm run bench -- --json-out FILE   ... or into FILE, next to the tables on stdout
//   npm run bench -- --setting='--block-size 3MiB'   measure extra packdebug settings (repeatable)
//   npm run bench -- --check           exit 1 when a goal FAILs
//   npm run bench -- --retries 2       repeat a run during which other processes used > 5% of the CPU
//   npm run bench -- --wait-idle 600   before each run, wait (up to 600 s) for the machine to be idle
//   npm run bench -- --baseline FILE   reuse Portage's measurement from an earlier --json-out FILE
//   npm run bench -- --no-extract      skip the random-access benchmark (bench/extract.mjs), which runs
//                                      after the packing benchmark by default
//   npm run bench -- --no-audit        skip the audit benchmark (bench/audit.mjs: 2,000 tarballs, shallow
//                                      and --deep; its tree is generated once, about 2 min, and cached)
//   npm run bench -- --no-binpkg       skip the from-binpkg benchmark (bench/binpkg.mjs: a generated
//                                      PKGDIR of --packages N (default 60) binpkgs from the small corpus,
//                                      or --corpus; packages/s against tar -x + Portage's tar -cJf)
//   npm run bench -- --no-index        skip the build-id index and remote-read benchmark (bench/index.mjs:
//                                      index build on the corpus tree and the audit tree, 20 lookups
//                                      through nginx against local extract and curl)
//   npm run bench -- --index-only      only the index benchmark
//   npm run bench -- --no-serve        skip packdebug serve against Debian's debuginfod (bench/serve.mjs)
//   npm run bench -- --serve-only      only that
//   npm run bench -- --no-core         skip packdebug core against eu-unstrip on a gcore core with 100
//                                      dlopened libraries, and its --fetch (bench/core.mjs; the fixture
//                                      images are built once, about 20 s, and cached)
//   npm run bench -- --core-only       only that (with --json or --json-out FILE: its results)
//   npm run bench -- --pack-only       only the packing benchmark
//   npm run bench -- --audit-only      only the audit benchmark
//   npm run bench -- --binpkg          only the from-binpkg benchmark
//   (--extract and --audit are accepted and change nothing: those parts run by default.)
//
// Plain `npm run bench` measures everything the issues set goals for, in one
// run: packing, random access, audit, from-binpkg, the build-id index, serve and core (about 25 minutes on
// two cores once the corpora are built).
//
// Progress goes to stderr, results to stdout. Every output is written to a
// temporary directory and removed. See docs/layout.md for what is measured
// and the results on the project's 2-core machine.
//
// Peak RSS: packdebug runs xz(1) child processes, so a single-process
// figure would flatter it. The sampler sums VmRSS over the measured process
// and all its descendants (read from /proc every 50 ms) and reports the
// peak of that sum ("tree RSS"). Shared pages (the xz binary and libraries
// mapped by several processes) are counted once per process, so the sum is
// an upper bound. /usr/bin/time's maximum resident set of the largest single
// process is reported next to it ("max proc RSS") when /usr/bin/time exists.

import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// PACKDEBUG_BENCH_CLI: measure another build of the CLI (e.g. a copy of dist/ kept while src/ changes).
const cli = path.resolve(process.env.PACKDEBUG_BENCH_CLI ?? path.join(repoRoot, 'dist', 'cli.js'));
const MiB = 1024 * 1024;

// ---------------------------------------------------------------- settings

/** Goals from issue 2 (2-core machine). MB = 10^6 bytes. */
const GOALS = {
  default: { wallRatio: 0.5, bytesRatio: 1.2, minBlocks: 8, peakRss: 300e6 },
  sizeLeaning: { bytesRatio: 1.06 },
};

/** The documented size-leaning setting (docs/layout.md, "Leaning to size"). */
const SIZE_LEANING = ['--block-size', '32MiB'];

/** Layouts measured by --sweep, besides the default and the size-leaning setting. */
const SWEEP = [
  // Small-member group target, default large-member Blocks.
  ['--block-size', '512KiB'],
  ['--block-size', '1MiB'],
  ['--block-size', '1.5MiB'],
  ['--block-size', '2MiB'],
  ['--block-size', '4MiB'],
  ['--block-size', '8MiB'],
  ['--block-size', '16MiB'],
  // Large-member Block size at the default group target.
  ['--block-size', '2MiB', '--large-block-size', '4MiB'],
  ['--block-size', '2MiB', '--large-block-size', '8MiB'],
  ['--block-size', '2MiB', '--large-block-size', '16MiB'],
  ['--block-size', '2MiB', '--large-block-size', '32MiB'],
  // Candidates for the size-leaning setting: big Blocks, and a dictionary as big as the Block
  // (a higher preset), so that a Block holding several debug files can share what they have in common.
  ['--block-size', '16MiB', '--large-block-size', '32MiB'],
  ['--block-size', '16MiB', '--preset', '7'],
  ['--block-size', '16MiB', '--preset', '6e'],
  ['--block-size', '24MiB'],
  ['--block-size', '32MiB'],
  ['--block-size', '20MiB', '--preset', '8'],
  ['--block-size', '24MiB', '--preset', '8'],
  ['--block-size', '32MiB', '--preset', '8'],
  ['--block-size', '64MiB', '--preset', '9'],
];

/** Non-packdebug reference points measured by --sweep (tar piped into a multi-threaded xz). */
const REFERENCES = [{ label: 'tar | xz -T2 -6 --block-size=16MiB', xzArgs: ['-T2', '-6', '--block-size=16MiB'] }];

// ---------------------------------------------------------------- arguments

let opt;
try {
  ({ values: opt } = parseArgs({
    options: {
      corpus: { type: 'string' },
      quick: { type: 'boolean', default: false },
      runs: { type: 'string', default: '1' },
      sweep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'json-out': { type: 'string' },
      setting: { type: 'string', multiple: true, default: [] },
      check: { type: 'boolean', default: false },
      retries: { type: 'string', default: '2' },
      'wait-idle': { type: 'string', default: '0' },
      baseline: { type: 'string' },
      extract: { type: 'boolean', default: false },
      audit: { type: 'boolean', default: false },
      'no-audit': { type: 'boolean', default: false },
      'no-extract': { type: 'boolean', default: false },
      'no-binpkg': { type: 'boolean', default: false },
      'pack-only': { type: 'boolean', default: false },
      'audit-only': { type: 'boolean', default: false },
      'no-index': { type: 'boolean', default: false },
      'index-only': { type: 'boolean', default: false },
      'no-serve': { type: 'boolean', default: false },
      'serve-only': { type: 'boolean', default: false },
      'no-core': { type: 'boolean', default: false },
      'core-only': { type: 'boolean', default: false },
      binpkg: { type: 'boolean', default: false },
      packages: { type: 'string', default: '60' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (err) {
  process.stderr.write(`bench: ${err.message}\n  (see: node bench/run.mjs --help)\n`);
  process.exit(2);
}
if (opt.help) {
  const lines = fs
    .readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('\n')
    .slice(1);
  const head = lines.slice(
    0,
    lines.findIndex((l) => !l.startsWith('//')),
  );
  process.stdout.write(head.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const runs = Number(opt.runs);
if (!Number.isInteger(runs) || runs < 1) die(`--runs: expected a positive integer, got '${opt.runs}'`);
const retries = Number(opt.retries);
if (!Number.isInteger(retries) || retries < 0) die(`--retries: expected a whole number, got '${opt.retries}'`);
const waitIdleLimit = Number(opt['wait-idle']);
if (!(waitIdleLimit >= 0)) die(`--wait-idle: expected seconds, got '${opt['wait-idle']}'`);
const cores = os.availableParallelism();
/** A run during which other processes used more than this share of the machine's CPU is repeated. */
const NOISE_LIMIT = 0.05;

function die(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}
const log = (message) => process.stderr.write(`bench: ${message}\n`);

// ---------------------------------------------------------------- corpus

function imageOf(dir) {
  if (fs.existsSync(path.join(dir, 'image', 'usr'))) return path.join(dir, 'image');
  if (fs.existsSync(path.join(dir, 'usr'))) return dir;
  return undefined;
}

function resolveCorpus() {
  const given = opt.corpus ?? process.env.PACKDEBUG_BENCH_CORPUS;
  if (given) {
    const image = imageOf(path.resolve(given));
    if (!image) die(`${given}: neither a make-corpus.sh OUTDIR (with image/usr) nor an image directory (with usr/)`);
    return image;
  }
  const size = opt.quick ? 'small' : 'full';
  const outdir = path.join(repoRoot, 'bench', 'corpus', ...(opt.quick ? ['small'] : []));
  const script = path.resolve(repoRoot, '..', 'shared', 'bench', 'make-corpus.sh');
  if (fs.existsSync(path.join(outdir, `.done-${size}`)) && imageOf(outdir)) return imageOf(outdir);
  if (!fs.existsSync(script)) {
    die(
      `no corpus: ${path.relative(process.cwd(), outdir) || outdir} is not built and ${script} does not exist ` +
        `(the repository's sibling directory shared/ is missing).\n` +
        `  Pass --corpus DIR or set PACKDEBUG_BENCH_CORPUS=DIR (a make-corpus.sh OUTDIR or its image/ directory).`,
    );
  }
  log(`building the ${size} corpus: ${script} ${outdir} ${size}`);
  try {
    execFileSync('bash', [script, outdir, size], { stdio: ['ignore', 2, 2] });
  } catch (err) {
    die(`make-corpus.sh failed (${err.status ?? err.message})`);
  }
  const image = imageOf(outdir);
  if (!image) die(`make-corpus.sh finished but ${outdir}/image/usr does not exist`);
  return image;
}

// ---------------------------------------------------------------- process-tree RSS sampler

const PAGE = (() => {
  try {
    return Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;
  } catch {
    return 4096;
  }
})();

/** Sum of resident bytes of `root` and all its descendants, from /proc. */
function treeRss(root) {
  const children = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ', 2)[1]);
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(Number(name));
  }
  let sum = 0;
  let procs = 0;
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop();
    try {
      sum += Number(fs.readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ', 2)[1]) * PAGE;
      procs++;
    } catch {
      // exited meanwhile
    }
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return { sum, procs };
}

const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds the whole machine spent busy so far, and seconds stolen by the hypervisor (/proc/stat). */
function machineCpu() {
  const f = fs.readFileSync('/proc/stat', 'latin1').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, steal: (steal ?? 0) / CLK_TCK };
}

/** Waits until the machine is idle (others use under 0.15 cores for 3 s), at most `limit` seconds. */
async function waitIdle(limit) {
  const t0 = Date.now();
  for (;;) {
    const a = machineCpu();
    const self0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 3000));
    const b = machineCpu();
    const self = process.cpuUsage(self0);
    const load = (b.busy - a.busy - (self.user + self.system) / 1e6) / 3;
    if (load < 0.15) return;
    if ((Date.now() - t0) / 1000 > limit) {
      log(`  machine still busy (${load.toFixed(2)} cores used by others); measuring anyway`);
      return;
    }
    log(`  waiting for the machine to be idle (${load.toFixed(2)} cores used by others)`);
    await new Promise((r) => setTimeout(r, 10_000));
  }
}

/**
 * Runs argv, timing it and sampling the RSS of its process tree every 50 ms.
 * Returns wall seconds, peak tree RSS, max single-process RSS (from
 * /usr/bin/time, when there is one), and stdout.
 */
function measureProcess(argv, { cwd } = {}) {
  return new Promise((resolve, reject) => {
    const timeFile = TIME ? path.join(tmp, `time-${process.hrtime.bigint()}`) : undefined;
    const full = TIME ? [TIME, '-f', '%e %M %U %S', '-o', timeFile, ...argv] : argv;
    const env = { ...process.env };
    // Portage's tar -J and our xz children would read these; measure xz's plain defaults.
    delete env.XZ_OPT;
    delete env.XZ_DEFAULTS;
    const cpu0 = machineCpu();
    const self0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const child = spawn(full[0], full.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let peak = 0;
    let peakProcs = 0;
    const sample = () => {
      const { sum, procs } = treeRss(child.pid);
      if (sum > peak) peak = sum;
      if (procs > peakProcs) peakProcs = procs;
    };
    const timer = setInterval(sample, 50);
    sample();
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu1 = machineCpu();
      const self = process.cpuUsage(self0);
      clearInterval(timer);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code !== 0) {
        reject(new Error(`${argv.join(' ')}: exit ${code ?? signal}\n${stderr.trim()}`));
        return;
      }
      let maxProcRss;
      let cpu;
      if (timeFile) {
        const m = /(\S+) (\d+) (\S+) (\S+)\s*$/.exec(fs.readFileSync(timeFile, 'utf8'));
        if (m) {
          maxProcRss = Number(m[2]) * 1024;
          cpu = Number(m[3]) + Number(m[4]);
        }
        fs.rmSync(timeFile, { force: true });
      }
      // CPU time the rest of the machine used meanwhile (other jobs on a shared machine): a
      // measurement is only as good as this is small. Needs /usr/bin/time for our own CPU time.
      const otherCpu =
        cpu === undefined ? undefined : Math.max(0, cpu1.busy - cpu0.busy - cpu - (self.user + self.system) / 1e6);
      resolve({
        wall,
        cpu,
        otherCpu,
        steal: cpu1.steal - cpu0.steal,
        peakTreeRss: peak,
        maxProcRss,
        maxProcs: peakProcs,
        stdout,
      });
    });
  });
}

/** Streams, Blocks, and the largest Block's uncompressed size, from `xz --robot -vv --list`. */
function xzList(file) {
  const text = execFileSync('xz', ['--robot', '-vv', '--list', file], { encoding: 'utf8', maxBuffer: 64 * MiB });
  let blocks = 0;
  let largestBlock = 0;
  let totals;
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'block') {
      blocks++;
      largestBlock = Math.max(largestBlock, Number(f[7]));
    } else if (f[0] === 'totals') {
      totals = { streams: Number(f[1]), blocks: Number(f[2]), compressed: Number(f[3]), uncompressed: Number(f[4]) };
    }
  }
  if (!totals) throw new Error(`xz --list ${file}: no totals line`);
  if (blocks !== totals.blocks)
    throw new Error(`xz --list ${file}: ${blocks} block lines, totals says ${totals.blocks}`);
  return { ...totals, largestBlock };
}

// ---------------------------------------------------------------- the measured commands

function debugDirs(image) {
  return ['./usr/src/debug', './usr/lib/debug'].filter((d) => fs.existsSync(path.join(image, d)));
}

function portageCommand(image, out) {
  // Exactly what Portage's __generate_packdebug runs (only the directories that exist).
  const dirs = debugDirs(image).join(' ');
  return {
    argv: ['sh', '-c', `cd "$1" && tar -cJf - ${dirs} > "$2"`, 'sh', image, out],
    shown: `cd IMAGE && tar -cJf - ${dirs} > OUT`,
  };
}

function referenceCommand(image, out, xzArgs) {
  const dirs = debugDirs(image).join(' ');
  return {
    argv: ['sh', '-c', `cd "$1" && tar -cf - ${dirs} | xz ${xzArgs.join(' ')} > "$2"`, 'sh', image, out],
    shown: `cd IMAGE && tar -cf - ${dirs} | xz ${xzArgs.join(' ')} > OUT`,
  };
}

function packdebugCommand(image, out, setting) {
  const argv = [
    process.execPath,
    cli,
    'pack',
    '--image',
    image,
    '--category',
    'sys-libs',
    '--pn',
    'glibc',
    '--pf',
    'glibc-2.36-r9',
    '--build-id',
    '1',
    '--out',
    out,
    '--json',
    ...setting,
  ];
  return { argv, shown: `packdebug pack ${setting.join(' ') || '(defaults)'}` };
}

let outCounter = 0;

/**
 * The speed probe: `xz -6 -T1` of a fixed 4 MiB chunk of a debug file, run right
 * before every measurement. On a shared VM the CPU speed drifts (by 40% within
 * 20 minutes on the project's machine); dividing a wall time by the probe's
 * time taken just before it makes runs made at different moments comparable.
 */
let probeFile;
function setupProbe(image) {
  let best;
  const dir = path.join(image, 'usr', 'lib', 'debug');
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const size = fs.statSync(p).size;
        if (!best || size > best.size) best = { p, size };
      }
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  if (!best || best.size < MiB) return;
  const chunk = Buffer.alloc(Math.min(4 * MiB, best.size));
  const fd = fs.openSync(best.p, 'r');
  fs.readSync(fd, chunk, 0, chunk.length, 0);
  fs.closeSync(fd);
  probeFile = path.join(tmp, 'probe');
  fs.writeFileSync(probeFile, chunk);
}

function probe() {
  if (!probeFile) return undefined;
  const t0 = process.hrtime.bigint();
  execFileSync('sh', ['-c', 'xz -6 -T1 -c "$1" > /dev/null', 'sh', probeFile], {
    env: { ...process.env, XZ_OPT: '', XZ_DEFAULTS: '' },
  });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** One measurement of one configuration (retried while other processes disturb it). */
async function measureOnce(cfg, image, round) {
  const out = path.join(tmp, `out-${++outCounter}.tar.xz`);
  const cmd = cfg.build(out);
  let m;
  for (let attempt = 0; ; attempt++) {
    if (waitIdleLimit > 0) await waitIdle(waitIdleLimit);
    log(
      `${cfg.label}${runs > 1 ? ` (round ${round + 1}/${runs})` : ''}` +
        `${attempt > 0 ? ` (retry ${attempt})` : ''}: ${cmd.shown}`,
    );
    fs.rmSync(out, { force: true });
    const probeSeconds = probe();
    const t = await measureProcess(cmd.argv);
    t.probe = probeSeconds;
    const noise = t.otherCpu === undefined ? 0 : t.otherCpu / (t.wall * cores);
    t.noise = noise;
    if (!m || noise < m.noise) m = { ...t, list: xzList(out), bytes: fs.statSync(out).size };
    if (noise <= NOISE_LIMIT) break;
    log(
      `  ${t.wall.toFixed(1)} s, but other processes used ${t.otherCpu.toFixed(1)} CPU s meanwhile ` +
        `(${(noise * 100).toFixed(0)}% of the machine)`,
    );
    if (attempt >= retries) {
      log(`  keeping the least disturbed of ${attempt + 1} attempts (${(m.noise * 100).toFixed(0)}% noise)`);
      break;
    }
  }
  const { list, bytes } = m;
  if (cfg.kind === 'packdebug') {
    const json = JSON.parse(m.stdout);
    if (json.compressedBytes !== bytes || json.blocks !== list.blocks) {
      throw new Error(
        `${cfg.label}: packdebug --json says ${json.compressedBytes} bytes, ${json.blocks} Blocks; ` +
          `the file has ${bytes} bytes, ${list.blocks} Blocks`,
      );
    }
  }
  fs.rmSync(out, { force: true });
  log(
    `  ${m.wall.toFixed(1)} s, ${bytes} bytes, ${list.blocks} Blocks, ` +
      `largest ${(list.largestBlock / MiB).toFixed(2)} MiB, ` +
      `tree RSS ${(m.peakTreeRss / 1e6).toFixed(0)} MB` +
      (m.maxProcRss ? `, max proc RSS ${(m.maxProcRss / 1e6).toFixed(0)} MB` : '') +
      (m.cpu !== undefined ? `, CPU ${m.cpu.toFixed(1)} s, others ${m.otherCpu.toFixed(1)} s` : '') +
      (m.probe !== undefined ? `, probe ${m.probe.toFixed(2)} s` : ''),
  );
  return {
    wall: m.wall,
    probe: m.probe,
    cpu: m.cpu,
    otherCpu: m.otherCpu,
    noise: m.noise,
    bytes,
    blocks: list.blocks,
    largestBlock: list.largestBlock,
    uncompressed: list.uncompressed,
    peakTreeRss: m.peakTreeRss,
    maxProcRss: m.maxProcRss,
    maxProcs: m.maxProcs,
  };
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/** Summary of a configuration's samples: median wall and CPU time, largest peak RSS. */
function summarize(cfg, samples) {
  const s0 = samples[0];
  return {
    kind: cfg.kind,
    label: cfg.label,
    command: cfg.build('OUT').shown,
    ...(cfg.setting !== undefined ? { setting: cfg.setting } : {}),
    wall: median(samples.map((s) => s.wall)),
    walls: samples.map((s) => s.wall),
    probes: samples.map((s) => s.probe),
    cpu: samples.every((s) => s.cpu !== undefined) ? median(samples.map((s) => s.cpu)) : undefined,
    noise: Math.max(...samples.map((s) => s.noise ?? 0)),
    bytes: s0.bytes,
    blocks: s0.blocks,
    largestBlock: s0.largestBlock,
    uncompressed: s0.uncompressed,
    peakTreeRss: Math.max(...samples.map((s) => s.peakTreeRss)),
    maxProcRss: samples.every((s) => s.maxProcRss !== undefined)
      ? Math.max(...samples.map((s) => s.maxProcRss))
      : undefined,
    maxProcs: Math.max(...samples.map((s) => s.maxProcs)),
    deterministic: samples.every((s) => s.bytes === s0.bytes),
  };
}

/**
 * Measures every configuration once per round, for `runs` rounds, so that a
 * slow drift of the machine (a shared VM) affects all of them alike.
 */
async function measureAll(configs, image) {
  const samples = configs.map(() => []);
  for (let round = 0; round < runs; round++) {
    for (const [i, cfg] of configs.entries()) {
      samples[i].push(await measureOnce(cfg, image, round));
      // A long run on a shared machine may be cut short: keep what was measured so far.
      if (opt['json-out']) {
        const partial = {
          complete: false,
          runs,
          round: round + 1,
          configs: configs.map((c, j) => ({ kind: c.kind, label: c.label, setting: c.setting, samples: samples[j] })),
        };
        fs.writeFileSync(opt['json-out'], JSON.stringify(partial, null, 2) + '\n');
      }
    }
  }
  return configs.map((cfg, i) => summarize(cfg, samples[i]));
}

// ---------------------------------------------------------------- formatting

const fmtS = (s) => s.toFixed(1);
const fmtMB = (b) => (b === undefined ? '-' : (b / 1e6).toFixed(0));
const fmtMiB = (b) => {
  const v = b / MiB;
  return v >= 10 ? v.toFixed(1) : v.toFixed(2);
};
const fmtX = (r) => `${r.toFixed(3)}x`;

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map((c) => String(c).replaceAll('|', '\\|')).join(' | ')} |`);
  return lines.join('\n');
}

function verdicts(result, portage, goals) {
  const out = [];
  const wr = result.wallRatio;
  const br = result.bytesRatio;
  if (goals.wallRatio !== undefined)
    out.push({ goal: `wall <= ${goals.wallRatio}x`, value: fmtX(wr), pass: wr <= goals.wallRatio });
  if (goals.bytesRatio !== undefined)
    out.push({ goal: `bytes <= ${goals.bytesRatio.toFixed(2)}x`, value: fmtX(br), pass: br <= goals.bytesRatio });
  if (goals.minBlocks !== undefined)
    out.push({
      goal: `Blocks >= ${goals.minBlocks}`,
      value: String(result.blocks),
      pass: result.blocks >= goals.minBlocks,
    });
  if (goals.peakRss !== undefined)
    out.push({
      goal: `peak RSS <= ${goals.peakRss / 1e6} MB`,
      value: `${fmtMB(result.peakTreeRss)} MB`,
      pass: result.peakTreeRss <= goals.peakRss,
    });
  return out;
}

// ---------------------------------------------------------------- main

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-bench-'));
const cleanup = () => fs.rmSync(tmp, { recursive: true, force: true });
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

/**
 * The small corpus, unless --corpus or PACKDEBUG_BENCH_CORPUS names one
 * (audit and from-binpkg use five or sixty copies of it).
 */
function smallCorpusUnlessNamed() {
  const quick = opt.quick;
  if (!opt.corpus && !process.env.PACKDEBUG_BENCH_CORPUS) opt.quick = true;
  try {
    return resolveCorpus();
  } finally {
    opt.quick = quick;
  }
}

/**
 * The from-binpkg benchmark (bench/binpkg.mjs), on the small corpus unless one
 * is named (60 packages of the full one take long).
 */
function runBinpkgBench({ jsonOut } = {}) {
  const corpus = smallCorpusUnlessNamed();
  const args = [
    path.join(repoRoot, 'bench', 'binpkg.mjs'),
    '--corpus',
    corpus,
    '--packages',
    opt.packages,
    '--runs',
    opt.runs,
  ];
  if (jsonOut) args.push('--json-out', jsonOut);
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', opt.json ? 2 : 'inherit', 'inherit'] });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}

/** The audit benchmark (bench/audit.mjs), on the same corpus. */
function runAuditBench() {
  const corpus = smallCorpusUnlessNamed();
  const args = [path.join(repoRoot, 'bench', 'audit.mjs'), '--corpus', corpus];
  // With --json, stdout is for the JSON document: the audit table goes to stderr.
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', opt.json ? 2 : 'inherit', 'inherit'] });
  if (r.status !== 0) process.exitCode = 1;
}

/** The build-id index and remote-read benchmark (bench/index.mjs), or serve's (bench/serve.mjs), on the full corpus. */
function runIndexBench(image, script = 'index.mjs') {
  const args = [path.join(repoRoot, 'bench', script), ...(image ? ['--corpus', image] : [])];
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', opt.json ? 2 : 'inherit', 'inherit'] });
  if (r.status !== 0) process.exitCode = 1;
}

/** packdebug core against eu-unstrip (bench/core.mjs), on its own fixtures; `results`: pass --json/--json-out on. */
function runCoreBench({ results = false } = {}) {
  const args = [path.join(repoRoot, 'bench', 'core.mjs')];
  if (results && opt.json) args.push('--json');
  if (results && opt['json-out']) args.push('--json-out', opt['json-out']);
  const toStderr = opt.json && !results;
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', toStderr ? 2 : 'inherit', 'inherit'] });
  if (r.status !== 0) process.exitCode = 1;
}

async function main() {
  if (!fs.existsSync(cli)) die(`${cli} does not exist: run \`npm run build\` (npm run bench does it for you)`);
  if (opt['audit-only']) return runAuditBench();
  if (opt['index-only']) return runIndexBench(opt.corpus);
  if (opt['serve-only']) return runIndexBench(opt.corpus, 'serve.mjs');
  if (opt['core-only']) return runCoreBench({ results: true });
  try {
    execFileSync('xz', ['--version'], { stdio: 'ignore' });
  } catch {
    die("xz(1) is not on PATH (needed for Portage's command and xz --list)");
  }
  if (opt.binpkg) return runBinpkgBench({ jsonOut: opt['json-out'] });
  const image = resolveCorpus();
  const dirs = debugDirs(image);
  if (dirs.length === 0) die(`${image}: has neither usr/src/debug nor usr/lib/debug`);

  const xzVersion = execFileSync('xz', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  const cpu = (/model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8')) ?? [])[1] ?? os.cpus()[0]?.model;
  let git;
  try {
    const rev = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty =
      execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() !== '';
    git = `${rev}${dirty ? ' (src/ modified)' : ''}`;
    if (process.env.PACKDEBUG_BENCH_CLI) git = `${git} (repository; the measured CLI is PACKDEBUG_BENCH_CLI)`;
  } catch {
    git = undefined;
  }
  const machine = {
    git,
    cli,
    cores,
    cpu,
    memBytes: os.totalmem(),
    node: process.version,
    xz: xzVersion,
    loadavg: os.loadavg(),
    date: new Date().toISOString(),
  };
  log(
    `corpus ${image}; ${machine.cores} cores (${cpu}), ${xzVersion}, node ${process.version}, ` +
      `load ${machine.loadavg.map((l) => l.toFixed(2)).join(' ')}`,
  );

  // Warm the page cache so that the first measured command does not pay for the disk.
  log('reading the corpus once (page cache)');
  execFileSync('sh', ['-c', `cd "$1" && tar -cf - ${dirs.join(' ')} | cat > /dev/null`, 'sh', image]);
  setupProbe(image);

  const configs = [];
  const byKey = new Map();
  const add = (cfg) => {
    if (byKey.has(cfg.key)) return byKey.get(cfg.key);
    configs.push(cfg);
    byKey.set(cfg.key, cfg);
    return cfg;
  };
  const packCfg = (label, setting) =>
    add({
      kind: 'packdebug',
      key: JSON.stringify(setting),
      label,
      setting: setting.join(' ') || '(defaults)',
      build: (out) => packdebugCommand(image, out, setting),
    });

  let portageCfg;
  let baseline;
  if (opt.baseline) {
    // Reuse Portage's measurement from an earlier --json-out (same corpus) to explore settings faster.
    const prev = JSON.parse(fs.readFileSync(opt.baseline, 'utf8'));
    if (prev.corpus?.image !== image)
      die(`--baseline ${opt.baseline}: measured on ${prev.corpus?.image}, not ${image}`);
    baseline = {
      ...prev.portage,
      label: `${prev.portage.label} (from ${path.basename(opt.baseline)}, ${prev.machine.date})`,
    };
    log(`Portage's command: ${baseline.wall.toFixed(1)} s, ${baseline.bytes} bytes, from ${opt.baseline}`);
  } else {
    portageCfg = add({
      kind: 'portage',
      key: 'portage',
      label: "Portage's tar -cJf",
      build: (out) => portageCommand(image, out),
    });
  }
  const defCfg = packCfg('packdebug default', []);
  const leanCfg = packCfg('packdebug size-leaning', SIZE_LEANING);
  const extraCfgs = opt.setting.map((s) => packCfg(`packdebug ${s}`, s.split(/\s+/).filter(Boolean)));
  const sweepCfgs = [];
  if (opt.sweep) {
    for (const s of SWEEP) sweepCfgs.push(packCfg(`sweep ${s.join(' ')}`, s));
    for (const ref of REFERENCES) {
      sweepCfgs.push(
        add({
          kind: 'reference',
          key: `ref ${ref.label}`,
          label: ref.label,
          setting: ref.label,
          build: (out) => referenceCommand(image, out, ref.xzArgs),
        }),
      );
    }
    // What xz(1) alone takes for packdebug's default layout: the same tar stream and the same
    // Block boundaries, without reading the image, hashing, or verifying.
    log('preparing the block-list reference (packdebug default layout, untimed)');
    const layoutXz = path.join(tmp, 'layout.tar.xz');
    const layoutTar = path.join(tmp, 'layout.tar');
    execFileSync(packdebugCommand(image, layoutXz, []).argv[0], packdebugCommand(image, layoutXz, []).argv.slice(1), {
      stdio: 'ignore',
    });
    execFileSync('sh', ['-c', 'xz -dc "$1" > "$2"', 'sh', layoutXz, layoutTar]);
    const blockList = execFileSync('xz', ['--robot', '-vv', '--list', layoutXz], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith('block\t'))
      .map((l) => l.split('\t')[7])
      .join(',');
    fs.rmSync(layoutXz);
    const label = "xz -T2 -6 --block-list=(packdebug's default layout) on its tar file";
    sweepCfgs.push(
      add({
        kind: 'reference',
        key: 'ref block-list',
        label,
        setting: label,
        build: (out) => ({
          argv: ['sh', '-c', 'xz -T2 -6 --block-list="$1" -c "$2" > "$3"', 'sh', blockList, layoutTar, out],
          shown: `xz -T2 -6 --block-list=... -c default-layout.tar > OUT`,
        }),
      }),
    );
  }

  const summaries = await measureAll(configs, image);
  const resultOf = (cfg) => summaries[configs.indexOf(cfg)];
  const portage = portageCfg ? resultOf(portageCfg) : baseline;
  const def = resultOf(defCfg);
  const lean = resultOf(leanCfg);
  const extra = [...new Set(extraCfgs)].map(resultOf);
  const sweep = [...new Set(sweepCfgs)].map(resultOf);

  // Wall ratio: the median over rounds of (wall / Portage's wall in the same round) when Portage
  // was measured in this run, which cancels most of a shared machine's drift.
  const paired = portage.walls && !baseline;
  const probed = (r) => r.probes?.every((p) => p > 0);
  const portageSpeedWall = probed(portage) ? median(portage.walls.map((w, i) => w / portage.probes[i])) : undefined;
  for (const r of summaries) {
    r.wallRatio = paired ? median(r.walls.map((w, i) => w / portage.walls[i])) : r.wall / portage.wall;
    r.bytesRatio = r.bytes / portage.bytes;
    // Drift-corrected: wall time in units of the probe run just before it, against Portage's.
    if (portageSpeedWall && probed(r))
      r.wallRatioProbed = median(r.walls.map((w, i) => w / r.probes[i])) / portageSpeedWall;
  }
  if (baseline) Object.assign(portage, { wallRatio: 1, bytesRatio: 1 });
  const checks = {
    default: verdicts(def, portage, GOALS.default),
    sizeLeaning: verdicts(lean, portage, GOALS.sizeLeaning),
  };
  const allPass = [...checks.default, ...checks.sizeLeaning].every((c) => c.pass);
  const withRatios = (r) => r;

  const json = {
    complete: true,
    machine,
    corpus: { image, uncompressedTarBytes: portage.uncompressed },
    runs,
    goals: GOALS,
    sizeLeaningSetting: SIZE_LEANING.join(' '),
    portage: withRatios(portage),
    default: withRatios(def),
    sizeLeaning: withRatios(lean),
    extra: extra.map(withRatios),
    sweep: sweep.map(withRatios),
    checks,
    pass: allPass,
  };
  if (opt['json-out']) fs.writeFileSync(opt['json-out'], JSON.stringify(json, null, 2) + '\n');
  if (opt.json) {
    process.stdout.write(JSON.stringify(json, null, 2) + '\n');
  } else {
    const out = [];
    out.push(`# packdebug benchmark, ${machine.date.slice(0, 10)}`);
    out.push('');
    out.push(
      `Machine: ${machine.cores} cores (${cpu}), ${(machine.memBytes / 2 ** 30).toFixed(0)} GiB RAM, ` +
        `${xzVersion}, node ${process.version}, ` +
        `load at start ${machine.loadavg.map((l) => l.toFixed(2)).join(' ')}.`,
    );
    out.push(`packdebug: ${cli}${git ? ` at ${git}` : ''}.`);
    out.push(
      `Corpus: ${image} (${fmtMiB(portage.uncompressed)} MiB of tar). Runs per command: ${runs}` +
        (runs > 1 ? ' (in rounds, every command once per round; median wall and CPU time, largest RSS)' : '') +
        '.',
    );
    if (runs > 1 && paired)
      out.push("Wall ratio: median over the rounds of the wall time divided by Portage's wall time in the same round.");
    out.push(
      'Probe-corrected: each wall time divided by the time of `xz -6 -T1` on a fixed 4 MiB chunk run just before it ' +
        "(the CPU speed of a shared VM drifts), relative to Portage's.",
    );
    out.push(
      'Peak RSS: sum of VmRSS over the process tree, sampled every 50 ms; ' +
        'max proc RSS: largest single process (/usr/bin/time).',
    );
    out.push(
      'CPU: user + system seconds of the measured process tree; ' +
        `others: CPU the rest of the machine used meanwhile, in % of its ${cores} cores ` +
        `(runs above ${NOISE_LIMIT * 100}% are retried up to ${retries} times).`,
    );
    out.push('');
    const main = [portage, def, lean, ...extra];
    out.push(
      table(
        [
          'command',
          'wall (s)',
          'CPU (s)',
          'bytes',
          'wall ratio',
          'wall ratio, probe-corrected',
          'bytes ratio',
          'Blocks',
          'largest Block (MiB)',
          'peak RSS tree (MB)',
          'max proc RSS (MB)',
          'others (%)',
        ],
        main.map((r) => [
          r.kind === 'portage' ? `Portage: \`${r.command}\`` : `${r.label}: \`${r.setting}\``,
          fmtS(r.wall),
          r.cpu === undefined ? '-' : fmtS(r.cpu),
          String(r.bytes),
          fmtX(r.wallRatio),
          r.wallRatioProbed === undefined ? '-' : fmtX(r.wallRatioProbed),
          fmtX(r.bytesRatio),
          String(r.blocks),
          fmtMiB(r.largestBlock),
          fmtMB(r.peakTreeRss),
          fmtMB(r.maxProcRss),
          (r.noise * 100).toFixed(0),
        ]),
      ),
    );
    out.push('');
    for (const [name, list] of [
      ['packdebug default', checks.default],
      [`size-leaning (${SIZE_LEANING.join(' ')})`, checks.sizeLeaning],
    ]) {
      out.push(`${name}: ${list.map((c) => `${c.pass ? 'PASS' : 'FAIL'} ${c.goal} (${c.value})`).join('; ')}`);
    }
    out.push(`overall: ${allPass ? 'PASS' : 'FAIL'}`);
    if (sweep.length > 0) {
      out.push('');
      out.push('## Sweep');
      out.push('');
      const rows = [portage, ...new Set([def, lean, ...sweep])];
      out.push(
        table(
          [
            'setting',
            'wall (s)',
            'CPU (s)',
            'bytes',
            'x Portage bytes',
            'x Portage wall',
            'x Portage wall, probe-corrected',
            'Blocks',
            'largest Block (MiB)',
            'peak RSS (MB)',
            'others (%)',
          ],
          rows.map((r) => [
            r.kind === 'portage'
              ? "Portage's `tar -cJf`"
              : r.kind === 'reference'
                ? `\`${r.setting}\``
                : `\`${r.setting}\`${r === def ? ' (default)' : r === lean ? ' (size-leaning)' : ''}`,
            fmtS(r.wall),
            r.cpu === undefined ? '-' : fmtS(r.cpu),
            String(r.bytes),
            fmtX(r.bytesRatio),
            fmtX(r.wallRatio),
            r.wallRatioProbed === undefined ? '-' : fmtX(r.wallRatioProbed),
            String(r.blocks),
            fmtMiB(r.largestBlock),
            fmtMB(r.peakTreeRss),
            (r.noise * 100).toFixed(0),
          ]),
        ),
      );
    }
    process.stdout.write(out.join('\n') + '\n');
  }
  if (opt['pack-only']) {
    if (opt.check && !allPass) process.exitCode = 1;
    return;
  }
  if (!opt['no-extract']) {
    // The random-access benchmark (bench/extract.mjs) on the same corpus, in the same run.
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bench', 'extract.mjs'), '--corpus', image], {
      stdio: ['ignore', opt.json ? 2 : 'inherit', 'inherit'],
    });
    if (r.status !== 0) process.exitCode = 1;
  }
  if (!opt['no-audit']) runAuditBench();
  if (!opt['no-binpkg']) runBinpkgBench();
  if (!opt['no-index']) runIndexBench(image);
  if (!opt['no-serve']) runIndexBench(image, 'serve.mjs');
  if (!opt['no-core']) runCoreBench();
  if (opt.check && !allPass) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
