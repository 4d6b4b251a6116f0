#!/usr/bin/env node
// from-binpkg benchmark: debug tarballs for a whole PKGDIR.
//
//   node bench/binpkg.mjs [--corpus DIR] [--packages N] [--runs N] [--json-out FILE]
//   npm run bench -- --binpkg              (the same, on the small corpus unless --corpus is given)
//
// A PKGDIR of N (default 60, at least 50) binpkgs is generated from the
// corpus by bench/make-pkgdir.mjs and cached under .cache/bench-pkgdir/.
// Then, each on all cores of the machine, in one run:
//
//   from-binpkg       packdebug from-binpkg PKGDIR --out TREE (streams the images, never unpacks them)
//   from-binpkg again the same with every tarball up to date (the incremental CI case), with the
//                     up-to-date records of the first run, then without them (digests compared)
//   tar -x            unpacking every image with tar (xargs -P cores), nothing else
//   tar -x + Portage  unpacking, then Portage's `cd IMAGE && tar -cJf - ./usr/src/debug ./usr/lib/debug`
//   tar -x + pack     unpacking, then `packdebug pack` (what one would script without from-binpkg)
//
// With --runs N every method is measured N times, in rounds (so that a burst
// of load from other jobs hits all methods alike); the median is reported.
// Reported: wall and CPU seconds, packages per second (all N binpkgs, the
// ones without debug info included), the largest single process's RSS
// (/usr/bin/time), bytes written.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repoRoot, 'dist', 'cli.js');
const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    packages: { type: 'string', default: '60' },
    runs: { type: 'string', default: '1' },
    'json-out': { type: 'string' },
  },
});
const log = (m) => process.stderr.write(`bench/binpkg: ${m}\n`);
const packages = Number(values.packages);
if (!Number.isInteger(packages) || packages < 50) {
  log('--packages: at least 50');
  process.exit(2);
}
const corpusArg =
  values.corpus ?? process.env.PACKDEBUG_BENCH_CORPUS ?? path.join(repoRoot, 'bench', 'corpus', 'small');
const image = fs.existsSync(path.join(corpusArg, 'image', 'usr')) ? path.join(corpusArg, 'image') : corpusArg;
if (!fs.existsSync(path.join(image, 'usr/lib/debug'))) {
  log(`no corpus image at ${corpusArg} (pass --corpus DIR: a make-corpus.sh OUTDIR or its image/)`);
  process.exit(2);
}
const cores = os.availableParallelism();
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

// ------------------------------------------------------------ the PKGDIR (cached)

const generator = path.join(repoRoot, 'bench', 'make-pkgdir.mjs');
const key = createHash('sha256')
  .update(fs.realpathSync(image))
  .update(String(fs.statSync(path.join(image, 'usr/lib/debug')).mtimeMs))
  .update(fs.readFileSync(generator))
  .update(String(packages))
  .digest('hex')
  .slice(0, 16);
const pkgdir = path.join(repoRoot, '.cache', 'bench-pkgdir', key);
if (!fs.existsSync(path.join(pkgdir, '.done'))) {
  log(`generating ${packages} binpkgs from ${image} into ${path.relative(repoRoot, pkgdir)}`);
  fs.rmSync(pkgdir, { recursive: true, force: true });
  execFileSync(process.execPath, [generator, image, pkgdir, '--packages', String(packages)], {
    stdio: ['ignore', 2, 2],
  });
  fs.writeFileSync(path.join(pkgdir, '.done'), '');
}
const binpkgs = execFileSync('find', [pkgdir, '-name', '*.gpkg.tar', '-o', '-name', '*.xpak'], { encoding: 'utf8' })
  .trim()
  .split('\n')
  .sort();
const pkgBytes = binpkgs.reduce((n, f) => n + fs.statSync(f).size, 0);

// ------------------------------------------------------------ measuring

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-bench-binpkg-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function measure(label, argv) {
  const timeFile = path.join(tmp, 'time');
  const full = TIME ? [TIME, '-f', '%e %M %U %S', '-o', timeFile, ...argv] : argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${label}: exit ${r.status ?? r.signal}\n${r.stderr}`);
  let cpu;
  let maxRss;
  if (TIME) {
    const m = /(\S+) (\d+) (\S+) (\S+)\s*$/.exec(fs.readFileSync(timeFile, 'utf8'));
    if (m) {
      maxRss = Number(m[2]) * 1024;
      cpu = Number(m[3]) + Number(m[4]);
    }
  }
  log(`${label}: ${wall.toFixed(2)} s`);
  return { label, wall, cpu, maxRss, stdout: r.stdout.toString() };
}

function dirBytes(dir) {
  const out = execFileSync('find', [dir, '-type', 'f', '-name', '*.tar.xz', '-printf', '%s\n'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .reduce((n, s) => n + Number(s), 0);
}

// One binpkg: unpack its image into a scratch dir (as Portage would merge it), then MODE.
const perPackage = path.join(tmp, 'one.sh');
fs.writeFileSync(
  perPackage,
  `#!/bin/bash
set -euo pipefail
mode=$1 out=$2 pkg=$3
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
case $pkg in
*.gpkg.tar)
	member=$(tar -tf "$pkg" | grep '/image\\.tar\\.' | grep -v '\\.sig$')
	case $member in *.zst) d='zstd -dc --long=31' ;; *.xz) d='xz -dc' ;; *.bz2) d='bzip2 -dc' ;; *) d='gzip -dc' ;; esac
	tar -xOf "$pkg" "$member" | $d | tar -x -C "$work" --strip-components=1 ;;   # members image/... (GLEP 78)
*)
	# XPAK: the compressed tar is the file minus the segment (its size is in the last 8 bytes).
	size=$(stat -c %s "$pkg")
	xpak=$(tail -c 8 "$pkg" | head -c 4 | od -An -tu4 --endian=big | tr -d ' ')
	head -c $((size - 8 - xpak)) "$pkg" | bzip2 -dc | tar -x -C "$work" ;;
esac
dirs=()
[[ -d $work/usr/src/debug ]] && dirs+=(./usr/src/debug)
[[ -d $work/usr/lib/debug ]] && dirs+=(./usr/lib/debug)
((\${#dirs[@]})) || exit 0
name=$(basename "$pkg")
case $mode in
unpack) ;;
portage) (cd "$work" && tar -cJf - "\${dirs[@]}") > "$out/$name-debug.tar.xz" ;;
pack) node "${cli}" pack --image "$work" --category bench --pn p --pf p-1 ` +
    `--build-id 1 --threads 1 --out "$out/$name-debug.tar.xz" > /dev/null ;;
esac
`,
);

const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  log('--runs: a positive integer');
  process.exit(2);
}
const list = path.join(tmp, 'list');
fs.writeFileSync(list, binpkgs.join('\0'));

function round(r) {
  const out = [];
  const tree = path.join(tmp, `tree-${r}`);
  // A private record cache: the first run fills it, "again" uses it, "again, no records" does not.
  process.env.PACKDEBUG_CACHE_DIR = path.join(tmp, `cache-${r}`);
  const first = measure('from-binpkg', [process.execPath, cli, 'from-binpkg', pkgdir, '--out', tree, '--json']);
  const summary = JSON.parse(first.stdout);
  out.push({
    ...first,
    bytes: dirBytes(tree),
    packed: summary.packed,
    skipped: summary.skipped,
    failed: summary.failed,
  });
  const again = measure('from-binpkg again (all up to date)', [
    process.execPath,
    cli,
    'from-binpkg',
    pkgdir,
    '--out',
    tree,
    '--json',
  ]);
  out.push({ ...again, bytes: 0, skipped: JSON.parse(again.stdout).skipped });
  process.env.PACKDEBUG_CACHE_DIR = '';
  const compared = measure('from-binpkg again, no records (compares digests)', [
    process.execPath,
    cli,
    'from-binpkg',
    pkgdir,
    '--out',
    tree,
    '--json',
  ]);
  out.push({ ...compared, bytes: 0, skipped: JSON.parse(compared.stdout).skipped });
  fs.rmSync(tree, { recursive: true, force: true });
  for (const [mode, label] of [
    ['unpack', 'tar -x'],
    ['portage', 'tar -x + Portage tar -cJf'],
    ['pack', 'tar -x + packdebug pack'],
  ]) {
    const dir = path.join(tmp, `${mode}-${r}`);
    fs.mkdirSync(dir);
    const m = measure(label, [
      'bash',
      '-c',
      `xargs -0 -P ${cores} -n 1 bash "$1" "$2" "$3" < "$4"`,
      'bash',
      perPackage,
      mode,
      dir,
      list,
    ]);
    const made = execFileSync('find', [dir, '-name', '*.tar.xz'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean).length;
    // The reference must have packed what from-binpkg packed, or the comparison means nothing.
    if (mode !== 'unpack' && made !== out[0].packed)
      throw new Error(`${label}: wrote ${made} tarballs, from-binpkg packed ${out[0].packed}`);
    out.push({ ...m, bytes: dirBytes(dir) });
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const rounds = Array.from({ length: runs }, (_, r) => round(r));
const median = (xs) => {
  const v = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  return v.length === 0
    ? undefined
    : v.length % 2
      ? v[(v.length - 1) / 2]
      : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const results = rounds[0].map((r0, i) => {
  const all = rounds.map((rs) => rs[i]);
  return {
    ...r0,
    wall: median(all.map((x) => x.wall)),
    cpu: median(all.map((x) => x.cpu)),
    maxRss: Math.max(...all.map((x) => x.maxRss ?? 0)) || undefined,
    walls: all.map((x) => x.wall),
  };
});

const portage = results.find((r) => r.label.includes('Portage'));
const fmt = (n, d = 2) => (n === undefined ? '-' : n.toFixed(d));
const lines = [
  `from-binpkg benchmark: ${binpkgs.length} binpkgs (${(pkgBytes / 2 ** 20).toFixed(1)} MiB) from ${image}, ` +
    `${cores} cores, node ${process.version}, ${runs} run${runs === 1 ? '' : 's'} ` +
    `(medians; load average ${os.loadavg()[0].toFixed(1)} at the end)`,
  '',
  '| method | wall (s) | CPU (s) | packages/s | × Portage wall | largest process RSS (MB) | tarball bytes |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.label} | ${fmt(r.wall)} | ${fmt(r.cpu)} | ${fmt(binpkgs.length / r.wall, 1)} ` +
      `| ${fmt(r.wall / portage.wall, 3)} | ${r.maxRss === undefined ? '-' : (r.maxRss / 1e6).toFixed(0)} ` +
      `| ${r.bytes || '-'} |`,
  ),
  '',
  `from-binpkg: ${results[0].packed} packed, ${results[0].skipped} skipped (no debug info), ` +
    `${results[0].failed} failed; again: ${results[1].skipped} skipped`,
  ...(runs > 1
    ? [
        'wall times per run: ' +
          results.map((r) => `${r.label}: ${r.walls.map((w) => w.toFixed(2)).join(' ')}`).join('; '),
      ]
    : []),
];
process.stdout.write(`${lines.join('\n')}\n`);
if (values['json-out']) {
  fs.writeFileSync(
    values['json-out'],
    JSON.stringify(
      { binpkgs: binpkgs.length, pkgBytes, cores, results: results.map(({ stdout: _stdout, ...r }) => r) },
      null,
      2,
    ),
  );
}
