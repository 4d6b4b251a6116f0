#!/usr/bin/env node
// Random-access benchmark (issue: list/extract/repack): extracting single
// members from a packdebug tarball, against GNU tar on Portage's single-Block
// tarball (sequential) and pixz on a pixz archive of the same tar stream.
//
//   node bench/extract.mjs [--corpus DIR] [--json-out FILE] [--samples N] [--runs N]
//   npm run bench -- --extract          (the same, after the packing benchmark)
//
// Measured in one run, on 20 small members spread evenly through the archive
// plus the smallest member stored last: whole-process time (best of --runs) of
//   packdebug extract TARBALL --path M -o OUT        (cold: no cache, new process)
//   tar -xJf PORTAGE.tar.xz -O M                     (sequential: reads the whole archive,
//                                                     as tar must to find every copy of M)
//   tar -xJf PORTAGE.tar.xz --occurrence=1 -O M      (tar's best case: stops at M)
//   pixz -x M < ARCHIVE.tpxz | tar -xO               (pixz's own index, ~16 MiB Blocks)
// the in-process time of the library call (a fresh reader each time, the
// process already running), and the bytes each one decompresses: packdebug's
// from its counters (on the default layout and on the size-leaning setting),
// tar's = the member's end offset, pixz's = from the start of the pixz Block
// holding the header to the member's end.
// Then the time and size of `packdebug repack` on Portage's tarball.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repoRoot, 'dist');
const cli = path.join(dist, 'cli.js');
const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    'json-out': { type: 'string' },
    samples: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    // The size-leaning setting of docs/layout.md; its bytes decoded are compared with pixz's.
    'size-leaning': { type: 'string', default: '--block-size 32MiB' },
  },
  allowPositionals: true,
});
const corpusArg = values.corpus ?? process.env.PACKDEBUG_BENCH_CORPUS ?? path.join(repoRoot, 'bench', 'corpus');
const image = fs.existsSync(path.join(corpusArg, 'image')) ? path.join(corpusArg, 'image') : corpusArg;
if (!fs.existsSync(path.join(image, 'usr'))) {
  console.error(`bench/extract: no corpus image at ${corpusArg} (run npm run bench first, or pass --corpus)`);
  process.exit(2);
}
for (const tool of ['tar', 'xz', 'pixz']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench/extract: ${tool} is missing (apt-get install ${tool === 'xz' ? 'xz-utils' : tool})`);
    process.exit(2);
  }
}

const log = (m) => process.stderr.write(`bench/extract: ${m}\n`);
const seconds = (f) => {
  const t = process.hrtime.bigint();
  const r = f();
  return { r, s: Number(process.hrtime.bigint() - t) / 1e9 };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const worst = (xs) => Math.max(...xs);
const sh = (cmd, args = []) => execFileSync('sh', ['-c', cmd, 'sh', ...args], { maxBuffer: 1 << 30 });

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-bench-extract-'));
const env = { ...process.env, PACKDEBUG_CACHE_DIR: '' };
try {
  const ours = path.join(work, 'packdebug.tar.xz');
  const portage = path.join(work, 'portage.tar.xz');
  const leaning = path.join(work, 'size-leaning.tar.xz');
  const pixzArchive = path.join(work, 'pixz.tpxz');
  const leaningArgs = values['size-leaning'].split(/\s+/).filter(Boolean);
  const pack = (out, extra = []) =>
    execFileSync(
      'node',
      [
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
        ...extra,
      ],
      { env, stdio: ['ignore', 'ignore', 'inherit'] },
    );
  log('packing the corpus with packdebug (defaults)');
  pack(ours);
  log(`packing it with the size-leaning setting (${leaningArgs.join(' ')})`);
  pack(leaning, leaningArgs);
  log("packing it with Portage's command");
  sh('cd "$1" && tar -cJf - ./usr/src/debug ./usr/lib/debug > "$2"', [image, portage]);
  log('making a pixz archive of the same tar stream');
  sh('xz -dc "$1" | pixz -p2 > "$2"', [ours, pixzArchive]);

  const list = JSON.parse(execFileSync('node', [cli, 'list', ours, '--json'], { env, maxBuffer: 1 << 30 }).toString());
  const files = list.entries.filter((e) => e.type === 'file' && e.size > 0 && e.size < 64 * 1024);
  const n = Number(values.samples);
  const sample = Array.from({ length: n }, (_, i) => files[Math.floor(((i + 0.5) * files.length) / n)]);
  const tail = files.slice(Math.floor(files.length * 0.99));
  const last = tail.reduce((a, b) => (b.size < a.size ? b : a));
  // xz --robot -lvv block lines: block, stream, block in stream, block in file,
  // compressed offset, uncompressed offset, total size, uncompressed size, ...
  const pixzBlocks = sh('xz --robot -lvv "$1"', [pixzArchive])
    .toString()
    .split('\n')
    .filter((l) => l.startsWith('block\t'))
    .map((l) => {
      const f = l.split('\t');
      return { offset: Number(f[5]), size: Number(f[7]) };
    });
  if (pixzBlocks.length < 2 || pixzBlocks.some((b) => !Number.isSafeInteger(b.offset) || !(b.size > 0)))
    throw new Error('could not read the Blocks of the pixz archive');
  // pixz decodes from the start of the Block holding the member's header to the member's end.
  const pixzDecoded = (m) => {
    const first = pixzBlocks.findLast((b) => b.offset <= m.offset);
    return m.offset + 512 + m.size - first.offset;
  };

  const { TarballReader } = await import(path.join(dist, 'tarball', 'reader.js'));
  const { findByPath } = await import(path.join(dist, 'tarball', 'extract.js'));
  const results = [];
  const out = path.join(work, 'out');
  const runs = Number(values.runs);
  const best = (f) => Math.min(...Array.from({ length: runs }, () => seconds(f).s));
  const inProcess = async (tarball, m) => {
    const reader = await TarballReader.open(tarball, env);
    const t0 = process.hrtime.bigint();
    await findByPath(reader, m.path, { write() {} });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const decoded = reader.bytesDecoded;
    await reader.close();
    return { s, decoded };
  };
  for (const m of [last, ...sample]) {
    const first = spawnSync('node', [cli, 'extract', ours, '--path', m.path, '-o', out], { env });
    if (first.status !== 0) throw new Error(`packdebug extract ${m.path} failed: ${first.stderr}`);
    const want = sh('xz -dc "$1" | tail -c +$(($2 + 1)) | head -c $3', [ours, String(m.offset + 512), String(m.size)]);
    if (!fs.readFileSync(out).equals(want)) throw new Error(`packdebug extract ${m.path}: wrong bytes`);
    const pd = best(() => spawnSync('node', [cli, 'extract', ours, '--path', m.path, '-o', out], { env }));
    const pixz = best(() =>
      spawnSync('sh', ['-c', 'pixz -x "$2" < "$1" | tar -xO > /dev/null', 'sh', pixzArchive, m.path]),
    );
    const tar = seconds(() => spawnSync('sh', ['-c', 'tar -xJf "$1" -O "$2" > /dev/null', 'sh', portage, m.path])).s;
    const tarFirst = seconds(() =>
      spawnSync('sh', ['-c', 'tar -xJf "$1" --occurrence=1 -O "$2" > /dev/null', 'sh', portage, m.path]),
    ).s;
    const ip = await inProcess(ours, m);
    const lean = await inProcess(leaning, m);
    const r = {
      path: m.path,
      size: m.size,
      offset: m.offset,
      packdebug: pd,
      tar,
      tarFirst,
      pixz,
      inProcess: ip.s,
      decoded: ip.decoded,
      leaningDecoded: lean.decoded,
      tarDecoded: m.offset + 512 + m.size,
      pixzDecoded: pixzDecoded(m),
    };
    results.push(r);
    log(
      `${m.path}: packdebug ${pd.toFixed(3)} s (${(ip.s * 1000).toFixed(1)} ms in-process, ` +
        `${ip.decoded} B decoded; size-leaning ${lean.decoded} B), ` +
        `tar ${tar.toFixed(2)} s (--occurrence=1 ${tarFirst.toFixed(2)} s), ` +
        `pixz ${pixz.toFixed(3)} s (${r.pixzDecoded} B decoded)`,
    );
  }

  log("repacking a copy of Portage's tarball");
  const repacked = path.join(work, 'repacked.tar.xz');
  fs.copyFileSync(portage, repacked);
  const rp = seconds(() => spawnSync('node', [cli, 'repack', repacked], { env }));
  if (rp.r.status !== 0) throw new Error(`repack failed: ${rp.r.stderr}`);

  const lastR = results[0];
  const spread = results.slice(1);
  const col = (k) => spread.map((r) => r[k]);
  const summary = {
    date: new Date().toISOString(),
    corpus: image,
    tarballs: {
      packdebug: fs.statSync(ours).size,
      sizeLeaning: { setting: leaningArgs.join(' '), bytes: fs.statSync(leaning).size },
      portage: fs.statSync(portage).size,
      pixz: fs.statSync(pixzArchive).size,
      pixzBlocks: pixzBlocks.length,
      packdebugBlocks: list.blocks,
    },
    runs,
    last: lastR,
    sample: {
      n: spread.length,
      packdebug: { median: median(col('packdebug')), worst: worst(col('packdebug')) },
      tar: { median: median(col('tar')), worst: worst(col('tar')) },
      tarFirst: { median: median(col('tarFirst')), worst: worst(col('tarFirst')) },
      pixz: { median: median(col('pixz')), worst: worst(col('pixz')) },
      inProcess: { median: median(col('inProcess')), worst: worst(col('inProcess')) },
      decodedOverMember: { worst: worst(spread.map((r) => r.decoded - r.size)) },
      pixzDecoded: { median: median(col('pixzDecoded')) },
      decoded: { median: median(col('decoded')) },
      leaningToPixz: {
        median: median(spread.map((r) => r.leaningDecoded / r.pixzDecoded)),
        within: spread.filter((r) => r.leaningDecoded <= r.pixzDecoded / 2).length,
      },
    },
    repack: {
      seconds: rp.s,
      bytes: fs.statSync(repacked).size,
      ratio: fs.statSync(repacked).size / fs.statSync(portage).size,
    },
  };
  const s = summary.sample;
  const checks = [
    [
      `bytes decoded <= member + 2 MiB (worst excess ${(s.decodedOverMember.worst / MiB).toFixed(3)} MiB)`,
      s.decodedOverMember.worst <= 2 * MiB && lastR.decoded - lastR.size <= 2 * MiB,
    ],
    [
      `size-leaning setting (${leaningArgs.join(' ')}): bytes decoded <= half of pixz's ` +
        `(median ratio ${s.leaningToPixz.median.toFixed(3)}; ` +
        `${s.leaningToPixz.within} of ${spread.length} members within half)`,
      s.leaningToPixz.median <= 0.5,
    ],
    [`in-process median < 30 ms (${(s.inProcess.median * 1000).toFixed(1)} ms)`, s.inProcess.median < 0.03],
    [
      `whole-process >= 20x faster than sequential tar -xJf at the median ` +
        `(${(s.tar.median / s.packdebug.median).toFixed(1)}x)`,
      s.tar.median / s.packdebug.median >= 20,
    ],
    [
      `faster than pixz -x at the median (${s.packdebug.median.toFixed(3)} vs ${s.pixz.median.toFixed(3)} s)`,
      s.packdebug.median < s.pixz.median,
    ],
    [
      `faster than pixz -x at the worst (${s.packdebug.worst.toFixed(3)} vs ${s.pixz.worst.toFixed(3)} s)`,
      s.packdebug.worst < s.pixz.worst,
    ],
  ];
  const f = (x) => x.toFixed(3);
  const lines = [
    `# Extraction benchmark, ${summary.date.slice(0, 10)}`,
    '',
    `Corpus ${image}; packdebug tarball ${summary.tarballs.packdebug} B in ${list.blocks} Blocks ` +
      `(size-leaning ${summary.tarballs.sizeLeaning.setting}: ${summary.tarballs.sizeLeaning.bytes} B); ` +
      `Portage's ${summary.tarballs.portage} B in 1 Block; ` +
      `pixz ${summary.tarballs.pixz} B in ${pixzBlocks.length} Blocks. ` +
      `Whole-process times: best of ${runs} (tar: one run).`,
    '',
    '| member | size | packdebug (s) | in-process (ms) | decoded (B) | size-leaning decoded (B) ' +
      '| tar -xJf (s) | --occurrence=1 (s) | tar decoded (B) | pixz -x (s) | pixz decoded (B) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r, i) =>
        `| ${i === 0 ? '**last** ' : ''}${r.path.replace(/^\.\/usr\/(lib|src)\/debug\//, '…/')} ` +
        `| ${r.size} | ${f(r.packdebug)} | ${(r.inProcess * 1000).toFixed(1)} | ${r.decoded} | ${r.leaningDecoded} ` +
        `| ${r.tar.toFixed(2)} | ${r.tarFirst.toFixed(2)} | ${r.tarDecoded} | ${f(r.pixz)} | ${r.pixzDecoded} |`,
    ),
    '',
    `Sample of ${spread.length}: packdebug median ${f(s.packdebug.median)} s, worst ${f(s.packdebug.worst)} s; ` +
      `tar median ${f(s.tar.median)} s, worst ${f(s.tar.worst)} s ` +
      `(--occurrence=1: ${f(s.tarFirst.median)}, ${f(s.tarFirst.worst)} s); ` +
      `pixz median ${f(s.pixz.median)} s, worst ${f(s.pixz.worst)} s; ` +
      `in-process median ${(s.inProcess.median * 1000).toFixed(1)} ms, ` +
      `worst ${(s.inProcess.worst * 1000).toFixed(1)} ms.`,
    `Last member (${lastR.path}, ${lastR.size} B): packdebug ${f(lastR.packdebug)} s (${lastR.decoded} B decoded), ` +
      `tar ${lastR.tar.toFixed(2)} s, pixz ${f(lastR.pixz)} s (${lastR.pixzDecoded} B decoded).`,
    `Repack of Portage's tarball: ${summary.repack.seconds.toFixed(1)} s, ${summary.repack.bytes} B ` +
      `= ${summary.repack.ratio.toFixed(3)}x Portage's.`,
    '',
    ...checks.map(([what, ok]) => `${ok ? 'PASS' : 'FAIL'} ${what}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values['json-out'])
    fs.writeFileSync(values['json-out'], JSON.stringify({ ...summary, results, checks }, null, 2));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
