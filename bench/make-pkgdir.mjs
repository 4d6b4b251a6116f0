#!/usr/bin/env node
// Generates a PKGDIR of binpkgs from a corpus image, for the from-binpkg benchmark.
//
//   node bench/make-pkgdir.mjs CORPUS_IMAGE PKGDIR [--packages N]
//
// The corpus's debug files are dealt out round-robin to N packages (default
// 60); each package's image holds its binaries (usr/lib64), their .debug
// files and both .build-id links, a share of the sources, and some plain
// files (usr/share/doc). Every tenth package has no debug info (it was
// built without splitdebug). Formats as on a current binhost: mostly GPKG
// with zstd (Portage's default), some GPKG with xz, some XPAK with bzip2,
// all in the binpkg-multi-instance layout with a Packages index.
// Needs GNU tar, zstd, xz, bzip2 and a built dist/ (for the XPAK encoder).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { encodeXpak, xpakTrailer } = await import(path.join(repoRoot, 'dist', 'binpkg', 'xpak.js'));

const { values, positionals } = parseArgs({
  options: { packages: { type: 'string', default: '60' } },
  allowPositionals: true,
});
const [corpus, pkgdir] = positionals;
if (!corpus || !pkgdir) {
  process.stderr.write('usage: make-pkgdir.mjs CORPUS_IMAGE PKGDIR [--packages N]\n');
  process.exit(2);
}
const count = Number(values.packages);
const MTIME = '@1700000000';

function walkFiles(root, rel = '') {
  const out = [];
  for (const d of fs
    .readdirSync(path.join(root, rel), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...walkFiles(root, r));
    else out.push({ rel: r, link: d.isSymbolicLink() });
  }
  return out;
}

const debugFiles = walkFiles(corpus, 'usr/lib/debug/usr').filter((f) => !f.link);
const links = walkFiles(corpus, 'usr/lib/debug/.build-id').filter((f) => f.link);
const sources = walkFiles(corpus, 'usr/src/debug').filter((f) => !f.link);
// Which .build-id links belong to which debug file (by what they point at).
const linksOf = new Map();
for (const l of links) {
  const target = path.posix.normalize(
    path.posix.join(path.posix.dirname(l.rel), fs.readlinkSync(path.join(corpus, l.rel))),
  );
  const key = target.endsWith('.debug') ? target : `usr/lib/debug/${target}.debug`;
  if (!linksOf.has(key)) linksOf.set(key, []);
  linksOf.get(key).push(l.rel);
}

function copy(rel, into) {
  const dest = path.join(into, rel);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.cpSync(path.join(corpus, rel), dest, { verbatimSymlinks: true, preserveTimestamps: true });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-make-pkgdir-'));
const index = ['ARCH: amd64', `PACKAGES: ${count}`, 'VERSION: 0', ''];
try {
  for (let i = 0; i < count; i++) {
    const category = ['sys-libs', 'dev-libs', 'app-misc', 'media-libs'][i % 4];
    const pn = `bench${String(i).padStart(3, '0')}`;
    const pf = `${pn}-1.${i % 7}`;
    const buildNumber = String(1 + (i % 3));
    const image = path.join(tmp, `image-${i}`);
    const withDebug = i % 10 !== 9;
    for (let j = i; j < debugFiles.length; j += count) {
      const dbg = debugFiles[j].rel;
      const bin = dbg.slice('usr/lib/debug/'.length).replace(/\.debug$/, '');
      if (fs.existsSync(path.join(corpus, bin))) copy(bin, image);
      if (!withDebug) continue;
      copy(dbg, image);
      for (const l of linksOf.get(dbg) ?? []) copy(l, image);
    }
    if (withDebug) for (let j = i; j < sources.length; j += count) copy(sources[j].rel, image);
    const doc = path.join(image, 'usr/share/doc', pf);
    fs.mkdirSync(doc, { recursive: true });
    fs.writeFileSync(path.join(doc, 'README'), `${pf}\n`.repeat(2000));
    execFileSync('find', [image, '-exec', 'touch', '-h', '-d', MTIME, '{}', '+']);

    const meta = {
      CATEGORY: `${category}\n`,
      PF: `${pf}\n`,
      BUILD_ID: `${buildNumber}\n`,
      EAPI: '8\n',
      SLOT: '0\n',
      BUILD_TIME: '1700000000\n',
    };
    const format = i % 10 === 3 ? 'xpak' : i % 10 === 6 ? 'gpkg-xz' : 'gpkg-zstd';
    const dir = path.join(pkgdir, category, pn);
    fs.mkdirSync(dir, { recursive: true });
    let rel;
    const tarImage = `tar --format=gnu --owner=0 --group=0 --numeric-owner --sort=name -C "$1" -cf - .`;
    if (format === 'xpak') {
      rel = `${category}/${pn}/${pf}-${buildNumber}.xpak`;
      execFileSync('bash', [
        '-c',
        `set -o pipefail; ${tarImage} | bzip2 -c > "$2"`,
        'bash',
        image,
        path.join(pkgdir, rel),
      ]);
      fs.appendFileSync(path.join(pkgdir, rel), xpakTrailer(encodeXpak(meta)));
    } else {
      rel = `${category}/${pn}/${pf}-${buildNumber}.gpkg.tar`;
      const [suffix, comp] = format === 'gpkg-xz' ? ['.xz', 'xz -c -T1'] : ['.zst', 'zstd -q -c -T1'];
      const base = `${pf}-${buildNumber}`;
      // As Portage lays a GPKG out: BASENAME/{gpkg-1,metadata.tar.C,image.tar.C},
      // payload members metadata/KEY and image/...
      const stage = path.join(tmp, `stage-${i}`, base);
      const inner = path.join(tmp, `inner-${i}`);
      fs.mkdirSync(stage, { recursive: true });
      fs.mkdirSync(path.join(inner, 'metadata'), { recursive: true });
      for (const [k, v] of Object.entries(meta)) fs.writeFileSync(path.join(inner, 'metadata', k), v);
      fs.writeFileSync(path.join(stage, 'gpkg-1'), '');
      execFileSync('bash', [
        '-c',
        `set -o pipefail; tar --format=ustar -C "$2" -cf - metadata | ${comp} > "$1/metadata.tar${suffix}"`,
        'bash',
        stage,
        inner,
      ]);
      execFileSync('bash', [
        '-c',
        'set -o pipefail; tar --format=gnu --owner=0 --group=0 --numeric-owner --sort=name ' +
          `--transform="s,^\\.,image,rSh" -C "$1" -cf - . | ${comp} > "$2/image.tar${suffix}"`,
        'bash',
        image,
        stage,
      ]);
      execFileSync('tar', [
        '--format=ustar',
        '-cf',
        path.join(pkgdir, rel),
        '-C',
        path.dirname(stage),
        `${base}/gpkg-1`,
        `${base}/metadata.tar${suffix}`,
        `${base}/image.tar${suffix}`,
      ]);
    }
    index.push(
      `BUILD_ID: ${buildNumber}`,
      `CPV: ${category}/${pf}`,
      `PATH: ${rel}`,
      `SIZE: ${fs.statSync(path.join(pkgdir, rel)).size}`,
      '',
    );
    fs.rmSync(image, { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(pkgdir, 'Packages'), index.join('\n'));
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
