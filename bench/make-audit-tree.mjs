#!/usr/bin/env node
// Builds the tarball tree the audit benchmark reads (bench/audit.mjs):
// N small tarballs packed by packdebug from the fixture image, each with
// its own GNU build-ids (the notes of the debug files are rewritten, and
// the .build-id links renamed to match), a unique source file and varied
// CATEGORY/PN/PF-BUILD_ID names; every tenth one written by Portage's
// command (`tar -cJf`, one Block) instead; plus copies of two real corpus
// tarballs (packdebug and Portage layouts of the small corpus).
//
//   node bench/make-audit-tree.mjs [--count 2000] [--corpus DIR] [--out DIR]
//
// Cached: the default output .cache/audit-tree-v2-N-CORPUS is reused when its
// .done marker exists. Needs a build (dist/) and the fixture image.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function makeAuditTree({ count = 2000, corpus, out, log = () => {} } = {}) {
  // Keyed by the corpus too: a tree made from another corpus measures something else.
  const corpusKey = corpus ? createHash('sha256').update(path.resolve(corpus)).digest('hex').slice(0, 8) : 'none';
  const dir = out ?? path.join(repoRoot, '.cache', `audit-tree-v2-${count}-${corpusKey}`);
  const tree = path.join(dir, 'tree');
  if (fs.existsSync(path.join(dir, '.done'))) return tree;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(tree, { recursive: true });
  const { packImage } = await import(path.join(repoRoot, 'dist', 'pack', 'pack.js'));

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-audit-tree-'));
  try {
    const base = path.join(work, 'base');
    fs.mkdirSync(base);
    execFileSync('tar', ['-xf', path.join(repoRoot, 'fixtures', 'hello-image.tar'), '-C', base]);
    const t0 = Date.now();
    let next = 0;
    let made = 0;
    const template = readTemplate(base);
    // Several at once: packing waits on I/O and on liblzma threads.
    const worker = async (w) => {
      const img = path.join(work, `img-${w}`);
      fs.cpSync(base, img, { recursive: true, verbatimSymlinks: true });
      for (let i = next++; i < count; i = next++) {
        const category = `cat-${String(i % 25).padStart(2, '0')}`;
        const pn = `pkg${i % 500}`;
        const pf = `${pn}-${1 + (i % 3)}.${i % 7}${i % 11 === 0 ? '-r1' : ''}`;
        const buildNumber = String(1 + Math.floor(i / 500));
        writeVariant(img, template, `${i}`);
        const srcDir = path.join(img, 'usr/src/debug', 'generated', pf);
        fs.rmSync(path.join(img, 'usr/src/debug', 'generated'), { recursive: true, force: true });
        fs.mkdirSync(srcDir, { recursive: true });
        fs.writeFileSync(
          path.join(srcDir, 'unique.c'),
          `/* ${category}/${pf} build ${buildNumber} */\nint unique_${i}(void) { return ${i}; }\n`.repeat(1 + (i % 40)),
        );
        const target = path.join(tree, category, pn, `${pf}-${buildNumber}-debug.tar.xz`);
        if (i % 10 === 9) {
          fs.mkdirSync(path.dirname(target), { recursive: true });
          execFileSync('sh', ['-c', 'cd "$1" && tar -cJf "$2" ./usr/src/debug ./usr/lib/debug', 'sh', img, target]);
        } else {
          await packImage({
            image: img,
            category,
            pn,
            pf,
            buildNumber,
            out: target,
            threads: 1,
            blockSize: 16 << 10,
            encoder: 'lzma-native',
          });
        }
        if (++made % 100 === 0) log(`  ${made}/${count} tarballs (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, (_, w) => worker(w)));
    if (corpus) {
      log('  real corpus tarballs');
      const packed = path.join(work, 'corpus-pack.tar.xz');
      await packImage({
        image: corpus,
        category: 'sys-libs',
        pn: 'glibc',
        pf: 'glibc-2.36',
        buildNumber: '1',
        out: packed,
      });
      const portage = path.join(work, 'corpus-portage.tar.xz');
      execFileSync('sh', ['-c', 'cd "$1" && tar -cJf "$2" ./usr/src/debug ./usr/lib/debug', 'sh', corpus, portage]);
      for (let k = 1; k <= 5; k++) {
        const d = path.join(tree, 'sys-libs', 'glibc');
        fs.mkdirSync(d, { recursive: true });
        fs.copyFileSync(packed, path.join(d, `glibc-2.36-r${k}-1-debug.tar.xz`));
        fs.copyFileSync(portage, path.join(d, `glibc-2.36-r${k}-2-debug.tar.xz`));
      }
    }
    fs.writeFileSync(path.join(dir, '.done'), `${new Date().toISOString()}\n`);
    return tree;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The image's debug ELF files (with where their build-id note lies) and .build-id links. */
function readTemplate(image) {
  const debug = path.join(image, 'usr/lib/debug');
  const marker = Buffer.from([4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 0x47, 0x4e, 0x55, 0]); // NT_GNU_BUILD_ID, "GNU"
  const elves = [];
  const links = [];
  for (const file of walk(debug)) {
    const rel = path.relative(image, file);
    const st = fs.lstatSync(file);
    if (rel.includes('/.build-id/')) {
      if (st.isSymbolicLink()) links.push({ name: path.basename(file), target: fs.readlinkSync(file) });
      continue;
    }
    if (!st.isFile()) continue;
    const data = fs.readFileSync(file);
    const at = data.indexOf(marker);
    if (at >= 0) elves.push({ rel, data, at: at + 16, id: data.subarray(at + 16, at + 36).toString('hex') });
  }
  return { elves, links };
}

/** Writes the debug files with new GNU build-ids derived from `seed`, and .build-id links named after them. */
function writeVariant(image, template, seed) {
  const ids = new Map();
  for (const e of template.elves) {
    const id = createHash('sha1').update(`${seed}:${e.id}`).digest();
    const data = Buffer.from(e.data);
    id.copy(data, e.at);
    fs.rmSync(path.join(image, e.rel));
    fs.writeFileSync(path.join(image, e.rel), data);
    ids.set(e.id, id.toString('hex'));
  }
  const dir = path.join(image, 'usr/lib/debug/.build-id');
  fs.rmSync(dir, { recursive: true, force: true });
  for (const l of template.links) {
    const old = l.name.replace(/\.debug$/, '');
    const full = [...ids.keys()].find((k) => k.endsWith(old));
    if (!full) continue;
    const id = ids.get(full);
    const dest = path.join(dir, id.slice(0, 2), id.slice(2) + (l.name.endsWith('.debug') ? '.debug' : ''));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.symlinkSync(l.target, dest);
  }
}

function* walk(dir) {
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    yield p;
    if (d.isDirectory()) yield* walk(p);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: { count: { type: 'string', default: '2000' }, corpus: { type: 'string' }, out: { type: 'string' } },
  });
  const corpus =
    values.corpus &&
    (fs.existsSync(path.join(values.corpus, 'image')) ? path.join(values.corpus, 'image') : values.corpus);
  const tree = await makeAuditTree({
    count: Number(values.count),
    corpus,
    out: values.out,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(`${tree}\n`);
}
