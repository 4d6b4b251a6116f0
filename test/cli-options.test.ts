/**
 * Every option of every command, through the built CLI (dist/cli.js, built by
 * `pretest`): each case runs `node dist/cli.js` and checks that the options it
 * names took effect. The last test lists each command's options from its
 * --help and fails when one is exercised by no case here.
 */
import { execa } from 'execa';
import fs from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeGpkg } from './helpers/binpkg.js';
import { buildIds, makeImage, tmpdir } from './helpers/images.js';
import { LZMA_NATIVE_OFF, NO_XZ_BACKEND } from './helpers/tools.js';
import { packInto, portageTarball, tarballPath } from './helpers/trees.js';

const CLI = path.resolve(__dirname, '../dist/cli.js');
const HELLO = { category: 'app-misc', pn: 'hello', pf: 'hello-1.0' };
const ENV = { PACKDEBUG_CACHE_DIR: '', LC_ALL: 'C' };

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  execa(process.execPath, [CLI, ...args], { reject: false, env: { ...ENV, ...env } });
/** Without xz(1) on PATH: `--encoder xz` must then fail, `auto` would not. */
const NO_XZ_PATH = { PATH: '/nonexistent' };

/** A command's --json output, typed as far as the assertions read it. */
const json = <T = Record<string, unknown>>(stdout: string) => JSON.parse(stdout) as T;
interface AuditJson {
  deep: boolean;
  summary: { deep: boolean };
  findings: { severity: string }[];
  tarballs: { findings: { severity: string }[] }[];
}
interface PruneJson {
  deleted: { rel: string }[];
  kept: Record<string, number>;
}

async function tree(builds: string[], blockSize?: number): Promise<{ image: string; tree: string }> {
  const image = await makeImage('hello');
  const tree = path.join(await tmpdir('cli-options-tree'), '.tarball');
  for (const buildNumber of builds) await packInto(tree, image, { ...HELLO, buildNumber }, blockSize);
  return { image, tree };
}

/** A command's options as its --help lists them (first long name of each line). */
async function helpOptions(command: string): Promise<string[]> {
  const help = (await cli([command, '--help'])).stdout;
  const options = help.slice(help.indexOf('\nOptions:'));
  return [...options.matchAll(/^\s+(?:-\w, )*--([\w-]+)/gm)]
    .map((m) => m[1]!)
    .filter((o) => o !== 'help' && o !== 'version');
}

interface Case {
  command: string;
  /** Long option names the case shows to take effect. */
  options: string[];
  name: string;
  run: () => Promise<void>;
}

const CASES: Case[] = [
  {
    command: 'pack',
    options: ['image', 'category', 'pn', 'pf', 'build-id'],
    name: 'the identity names the default output',
    async run() {
      const image = await makeImage('hello');
      const r = await cli([
        'pack',
        '--image',
        image,
        '--category',
        'app-misc',
        '--pn',
        'hello',
        '--pf',
        'hello-1.0',
        '--build-id',
        '7',
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
      await fs.access(path.join(image, 'usr/lib/debug/.tarball/app-misc/hello/hello-1.0-7-debug.tar.xz'));
    },
  },
  {
    command: 'pack',
    options: ['out', 'json', 'block-size', 'remove-packed'],
    name: '--out, --json, --block-size, --remove-packed',
    async run() {
      const image = await makeImage('hello');
      const out = path.join(await tmpdir('cli-options-pack'), 'x.tar.xz');
      const id = ['-D', image, '--category', 'app-misc', '--pn', 'hello', '--pf', 'hello-1.0', '--build-id', '1'];
      const r = await cli(['pack', ...id, '-o', out, '--json', '--block-size', '4KiB', '--remove-packed']);
      expect(r.exitCode, r.stderr).toBe(0);
      const result = json(r.stdout);
      expect(result.tarball).toBe(out);
      expect(result.blocks).toBeGreaterThan(2);
      expect(result.removedFiles).toBeGreaterThan(0);
    },
  },
  {
    command: 'pack',
    options: ['preset', 'threads', 'source-block-size', 'large-block-size', 'encoder'],
    name: 'bad values name the option that carried them',
    async run() {
      const image = await makeImage('hello');
      const out = path.join(await tmpdir('cli-options-pack'), 'x.tar.xz');
      const id = ['--image', image, '--category', 'app-misc', '--pn', 'hello', '--pf', 'hello-1.0', '--build-id', '1'];
      for (const [args, message, env] of [
        [['--preset', '12'], "invalid preset '12'"],
        [['-T', '0'], "invalid thread count '0'"],
        [['--source-block-size', 'x'], '--source-block-size x'],
        [['--large-block-size', 'x'], '--large-block-size x'],
        [['--encoder', 'xz'], 'encoder xz requested', NO_XZ_PATH],
      ] as [string[], string, NodeJS.ProcessEnv?][]) {
        const r = await cli(['pack', ...id, '-o', out, ...args], env);
        expect(r.exitCode, args.join(' ')).toBe(2);
        expect(r.stderr).toContain(message);
      }
      // The same encoder choice with xz(1) present packs, and lzma-native needs no xz(1).
      const native = await cli(['pack', ...id, '-o', out, '--encoder', 'lzma-native'], NO_XZ_PATH);
      if (LZMA_NATIVE_OFF) expect([native.exitCode, native.stderr]).toEqual([1, expect.stringMatching(NO_XZ_BACKEND)]);
      else expect(native.exitCode).toBe(0);
    },
  },
  {
    command: 'list',
    options: ['json'],
    name: 'list --json',
    async run() {
      const { tree: t } = await tree(['1']);
      const r = await cli(['list', tarballPath(t, { ...HELLO, buildNumber: '1' }), '--json']);
      expect(json(r.stdout)).toMatchObject({ oneSmallBlock: true, members: expect.any(Number) });
    },
  },
  {
    command: 'extract',
    options: ['build-id', 'kind', 'path', 'output', 'verbose'],
    name: 'extract by path to a file, by build-id to stdout, of the other kind',
    async run() {
      const { image, tree: t } = await tree(['1']);
      const tarball = tarballPath(t, { ...HELLO, buildNumber: '1' });
      const member = 'usr/src/debug/app-misc/hello-1.0/hello.c';
      const out = path.join(await tmpdir('cli-options-extract'), 'out');
      const r = await cli(['extract', tarball, '--path', member, '-o', out, '-v']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain('bytes decoded');
      expect(await fs.readFile(out, 'utf8')).toBe(await fs.readFile(path.join(image, member), 'utf8'));
      const [{ path: debugFile, buildId }] = await buildIds(image);
      const byId = await execa(process.execPath, [CLI, 'extract', t, '--build-id', buildId!], {
        env: ENV,
        encoding: 'buffer',
      });
      expect(Buffer.from(byId.stdout).equals(await fs.readFile(path.join(image, debugFile!)))).toBe(true);
      const executable = await cli(['extract', t, '--build-id', buildId!, '--kind', 'executable']);
      expect(executable.exitCode).toBe(1);
      expect(executable.stderr).toContain('(executable): not found');
    },
  },
  {
    command: 'extract',
    options: ['timeout', 'retries'],
    name: 'extract from a file:// tree URL through its index; a dead server is retried, then exit 1',
    async run() {
      const { image, tree: t } = await tree(['1']);
      expect((await cli(['index', t])).exitCode).toBe(0);
      const [{ path: debugFile, buildId }] = await buildIds(image);
      const out = path.join(await tmpdir('cli-options-extract-url'), 'out');
      const r = await cli(['extract', `file://${t}/`, '--build-id', buildId!, '-o', out, '--timeout', '5']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect((await fs.readFile(out)).equals(await fs.readFile(path.join(image, debugFile!)))).toBe(true);
      const dead = await cli([
        'extract',
        'http://127.0.0.1:1/',
        '--build-id',
        buildId!,
        '--retries',
        '1',
        '--timeout',
        '2',
      ]);
      expect(dead.exitCode).toBe(1);
      expect(dead.stderr).toMatch(/gave up after 2 attempts/);
      const bad = await cli(['extract', 'http://127.0.0.1:1/', '--build-id', buildId!, '--retries', 'x']);
      expect(bad.exitCode).toBe(2);
    },
  },
  {
    command: 'from-binpkg',
    options: ['index', 'index-fragment'],
    name: 'from-binpkg --index indexes what it wrote; --index-fragment writes a fragment',
    async run() {
      const image = await makeImage('hello');
      const dir = await tmpdir('cli-options-binpkg-index');
      const gpkg = await makeGpkg(image, path.join(dir, 'hello-1.0-1.gpkg.tar'), { ...HELLO, buildNumber: '1' });
      const t = path.join(dir, 'tree');
      const fragment = path.join(dir, 'f.jsonl');
      const r = await cli(['from-binpkg', gpkg, '--out', t, '--index', '--index-fragment', fragment, '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(json<{ index: { tarballs: number } }>(r.stdout).index.tarballs).toBe(1);
      await fs.access(path.join(t, '.packdebug-index/manifest.json'));
      expect((await fs.readFile(fragment, 'utf8')).split('\n').filter(Boolean)).toHaveLength(2);
    },
  },
  {
    command: 'serve',
    options: ['listen', 'cache', 'cache-size', 'upstream', 'rescan', 'timeout', 'retries'],
    name: 'serve listens where told, caches where told, asks the upstream; bad values are usage errors',
    async run() {
      const { image, tree: t } = await tree(['1']);
      const cache = await tmpdir('cli-options-serve');
      const args = ['serve', t, '--listen', '127.0.0.1:0', '--cache', cache, '--cache-size', '64MiB'];
      const more = ['--upstream', 'http://127.0.0.1:1', '--rescan', '0', '--timeout', '2', '--retries', '0'];
      const child = execa(process.execPath, [CLI, ...args, ...more], { env: ENV, reject: false });
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      try {
        let url: string | undefined;
        for (let i = 0; i < 200 && !url; i++) {
          url = /on (http:\/\/\S+)/.exec(err)?.[1];
          if (!url) await new Promise((r) => setTimeout(r, 50));
        }
        expect(url, err).toBeDefined();
        const [{ path: debugFile, buildId }] = await buildIds(image);
        const res = await fetch(`${url}/buildid/${buildId}/debuginfo`);
        expect(Buffer.from(await res.arrayBuffer()).equals(await fs.readFile(path.join(image, debugFile!)))).toBe(true);
        expect((await fetch(`${url}/buildid/${'ab'.repeat(20)}/debuginfo`)).status).toBe(404);
        const metrics = await (await fetch(`${url}/metrics`)).text();
        expect(metrics).toMatch(/packdebug_serve_source_requests_total\{source="http:\/\/127\.0\.0\.1:1"\} [1-9]/);
        expect((await execa('find', [cache, '-name', '*.data'])).stdout).not.toBe('');
      } finally {
        child.kill('SIGTERM');
        expect((await child).exitCode).toBe(0);
      }
      expect((await cli(['serve', t, '--cache-size', 'lots'])).exitCode).toBe(2);
      expect((await cli(['serve', t, '--listen', 'nowhere'])).exitCode).toBe(2);
    },
  },
  {
    command: 'core',
    options: ['source', 'server', 'json', 'fetch', 'cache', 'timeout', 'retries'],
    name: 'core of an executable: a tree indexed into --cache, a dead --server, --fetch; exit 1 for libc',
    async run() {
      const { image, tree: t } = await tree(['1']);
      const dir = await tmpdir('cli-options-core');
      const args = ['core', path.join(image, 'usr/bin/hello'), '--source', t, '--server', 'http://127.0.0.1:1'];
      const more = ['--json', '--fetch', path.join(dir, 'out'), '--cache', path.join(dir, 'cache')];
      const r = await cli([...args, ...more, '--timeout', '2', '--retries', '0']);
      expect(r.exitCode, r.stderr).toBe(1);
      const report = json<{ modules: { kind: string; status: string }[]; fetched: { files: number } }>(r.stdout);
      expect(report.modules[0]).toMatchObject({ kind: 'main', status: 'covered' });
      expect(report.fetched.files).toBeGreaterThan(1);
      expect(r.stderr).toContain('http://127.0.0.1:1');
      await fs.access(path.join(dir, 'cache/index'));
      expect((await cli(['core', path.join(image, 'usr/bin/hello'), '--server', 'ftp://x'])).exitCode).toBe(2);
    },
  },
  {
    command: 'index',
    options: ['only', 'rebuild', 'merge', 'fragment', 'fragment-only', 'json'],
    name: 'index: a fragment of one part, merged into the tree; --only and --rebuild',
    async run() {
      const { tree: t } = await tree(['1', '2']);
      const fragment = path.join(await tmpdir('cli-options-index'), 'f.jsonl');
      const part = await cli(['index', t, '--fragment', fragment, '--fragment-only', '--json']);
      expect(part.exitCode, part.stderr).toBe(0);
      expect(json<{ tarballs: number }>(part.stdout).tarballs).toBe(2);
      const merged = json<{ merged: number; read: number }>(
        (await cli(['index', t, '--merge', fragment, '--json'])).stdout,
      );
      expect(merged).toMatchObject({ merged: 2, read: 0 });
      const only = json<{ unchanged: number }>((await cli(['index', t, '--only', 'app-misc/hello', '--json'])).stdout);
      expect(only.unchanged).toBe(2);
      const again = json<{ read: number }>((await cli(['index', t, '--rebuild', '--json'])).stdout);
      expect(again.read).toBe(2);
      expect((await cli(['index', t, '--fragment-only'])).exitCode).toBe(2);
    },
  },
  {
    command: 'repack',
    options: ['dry-run', 'json', 'block-size', 'source-block-size', 'preset', 'threads', 'encoder'],
    name: 'repack --dry-run leaves the file, a repack takes the sizes and the encoder',
    async run() {
      const image = await makeImage('hello');
      const dir = await tmpdir('cli-options-repack');
      const tarball = await portageTarball(image, path.join(dir, 'hello-1.0-1-debug.tar.xz'));
      const before = await fs.readFile(tarball);
      const dry = await cli(['repack', tarball, '-n', '--json', '--block-size', '4KiB']);
      expect(json(dry.stdout)[0]).toMatchObject({ status: 'would-repack' });
      expect((await fs.readFile(tarball)).equals(before)).toBe(true);
      for (const [args, message, env] of [
        [['--source-block-size', 'x'], '--source-block-size x'],
        [['--preset', '12'], "invalid preset '12'"],
        [['--encoder', 'xz'], 'encoder xz requested', NO_XZ_PATH],
      ] as [string[], string, NodeJS.ProcessEnv?][]) {
        const r = await cli(['repack', tarball, '--block-size', '4KiB', ...args], env);
        expect(r.exitCode, args.join(' ')).not.toBe(0);
        expect(r.stderr).toContain(message);
      }
      const small = await cli(
        [
          'repack',
          tarball,
          '--json',
          '--block-size',
          '8KiB',
          '--source-block-size',
          '4KiB',
          '--preset',
          '0',
          '-T',
          '1',
          '--encoder',
          'lzma-native',
        ],
        // Without lzma-native (PACKDEBUG_LZMA_NATIVE=0), xz(1) stands in for it.
        LZMA_NATIVE_OFF ? {} : NO_XZ_PATH,
      );
      expect(small.exitCode, small.stderr).toBe(0);
      const [r] = json(small.stdout) as unknown as { status: string; blocksAfter: number }[];
      expect(r).toMatchObject({ status: 'repacked' });
      expect(r!.blocksAfter).toBeGreaterThan(2);
    },
  },
  {
    command: 'audit',
    options: ['pkgdir', 'vdb', 'deep', 'severity', 'json'],
    name: 'audit --json of a tree with an empty PKGDIR and VDB, shallow and deep, by severity',
    async run() {
      const { tree: t } = await tree(['1'], 4096);
      const empty = await tmpdir('cli-options-empty');
      const all = json<AuditJson>((await cli(['audit', t, '--json', '--pkgdir', empty, '--vdb', empty])).stdout);
      expect(all.summary).toMatchObject({ withBinpkg: 0, binpkgs: 0, installed: 0, deep: false });
      const shown = (a: AuditJson) => [...a.findings, ...a.tarballs.flatMap((r) => r.findings)];
      expect(shown(all).some((f) => f.severity !== 'error')).toBe(true);
      const errorsOnly = json<AuditJson>(
        (await cli(['audit', t, '--json', '--pkgdir', empty, '--severity', 'error'])).stdout,
      );
      expect(shown(errorsOnly).every((f) => f.severity === 'error')).toBe(true);
      const deep = json<AuditJson>((await cli(['audit', t, '--json', '--deep'])).stdout);
      expect(deep.summary.deep).toBe(true);
      expect(deep.deep).toBe(true);
      expect(all.deep).toBe(false);
    },
  },
  {
    command: 'prune',
    options: ['keep', 'dry-run', 'json', 'older-than', 'pkgdir', 'vdb'],
    name: 'prune: --keep, --dry-run; --older-than, --pkgdir and --vdb keep builds',
    async run() {
      const { image, tree: t } = await tree(['1', '2']);
      const old = tarballPath(t, { ...HELLO, buildNumber: '1' });
      const dry = json<PruneJson>((await cli(['prune', t, '--keep', '1', '--dry-run', '--json'])).stdout);
      expect(dry.deleted.map((d) => d.rel)).toEqual([path.relative(t, old)]);
      await fs.access(old);
      const recent = json<PruneJson>(
        (await cli(['prune', t, '--keep', '1', '-n', '--json', '--older-than', '1'])).stdout,
      );
      expect(recent.deleted).toEqual([]);
      expect(recent.kept.recent).toBe(1);
      const pkgdir = await tmpdir('cli-options-pkgdir');
      await makeGpkg(image, path.join(pkgdir, 'app-misc/hello/hello-1.0-1.gpkg.tar'), { ...HELLO, buildNumber: '1' });
      const binpkg = json<PruneJson>(
        (await cli(['prune', t, '--keep', '1', '-n', '--json', '--pkgdir', pkgdir])).stdout,
      );
      expect(binpkg.deleted).toEqual([]);
      expect(binpkg.kept.binpkg).toBe(1);
      const vdb = await tmpdir('cli-options-vdb');
      await fs.mkdir(path.join(vdb, 'app-misc/hello-1.0'), { recursive: true });
      await fs.writeFile(path.join(vdb, 'app-misc/hello-1.0/BUILD_ID'), '1\n');
      const installed = json<PruneJson>((await cli(['prune', t, '--keep', '1', '-n', '--json', '--vdb', vdb])).stdout);
      expect(installed.deleted).toEqual([]);
      expect(installed.kept.installed).toBe(1);
    },
  },
  {
    command: 'from-binpkg',
    options: ['out', 'json', 'jobs', 'threads', 'preset', 'block-size', 'tmpdir', 'encoder'],
    name: 'from-binpkg packs into --out with the given settings; bad values name their option',
    async run() {
      const image = await makeImage('hello');
      const dir = await tmpdir('cli-options-binpkg');
      const gpkg = await makeGpkg(image, path.join(dir, 'hello-1.0-1.gpkg.tar'), { ...HELLO, buildNumber: '1' });
      const t = path.join(dir, 'tree');
      const spill = path.join(dir, 'spill');
      await fs.mkdir(spill);
      const r = await cli([
        'from-binpkg',
        gpkg,
        '-o',
        t,
        '--json',
        '-j',
        '1',
        '-T',
        '1',
        '--preset',
        '0',
        '--block-size',
        '4KiB',
        '--tmpdir',
        spill,
        '--encoder',
        'lzma-native',
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
      const summary = json<{ results: { blocks: number }[] }>(r.stdout);
      expect(summary).toMatchObject({ tree: t, packed: 1 });
      expect(summary.results[0].blocks).toBeGreaterThan(2);
      await fs.access(tarballPath(t, { ...HELLO, buildNumber: '1' }));
      const missingTmp = await cli([
        'from-binpkg',
        gpkg,
        '-o',
        path.join(dir, 't2'),
        '--tmpdir',
        path.join(dir, 'none'),
      ]);
      expect(missingTmp.exitCode).not.toBe(0);
      expect(missingTmp.stderr).toContain(path.join(dir, 'none'));
    },
  },
  {
    command: 'from-binpkg',
    options: ['source-block-size', 'large-block-size'],
    name: 'from-binpkg: bad --jobs and Block sizes are usage errors naming the option',
    async run() {
      const dir = await tmpdir('cli-options-binpkg');
      for (const [args, message] of [
        [['--jobs', '0'], "invalid --jobs '0'"],
        [['--source-block-size', 'x'], '--source-block-size x'],
        [['--large-block-size', 'x'], '--large-block-size x'],
      ] as [string[], string][]) {
        const r = await cli(['from-binpkg', dir, '-o', path.join(dir, 'tree'), ...args]);
        expect(r.exitCode, args.join(' ')).toBe(2);
        expect(r.stderr).toContain(message);
      }
    },
  },
  {
    command: 'from-binpkg',
    options: ['max-spill', 'max-spill-ratio', 'decompress-memory', 'max-metadata'],
    name: 'from-binpkg caps: each one small enough fails the binpkg naming its option; bad values are usage errors',
    async run() {
      const image = await makeImage('hello');
      const dir = await tmpdir('cli-options-caps');
      const gpkg = await makeGpkg(image, path.join(dir, 'hello-1.0-1.gpkg.tar'), { ...HELLO, buildNumber: '1' });
      // The caps are floors as well: a ratio of 0.001 still allows 256 MiB, so it packs.
      const packs = await cli(['from-binpkg', gpkg, '-o', path.join(dir, 'ratio'), '--max-spill-ratio', '0.001']);
      expect(packs.exitCode, packs.stderr).toBe(0);
      for (const [option, value] of [
        ['--max-spill', '1KiB'],
        ['--max-metadata', '16'],
      ]) {
        const r = await cli(['from-binpkg', gpkg, '-o', path.join(dir, option.slice(2)), option, value]);
        expect(r.exitCode, `${option} ${value}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toContain(option);
      }
      for (const option of ['--max-spill', '--max-spill-ratio', '--decompress-memory', '--max-metadata']) {
        const r = await cli(['from-binpkg', gpkg, '-o', path.join(dir, 'bad'), option, '0']);
        expect(r.exitCode, `${option} 0: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(option);
      }
    },
  },
  {
    command: 'verify',
    options: ['body-timeout'],
    name: 'verify --deep --body-timeout gives up on a body that trickles',
    async run() {
      const { tree: t } = await tree(['1']);
      const server = await listen(async (_mode, _buildId, res) => {
        res.writeHead(200, { 'content-length': '100000' });
        res.write('x'); // then nothing: the body never brings its 1 KiB
      });
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/trickle`;
        const args = ['verify', t, '--server', url, '--deep', '--retries', '0', '--json'];
        const started = Date.now();
        const r = await cli([...args, '--body-timeout', '0.5']);
        expect(r.exitCode, r.stderr).toBe(1);
        expect(JSON.stringify(json(r.stdout))).toContain('body too slow');
        expect(Date.now() - started).toBeLessThan(60_000); // not the 600 s deadline
        const bad = await cli([...args, '--body-timeout', '0']);
        expect(bad.exitCode).toBe(2);
        expect(bad.stderr).toContain('body timeout');
      } finally {
        server.closeAllConnections();
        server.close();
      }
    },
  },
  {
    command: 'verify',
    options: ['server', 'jobs', 'deep', 'every-server', 'retries', 'deadline', 'attempt-timeout', 'json'],
    name: 'verify against scripted servers',
    async run() {
      const { image, tree: t } = await tree(['1']);
      const files = new Map((await buildIds(image)).map((b) => [b.buildId, path.join(image, b.path)]));
      expect(files.size).toBeGreaterThan(1);
      let inFlight = 0;
      let maxInFlight = 0;
      const requests = new Map<string, number>();
      // One server, several behaviours, chosen by the first path component.
      const server = await listen(async (mode, buildId, res) => {
        requests.set(mode, (requests.get(mode) ?? 0) + 1);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          if (mode === 'hang') return; // never answers
          await new Promise((r) => setTimeout(r, 100));
          const file = files.get(buildId);
          if (mode === 'none' || !file) res.writeHead(404).end();
          else if (mode === 'busy') res.writeHead(503).end();
          else if (mode === 'wrong') res.writeHead(200).end('not the file');
          else res.writeHead(200).end(await fs.readFile(file));
        } finally {
          inFlight--;
        }
      });
      try {
        const url = (mode: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/${mode}`;
        const verify = async (args: string[]) => {
          const r = await cli(['verify', t, '--json', ...args], { DEBUGINFOD_URLS: '' });
          return {
            status: r.exitCode,
            report: json<{ servers: { mismatched: unknown[]; errors: unknown[] }[] }>(r.stdout),
            stderr: r.stderr,
          };
        };
        // --jobs: requests in flight at once.
        maxInFlight = 0;
        expect((await verify(['--server', url('ok'), '--jobs', '1'])).status).toBe(0);
        expect(maxInFlight).toBe(1);
        maxInFlight = 0;
        expect((await verify(['-s', url('ok'), '-j', '8'])).status).toBe(0);
        expect(maxInFlight).toBeGreaterThan(1);
        // --every-server: one server that serves is enough, unless every one must.
        expect((await verify(['-s', url('ok'), '-s', url('none')])).status).toBe(0);
        expect((await verify(['-s', url('ok'), '-s', url('none'), '--every-server'])).status).toBe(1);
        // --deep: wrong bytes are a mismatch only when compared.
        expect((await verify(['-s', url('wrong')])).status).toBe(0);
        const deep = await verify(['-s', url('wrong'), '--deep']);
        expect(deep.status).toBe(1);
        expect(deep.report.servers[0].mismatched.length).toBe(files.size);
        // --retries 0: one request per artifact.
        requests.delete('busy');
        const busy = await verify(['-s', url('busy'), '--retries', '0']);
        expect(busy.report.servers[0].errors.length).toBe(files.size);
        expect(requests.get('busy')).toBe(files.size);
        // --attempt-timeout and --deadline end a wait for a server that never answers.
        const started = Date.now();
        const hung = await verify(['-s', url('hang'), '--attempt-timeout', '1', '--retries', '0']);
        expect(hung.report.servers[0].errors.length).toBe(files.size);
        const deadline = await verify(['-s', url('hang'), '--deadline', '1']);
        expect(deadline.status).toBe(1);
        expect(Date.now() - started).toBeLessThan(30_000);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    },
  },
  {
    command: 'snippet',
    options: ['eprefix', 'url', 'port', 'json'],
    name: 'snippet options reach the text',
    async run() {
      const client = json((await cli(['snippet', 'client', '--url', 'http://binhost.example:8002', '--json'])).stdout);
      expect(client).toMatchObject({ kind: 'client', text: expect.stringContaining('http://binhost.example:8002') });
      expect((await cli(['snippet', 'debuginfod-systemd', '--port', '9123'])).stdout).toContain('9123');
      expect((await cli(['snippet', 'make.conf', '--eprefix', '/opt/gentoo'])).stdout).toContain('/opt/gentoo');
    },
  },
  {
    command: 'doctor',
    options: ['json'],
    name: 'doctor --json: exit 0 here; 1 without xz(1) and lzma-native, naming what cannot work',
    async run() {
      const r = await cli(['doctor', '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const report = json<{ node: { version: string }; ok: boolean }>(r.stdout);
      expect(report).toMatchObject({ node: { version: process.version }, ok: true });
      const bare = await cli(['doctor'], { ...NO_XZ_PATH, PACKDEBUG_LZMA_NATIVE: '0' });
      expect(bare.exitCode).toBe(1);
      expect(bare.stdout).toMatch(/^missing xz: pack, hook, .* cannot work$/m);
    },
  },
  {
    command: 'demo',
    options: ['keep'],
    name: 'demo --keep keeps its directory',
    async run() {
      const r = await cli(['demo', '--keep']);
      expect(r.exitCode, r.stderr).toBe(0);
      const kept = /^kept (.+)$/m.exec(r.stdout)?.[1];
      expect(kept).toBeDefined();
      await fs.access(kept!);
      await fs.rm(kept!, { recursive: true, force: true });
    },
  },
];

async function listen(
  handle: (mode: string, buildId: string, res: import('node:http').ServerResponse) => Promise<void>,
): Promise<Server> {
  const server = createServer((req, res) => {
    // /MODE/buildid/ID/debuginfo
    const [, mode, , buildId] = (req.url ?? '').split('/');
    void handle(mode ?? '', buildId ?? '', res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const COMMANDS = [
  'pack',
  'list',
  'extract',
  'repack',
  'audit',
  'prune',
  'from-binpkg',
  'verify',
  'index',
  'serve',
  'core',
  'hook',
  'snippet',
  'demo',
  'doctor',
];

describe('every option of every command, through the CLI', () => {
  for (const c of CASES) it(`${c.command}: ${c.name}`, c.run, 120_000);

  it('lists every option of every command (from --help) and finds each in a case above', async () => {
    const top = (await cli(['--help'])).stdout;
    const listed = [...top.matchAll(/^\s+packdebug ([\w-]+)/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...COMMANDS].sort());
    const missing: string[] = [];
    for (const command of COMMANDS) {
      const options = await helpOptions(command);
      if (command === 'pack') expect(options).toContain('large-block-size'); // the listing works
      const exercised = new Set(CASES.filter((c) => c.command === command).flatMap((c) => c.options));
      for (const o of options) if (!exercised.has(o)) missing.push(`${command} --${o}`);
    }
    expect(missing).toEqual([]);
  });
});
