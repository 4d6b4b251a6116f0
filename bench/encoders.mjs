#!/usr/bin/env node
// Encoder backends: xz(1) against lzma-native on one chunk of a debug file.
//
//   node bench/encoders.mjs [FILE] [--size 8MiB] [--offset BYTES] [--runs 3] [--preset 6]
//
// FILE defaults to the largest *.debug file of the benchmark corpus
// (PACKDEBUG_BENCH_CORPUS, else bench/corpus, else ../corpus/full). The chunk is
// compressed as one xz Block the way packdebug does it (LZMA2 with the preset's
// settings, dictionary sized to the chunk, CRC64), by `xz --threads=1` and by
// lzma-native's stream encoder; the two outputs must be byte-identical. Then the
// result is decoded by `xz -d` and by lzma-native's stream decoder. Times are
// medians of --runs and include starting the xz process. Needs `npm run build`.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const lzma = require('lzma-native');
const { parsePreset, presetOptions, dictSizeFor } = await import(path.join(repoRoot, 'dist', 'xz', 'lzma2-options.js'));
const { parseSize } = await import(path.join(repoRoot, 'dist', 'util', 'size.js'));

const { values: opt, positionals } = parseArgs({
  options: {
    size: { type: 'string', default: '8MiB' },
    offset: { type: 'string', default: '0' },
    runs: { type: 'string', default: '3' },
    preset: { type: 'string', default: '6' },
    json: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const log = (m) => process.stderr.write(`encoders: ${m}\n`);

function largestDebugFile() {
  const candidates = [
    process.env.PACKDEBUG_BENCH_CORPUS,
    path.join(repoRoot, 'bench', 'corpus'),
    path.join(repoRoot, '..', 'corpus', 'full'),
  ].filter(Boolean);
  for (const c of candidates) {
    for (const image of [path.join(c, 'image'), c]) {
      const dir = path.join(image, 'usr', 'lib', 'debug', 'usr', 'lib64');
      if (!fs.existsSync(dir)) continue;
      let best;
      for (const name of fs.readdirSync(dir)) {
        const st = fs.lstatSync(path.join(dir, name));
        if (st.isFile() && name.endsWith('.debug') && (!best || st.size > best.size))
          best = { file: path.join(dir, name), size: st.size };
      }
      if (best) return best.file;
    }
  }
  throw new Error('no corpus found: pass a FILE');
}

const file = positionals[0] ?? largestDebugFile();
const size = parseSize(opt.size, '--size');
const offset = Number(opt.offset);
const runs = Number(opt.runs);
const fd = fs.openSync(file, 'r');
const chunk = Buffer.alloc(size);
const got = fs.readSync(fd, chunk, 0, size, offset);
fs.closeSync(fd);
const input = chunk.subarray(0, got);

const base = presetOptions(parsePreset(opt.preset));
const o = { ...base, dictSize: dictSizeFor(input.length, base.dictSize) };
const mf = { 3: 'hc3', 4: 'hc4', 0x14: 'bt4' }[o.mf];
const xzFilter =
  `--lzma2=dict=${o.dictSize},lc=${o.lc},lp=${o.lp},pb=${o.pb},` +
  `mode=${o.mode === 1 ? 'fast' : 'normal'},nice=${o.niceLen},mf=${mf},depth=${o.depth}`;

function runXz(args, stdin) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.XZ_OPT;
    delete env.XZ_DEFAULTS;
    const child = spawn('xz', args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const out = [];
    child.stdout.on('data', (c) => out.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`xz ${args.join(' ')}: exit ${code}`)),
    );
    child.stdin.end(stdin);
  });
}

function runCoder(stream, buf) {
  return new Promise((resolve, reject) => {
    const out = [];
    stream.on('data', (c) => out.push(c));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(out)));
    stream.end(buf);
  });
}

const backends = {
  xz: {
    encode: (buf) => runXz(['--format=xz', '--check=crc64', '--threads=1', xzFilter, '--stdout', '--quiet'], buf),
    decode: (buf) => runXz(['--decompress', '--stdout', '--single-stream'], buf),
  },
  'lzma-native': {
    encode: (buf) =>
      runCoder(
        lzma.createStream('streamEncoder', {
          filters: [{ id: lzma.FILTER_LZMA2, options: o }],
          check: lzma.CHECK_CRC64,
          synchronous: false,
        }),
        buf,
      ),
    decode: (buf) => runCoder(lzma.createStream('streamDecoder', { synchronous: false }), buf),
  },
};

async function time(fn) {
  const times = [];
  let result;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    result = await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return { seconds: times[Math.floor(times.length / 2)], result };
}

log(`${file}: ${input.length} bytes at offset ${offset}, ${xzFilter}, CRC64, ${runs} runs each`);
const rows = [];
const encoded = {};
for (const [name, b] of Object.entries(backends)) {
  const enc = await time(() => b.encode(input));
  encoded[name] = enc.result;
  log(`${name} encode ${enc.seconds.toFixed(2)} s -> ${enc.result.length} bytes`);
  rows.push({ backend: name, encodeSeconds: enc.seconds, outputBytes: enc.result.length });
}
const identical = encoded.xz.equals(encoded['lzma-native']);
for (const row of rows) {
  const dec = await time(() => backends[row.backend].decode(encoded.xz));
  if (!dec.result.equals(input)) throw new Error(`${row.backend} decoded something else`);
  row.decodeSeconds = dec.seconds;
  log(`${row.backend} decode ${dec.seconds.toFixed(3)} s`);
}
const versions = {
  xz: (await runXz(['--version'], Buffer.alloc(0))).toString().split('\n')[1]?.trim(),
  'lzma-native': `lzma-native ${require('lzma-native/package.json').version}, ${lzma.versionString()}`,
};

if (opt.json) {
  process.stdout.write(
    JSON.stringify({ file, offset, inputBytes: input.length, filter: xzFilter, identical, versions, rows }, null, 2) +
      '\n',
  );
} else {
  const MB = 1e6;
  const lines = [
    `Chunk: ${input.length} bytes of ${path.basename(file)} at offset ${offset}; ${xzFilter}; ` +
      `outputs ${identical ? 'byte-identical' : 'DIFFERENT'} (${rows[0].outputBytes} bytes).`,
    '',
    '| backend | encode (s) | encode (MB/s) | decode (s) | decode (MB/s) |',
    '|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${versions[r.backend] ?? r.backend} ` +
        `| ${r.encodeSeconds.toFixed(2)} | ${(input.length / MB / r.encodeSeconds).toFixed(2)} ` +
        `| ${r.decodeSeconds.toFixed(3)} | ${(input.length / MB / r.decodeSeconds).toFixed(1)} |`,
    ),
    '',
    `xz(1) / lzma-native speed: encode ${(rows[1].encodeSeconds / rows[0].encodeSeconds).toFixed(2)}x, ` +
      `decode ${(rows[1].decodeSeconds / rows[0].decodeSeconds).toFixed(2)}x.`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
if (!identical) process.exitCode = 1;
