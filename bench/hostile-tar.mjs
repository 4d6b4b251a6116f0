#!/usr/bin/env node
// Hostile tar headers (issue 12, item 10): one global pax header of 74,898
// records before 1,000 empty members (15 KB of xz). Times list, audit --deep,
// repack and from-binpkg on it, next to GNU tar -tvf, with peak RSS from
// /usr/bin/time. Before the fix every member copied every global record:
// list took 71 s (GNU tar 5.9 s), the others did not finish in 40 s.
//
//   npm run build && node bench/hostile-tar.mjs [--records N] [--members N] [--check]
//
// --check: exit 1 when a packdebug command takes longer than GNU tar -tvf
// (which itself re-applies the global records per member).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repoRoot, 'dist', 'cli.js');
const { encodeHeader, paddedSize } = await import(path.join(repoRoot, 'dist/tar/header.js'));
const { encodePaxRecords } = await import(path.join(repoRoot, 'dist/tar/pax.js'));
const { encodeXpak, xpakTrailer } = await import(path.join(repoRoot, 'dist/binpkg/xpak.js'));

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '74898' },
    members: { type: 'string', default: '1000' },
    check: { type: 'boolean' },
  },
});

function header(name, type, size) {
  return encodeHeader({
    name,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime: 1_700_000_000,
    type,
    linkname: '',
    uname: 'root',
    gname: 'root',
    devmajor: 0,
    devminor: 0,
  });
}

const pax = Buffer.concat(
  Array.from({ length: Number(values.records) }, (_, i) => encodePaxRecords({ [`k${i}`]: 'v' })),
);
const tar = Buffer.concat([
  header('./GlobalHead', 'g', pax.length),
  pax,
  Buffer.alloc(paddedSize(pax.length) - pax.length),
  ...Array.from({ length: Number(values.members) }, (_, i) => header(`./usr/lib/debug/e${i}`, '0', 0)),
  Buffer.alloc(1024),
]);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'packdebug-bench-hostile-'));
try {
  const tree = path.join(dir, 'tree');
  const tarball = path.join(tree, 'dev-util/g/g-1-1-debug.tar.xz');
  fs.mkdirSync(path.dirname(tarball), { recursive: true });
  fs.writeFileSync(tarball, spawnSync('xz', ['-c'], { input: tar, maxBuffer: 1 << 30 }).stdout);
  const xpak = path.join(dir, 'g-1-1.xpak');
  const meta = { CATEGORY: 'dev-util\n', PF: 'g-1\n', EAPI: '8\n', SLOT: '0\n', BUILD_ID: '1\n' };
  fs.writeFileSync(xpak, Buffer.concat([fs.readFileSync(tarball), xpakTrailer(encodeXpak(meta))]));
  console.log(`${values.records} global records, ${values.members} members: ${fs.statSync(tarball).size} bytes of xz`);

  const run = (label, cmd, args) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const [secs, kb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    console.log(
      `${label.padEnd(24)} ${secs.toFixed(2).padStart(7)} s  ` +
        `${(kb / 1024).toFixed(0).padStart(5)} MB  exit ${r.status}`,
    );
    return secs;
  };
  const gnu = run('GNU tar -tvf', 'bash', ['-c', 'xz -dc "$1" | tar -tvf - > /dev/null', '_', tarball]);
  const ours = [
    run('packdebug list', 'node', [cli, 'list', tarball]),
    run('packdebug audit --deep', 'node', [cli, 'audit', '--deep', tree]),
    run('packdebug repack', 'node', [cli, 'repack', tarball]),
    run('packdebug from-binpkg', 'node', [cli, 'from-binpkg', '-o', path.join(dir, 'out'), xpak]),
  ];
  if (values.check && ours.some((s) => s > gnu)) {
    console.log('FAIL: a packdebug command took longer than GNU tar -tvf');
    process.exitCode = 1;
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
