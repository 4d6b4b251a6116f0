import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIO } from './helpers/io.js';
import { runSnippet } from '../src/commands/snippet.js';
import { PackdebugError } from '../src/errors.js';
import { renderSnippet, SNIPPET_KINDS, snippetPath } from '../src/portage/snippets.js';
import {
  locateInstallation,
  realFiles,
  runningInstallation,
  type Installation,
  type InstallationFiles,
} from '../src/system/installation.js';
import { tmpdir } from './helpers/images.js';
import { hasTool, requireTool } from './helpers/tools.js';

const HAS_BASH = requireTool('bash');
const EP = '/home/me/gentoo';

/** Runs `script` in bash with the snippet text in $SNIPPET. */
function bash(script: string, snippet: string): string {
  // --norc: bash reads ~/.bashrc when its stdin is a socket, as Node's pipes are.
  return execFileSync('bash', ['--norc', '--noprofile', '-c', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, SNIPPET: snippet },
  });
}

/** The NUL-separated arguments `script` prints with printf '%s\0', split. */
function shellWords(script: string): string[] {
  return execFileSync('sh', ['-c', script], { encoding: 'utf8' }).split('\0').slice(0, -1);
}

/** The argv systemd makes of an ExecStart= value that quotes whole words only. */
function unitArgv(unit: string, cacheDir = '/var/cache/debuginfod'): string[] {
  return shellWords(`CACHE_DIRECTORY=${cacheDir}\nprintf '%s\\0' ${execStart(unit)}`);
}

/** The argv start-stop-daemon gets from an OpenRC script: it evals $command_args. */
function openrcArgv(prelude: string, script: string): string[] {
  return shellWords(`RC_SVCNAME=debuginfod\n${prelude}\n${script}\neval printf "'%s\\0'" "$command" $command_args`);
}

/** systemd's ExecStart= with continuations joined (the test units quote whole words only). */
function execStart(unit: string): string {
  const m = /^ExecStart=((?:.*\\\n)*.*)$/m.exec(unit);
  if (!m) throw new Error('no ExecStart');
  return m[1]!.replace(/\\\n\s*/g, ' ');
}

/** debuginfod's own shell_escape() for the archive name it appends to a -Z command. */
function debuginfodEscape(s: string): string {
  return s.replace(/[^A-Za-z0-9/]/g, (c) => `\\${c}`);
}

function gpkgDecoder(args: string[]): string {
  const i = args.findIndex((a, k) => args[k - 1] === '-Z' && a.startsWith('.gpkg.tar='));
  expect(i).toBeGreaterThan(0);
  return args[i]!.slice('.gpkg.tar='.length);
}

/** A GPKG-shaped binpkg: outer tar holding PF-1/image.tar.xz with image/usr/bin/<name>. */
async function makeGpkg(dir: string, file: string, name: string): Promise<string> {
  const work = join(dir, 'gpkg-work');
  mkdirSync(join(work, 'image', 'usr', 'bin'), { recursive: true });
  execFileSync('cp', [file, join(work, 'image', 'usr', 'bin', name)]);
  mkdirSync(join(work, 'hello-1-1'));
  execFileSync('tar', ['-C', work, '-cJf', join(work, 'hello-1-1', 'image.tar.xz'), 'image']);
  writeFileSync(join(work, 'hello-1-1', 'metadata.tar.xz'), '');
  const out = join(dir, 'hello-1-1.gpkg.tar');
  execFileSync('tar', ['-C', work, '-cf', out, 'hello-1-1']);
  return out;
}

describe('snippet rendering', () => {
  it.each(SNIPPET_KINDS)('%s renders, starting with a comment naming its destination', (kind) => {
    const text = renderSnippet(kind);
    const first = text.split('\n')[kind.endsWith('-openrc') ? 1 : 0]!;
    expect(first).toMatch(/^# /);
    expect(first).toContain(snippetPath(kind));
    expect(text.endsWith('\n')).toBe(true);
  });

  it('make.conf is valid bash and yields the expected values', { skip: !HAS_BASH }, () => {
    const text = renderSnippet('make.conf');
    bash('bash --norc -n <<<"$SNIPPET"', text);
    const out = bash(
      `FEATURES=x; INSTALL_MASK=keep; source <(printf '%s' "$SNIPPET")
printf '%s\\n' "$FEATURES" "$PKG_INSTALL_MASK" "$UNINSTALL_IGNORE" "$COLLISION_IGNORE" "$INSTALL_MASK"`,
      text,
    );
    expect(out.split('\n').slice(0, 5)).toEqual([
      'x splitdebug installsources binpkg-multi-instance',
      ' /usr/lib/debug/ /usr/src/debug/',
      ' /usr/lib/debug/.tarball/*',
      ' /usr/lib/debug/.tarball',
      'keep', // INSTALL_MASK stays commented out
    ]);
    expect(text).toContain('#INSTALL_MASK="${INSTALL_MASK} /usr/lib/debug/ /usr/src/debug/ -/usr/lib/debug/.tarball"');
    expect(text).toMatch(/-ggdb3/);
    expect(text).toMatch(/build-id/);
    expect(text).toMatch(/FEATURES=packdebug/);
  });

  it('bashrc sources the hook when readable and warns otherwise', { skip: !HAS_BASH }, async () => {
    const root = await tmpdir('snippet-bashrc');
    const text = renderSnippet('bashrc', { eprefix: root });
    bash('bash --norc -n <<<"$SNIPPET"', text);
    const run = () => bash(`ewarn() { echo "WARN $*"; }\nsource <(printf '%s' "$SNIPPET")`, text);
    expect(run()).toMatch(/^WARN packdebug: .* is not readable/);
    mkdirSync(join(root, 'usr/share/packdebug'), { recursive: true });
    writeFileSync(join(root, 'usr/share/packdebug/packdebug.bashrc'), 'echo hook-sourced\n');
    expect(run()).toBe('hook-sourced\n');
    for (const v of ['PRESET', 'THREADS', 'BLOCK_SIZE', 'REMOVE_PACKED', 'STRICT', 'BIN']) {
      expect(text).toMatch(new RegExp(`^#PACKDEBUG_${v}=`, 'm'));
    }
    expect(text).toContain('<checkout>/hooks/packdebug.bashrc');
    // Users with both hooks of their own are told to call it (it never wraps them).
    expect(text).toMatch(/^#.*post_pkg_preinst\(\) \{.*packdebug_pre_pkg_preinst; \}$/m);
  });

  it('applies EPREFIX to every path Portage prefixes, and not to make.conf masks', () => {
    const prefixed = (text: string, p: string) => {
      expect(text).toContain(`${EP}${p}`);
      // Every occurrence of the path carries the prefix.
      expect(text.split(`${EP}${p}`).join('')).not.toContain(p);
    };
    const opts = { eprefix: `${EP}/` }; // trailing slash is normalized away
    const mk = renderSnippet('make.conf', opts);
    expect(mk.split('\n')[0]).toContain(`${EP}/etc/portage/make.conf`);
    expect(mk.split('\n').slice(1).join('\n')).not.toContain(EP);

    const rc = renderSnippet('bashrc', opts);
    expect(rc.split('\n')[0]).toContain(`${EP}/etc/portage/bashrc`);
    prefixed(rc, '/usr/share/packdebug/packdebug.bashrc');

    for (const kind of ['debuginfod-systemd', 'debuginfod-openrc'] as const) {
      const t = renderSnippet(kind, opts);
      prefixed(t, '/usr/lib/debug/.tarball');
      prefixed(t, '/var/cache/binpkgs');
      prefixed(t, '/usr/bin/debuginfod');
    }
    const openrc = renderSnippet('debuginfod-openrc', opts);
    expect(openrc.startsWith(`#!${EP}/sbin/openrc-run\n`)).toBe(true);
    prefixed(openrc, '/var/cache/debuginfod');
    const client = renderSnippet('client', opts);
    expect(client.split('\n')[0]).toContain(`${EP}/etc/env.d/99debuginfod`);
    prefixed(client, '/etc/gdb/gdbinit');
  });

  it('uses --port and --url', () => {
    expect(renderSnippet('client', { port: 9000 })).toContain('DEBUGINFOD_URLS="http://HOST:9000"');
    const c = renderSnippet('client', { url: 'https://debug.example.org  http://10.0.0.2:8002' });
    expect(c).toContain('DEBUGINFOD_URLS="https://debug.example.org http://10.0.0.2:8002"\n');
    expect(c).not.toContain('HOST');
    expect(renderSnippet('debuginfod-systemd', { port: 9000 })).toContain('--port=9000');
    expect(renderSnippet('debuginfod-openrc', { port: 9000 })).toContain(': "${DEBUGINFOD_PORT:=9000}"');
  });

  it('rejects bad options', () => {
    const bad = (o: Parameters<typeof renderSnippet>[1]) => {
      expect(() => renderSnippet('client', o)).toThrow(PackdebugError);
    };
    bad({ eprefix: 'relative/path' });
    bad({ eprefix: '/with space' });
    bad({ eprefix: '/a/../b' });
    bad({ eprefix: '/a//b' });
    bad({ port: 0 });
    bad({ port: 65536 });
    bad({ port: 80.5 });
    bad({ url: 'ftp://host' });
    bad({ url: 'not a url' });
    bad({ url: 'http://h/$(id)' });
    expect(renderSnippet('client', { eprefix: '/' })).toContain('/etc/env.d/99debuginfod');
  });
});

describe('debuginfod service snippets', () => {
  it('systemd unit passes systemd-analyze verify', { skip: !hasTool('systemd-analyze') }, async () => {
    // With EPREFIX pointing at a scratch root, ExecStart= names a binary that exists.
    const root = await tmpdir('snippet-unit');
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/debuginfod'), '#!/bin/sh\n');
    chmodSync(join(root, 'usr/bin/debuginfod'), 0o755);
    const unit = join(root, 'debuginfod.service');
    writeFileSync(unit, renderSnippet('debuginfod-systemd', { eprefix: root }));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('systemd unit keeps the hardening of the seed unit', () => {
    const unit = renderSnippet('debuginfod-systemd');
    for (const line of [
      'DynamicUser=true',
      'CacheDirectory=debuginfod',
      'ProtectSystem=strict',
      'PrivateUsers=on',
      'SystemCallFilter=@system-service',
      'UnsetEnvironment=DEBUGINFOD_URLS',
      'TemporaryFileSystem=/:ro',
      'NoExecPaths=/',
      'BindReadOnlyPaths=/usr/lib/debug/.tarball /var/cache/binpkgs',
    ]) {
      expect(unit).toContain(`\n${line}\n`);
    }
    expect(unit).toMatch(/^ExecPaths=\/usr\/bin\/debuginfod -\/usr\/bin\/bsdtar \/bin\/sh /m);
  });

  it('systemd ExecStart and OpenRC command_args give debuginfod the same arguments', () => {
    const unitArgs = unitArgv(renderSnippet('debuginfod-systemd'));
    const rcArgs = openrcArgv('', renderSnippet('debuginfod-openrc'));
    const expected = [
      '/usr/bin/debuginfod',
      '--listen-address=127.0.0.1',
      '--port=8002',
      '--database=/var/cache/debuginfod/db.sqlite3',
      '-Z',
      '.tar.xz',
      '/usr/lib/debug/.tarball',
      '-Z',
      '.gpkg.tar=(bsdtar -xf- -O "*/image.tar.*" | bsdtar --strip-components 1 -cf- @-)<',
      '/var/cache/binpkgs',
    ];
    expect(unitArgs).toEqual(expected);
    expect(rcArgs).toEqual(expected);
  });

  it('packdebug serve: systemd ExecStart and OpenRC command_args give the same arguments, which serve accepts', () => {
    const unitArgs = unitArgv(renderSnippet('serve-systemd'), '/var/cache/packdebug-serve');
    const script = renderSnippet('serve-openrc');
    execFileSync('sh', ['-n'], { input: script });
    const rcArgs = openrcArgv('', script);
    const expected = [
      '/usr/bin/packdebug',
      'serve',
      '/usr/lib/debug/.tarball',
      '--listen',
      '127.0.0.1:8002',
      '--cache',
      '/var/cache/packdebug-serve',
      '--cache-size',
      '4GiB',
    ];
    expect(unitArgs).toEqual(expected);
    expect(rcArgs).toEqual(expected);
    const overridden = openrcArgv(
      "PACKDEBUG_SERVE_LISTEN=0.0.0.0:9000\nPACKDEBUG_SERVE_OPTS='--upstream http://x'",
      script,
    );
    expect(overridden).toEqual(expect.arrayContaining(['0.0.0.0:9000', '--upstream', 'http://x']));
    expect(renderSnippet('serve-systemd')).toMatch(/^UnsetEnvironment=DEBUGINFOD_URLS$/m);
  });

  it('OpenRC script is valid sh and honours conf.d overrides', () => {
    const script = renderSnippet('debuginfod-openrc');
    execFileSync('sh', ['-n'], { input: script });
    const args = openrcArgv("DEBUGINFOD_LISTEN=0.0.0.0\nDEBUGINFOD_OPTS='-v -c 2'", script);
    expect(args.slice(1, 3)).toEqual(['--listen-address=0.0.0.0', '--port=8002']);
    expect(args).toContain('-v');
    expect(script).toMatch(/^\tunset DEBUGINFOD_URLS$/m);
  });

  const HAS_BSDTAR = hasTool('bsdtar') && hasTool('xz') && hasTool('tar');
  it('the gpkg -Z command extracts image/ of a binpkg, whatever the cwd holds', { skip: !HAS_BSDTAR }, async () => {
    const dir = await tmpdir('snippet-gpkg');
    const payload = join(dir, 'payload');
    writeFileSync(payload, 'not an ELF, just bytes\n');
    const gpkg = await makeGpkg(dir, payload, 'hello');
    const decoder = gpkgDecoder(unitArgv(renderSnippet('debuginfod-systemd')));
    // An unquoted */image.tar.* would be globbed by popen's shell into this name.
    const cwd = join(dir, 'cwd');
    mkdirSync(join(cwd, 'x'), { recursive: true });
    writeFileSync(join(cwd, 'x', 'image.tar.zz'), '');
    const tarStream = execFileSync('/bin/sh', ['-c', `${decoder} ${debuginfodEscape(gpkg)}`], { cwd });
    const members = execFileSync('bsdtar', ['-tf', '-'], { input: tarStream, encoding: 'utf8' }).split('\n');
    // bsdtar 3.6 ignores --strip-components when copying from @archive (the
    // image/ prefix stays); newer ones may honour it. Either way the file is there.
    const member = members.find((m) => m === 'usr/bin/hello' || m === 'image/usr/bin/hello');
    expect(member, members.join(' ')).toBeDefined();
    expect(execFileSync('bsdtar', ['-xOf', '-', member!], { input: tarStream, encoding: 'utf8' })).toBe(
      'not an ELF, just bytes\n',
    );
  });

  const HAS_DEBUGINFOD = HAS_BSDTAR && hasTool('debuginfod') && hasTool('gcc');
  it(
    'debuginfod serves an executable out of a binpkg through the snippet gpkg -Z',
    { skip: !HAS_DEBUGINFOD },
    async () => {
      const dir = await tmpdir('snippet-debuginfod');
      writeFileSync(join(dir, 'hello.c'), 'int main(void) { return 0; }\n');
      const exe = join(dir, 'hello');
      execFileSync('gcc', ['-Wl,--build-id=sha1', '-o', exe, join(dir, 'hello.c')]);
      const note = execFileSync('readelf', ['-n', exe], { encoding: 'utf8' });
      const buildId = /Build ID: ([0-9a-f]+)/.exec(note)![1]!;
      const binpkgs = join(dir, 'binpkgs', 'app-misc');
      mkdirSync(binpkgs, { recursive: true });
      await makeGpkg(binpkgs, exe, 'hello');

      const port = String(await freePort());
      const args = unitArgv(renderSnippet('debuginfod-systemd', { port: Number(port) }));
      expect(args).toContain(`--port=${port}`);
      const child = spawn(
        'debuginfod',
        // 0.188 has no --listen-address; scan once, never groom.
        [
          '-p',
          port,
          '-d',
          join(dir, 'db.sqlite3'),
          '-t0',
          '-g0',
          '-Z',
          `.gpkg.tar=${gpkgDecoder(args)}`,
          join(dir, 'binpkgs'),
        ],
        { stdio: 'ignore', env: { PATH: process.env.PATH } },
      );
      try {
        const base = `http://127.0.0.1:${port}`;
        const deadline = Date.now() + 60_000;
        for (;;) {
          const metrics = await fetch(`${base}/metrics`)
            .then((r) => r.text())
            .catch(() => '');
          if (/^found_executable_total\{[^}]*\} [1-9]/m.test(metrics)) break;
          if (Date.now() > deadline) throw new Error(`debuginfod did not scan the binpkg:\n${metrics}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const res = await fetch(`${base}/buildid/${buildId}/executable`);
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(execFileSync('cat', [exe]))).toBe(true);
      } finally {
        child.kill('SIGTERM');
      }
    },
  );
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('runSnippet', () => {
  it('prints the text and returns 0', async () => {
    const io = memoryIO();
    expect(await runSnippet({ kind: 'client', port: 8003 }, io)).toBe(0);
    expect(io.out()).toBe(renderSnippet('client', { port: 8003 }));
  });

  it('--json prints kind, path and text', async () => {
    const io = memoryIO();
    await runSnippet({ kind: 'bashrc', eprefix: EP, json: true }, io);
    expect(JSON.parse(io.out())).toEqual({
      kind: 'bashrc',
      path: `${EP}/etc/portage/bashrc`,
      text: renderSnippet('bashrc', { eprefix: EP }),
    });
  });

  it('an unknown kind is a usage error listing the kinds', async () => {
    const io = memoryIO();
    const err = await runSnippet({ kind: 'nginx' }, io).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackdebugError);
    expect((err as PackdebugError).code).toBe('E_USAGE');
    for (const k of SNIPPET_KINDS) expect((err as Error).message).toContain(k);
    expect(io.out()).toBe('');
  });

  it('bad --eprefix and --port are usage errors and print nothing', async () => {
    for (const args of [{ eprefix: 'gentoo' }, { port: Number.NaN }, { port: 70000 }]) {
      const io = memoryIO();
      const err = await runSnippet({ kind: 'make.conf', ...args }, io).catch((e: unknown) => e);
      expect((err as PackdebugError).code).toBe('E_USAGE');
      expect(io.out()).toBe('');
    }
  });
});

/** A made-up file system: the files that exist, with the JSON of those that hold any. */
function fakeFiles(files: Record<string, unknown>): InstallationFiles {
  return { isFile: (f) => f in files, readJson: (f) => files[f] };
}

describe('the hook path of where packdebug runs from', () => {
  const bashrc = async (installation: Installation, args: { eprefix?: string } = {}) => {
    const io = memoryIO();
    expect(await runSnippet({ kind: 'bashrc', ...args }, io, installation)).toBe(0);
    return { out: io.out(), err: io.err() };
  };
  const sources = (hook: string) => `if [[ -r "${hook}" ]]; then source "${hook}"; `;

  it("installed: code under ${EPREFIX}/usr/lib/packdebug/lib/ is the ebuild's, with its EPREFIX", async () => {
    for (const eprefix of ['', '/opt/gentoo']) {
      const top = `${eprefix}/usr/lib/packdebug`;
      const files = fakeFiles({ [`${top}/lib/release.json`]: { version: '0.1.0', kind: 'release' } });
      const installed = locateInstallation(`${top}/lib/chunks/snippet-AB12.js`, files);
      expect(installed).toEqual({
        kind: 'installed',
        top,
        eprefix,
        hookPath: `${eprefix}/usr/share/packdebug/packdebug.bashrc`,
        version: '0.1.0',
      });
      expect(locateInstallation(`${top}/lib/cli.js`, files)).toEqual(installed);
      const { out } = await bashrc(installed);
      expect(out).toContain(sources(`${eprefix}/usr/share/packdebug/packdebug.bashrc`));
      expect(out).toContain(`append to ${eprefix}/etc/portage/bashrc`);
      // Every other snippet gets the EPREFIX too.
      const io = memoryIO();
      await runSnippet({ kind: 'make.conf' }, io, installed);
      expect(io.out()).toBe(renderSnippet('make.conf', { eprefix }));
    }
  });

  it('an unpacked release: <top>/hooks/packdebug.bashrc beside the lib/ with release.json', async () => {
    const top = '/home/me/packdebug-0.1.0';
    const files = fakeFiles({ [`${top}/lib/release.json`]: { version: '0.1.0', kind: 'release' } });
    for (const module of [`${top}/lib/cli.js`, `${top}/lib/chunks/snippet-AB12.js`]) {
      expect(locateInstallation(module, files)).toEqual({
        kind: 'release',
        top,
        hookPath: `${top}/hooks/packdebug.bashrc`,
        version: '0.1.0',
      });
    }
    const { out } = await bashrc(locateInstallation(`${top}/lib/cli.js`, files));
    expect(out).toContain(sources(`${top}/hooks/packdebug.bashrc`));
    expect(out).toContain('append to /etc/portage/bashrc');
    // A release.json that is not a release's, or not beside the code, is no release.
    const stray = fakeFiles({ [`${top}/lib/release.json`]: { version: '0.1.0' } });
    expect(locateInstallation(`${top}/lib/cli.js`, stray).kind).toBe('unknown');
    expect(locateInstallation(`${top}/other/cli.js`, files).kind).toBe('unknown');
  });

  it('a checkout: <repo>/hooks/packdebug.bashrc, for src/ (tests), dist/ and its chunks', async () => {
    const repo = '/src/packdebug';
    const files = fakeFiles({
      [`${repo}/package.json`]: { name: 'packdebug', version: '0.1.0' },
      [`${repo}/hooks/packdebug.bashrc`]: undefined,
    });
    for (const module of ['src/system/installation.ts', 'dist/cli.js', 'dist/chunks/snippet-AB12.js']) {
      expect(locateInstallation(`${repo}/${module}`, files)).toEqual({
        kind: 'checkout',
        top: repo,
        hookPath: `${repo}/hooks/packdebug.bashrc`,
        version: '0.1.0',
      });
    }
    expect(
      locateInstallation(`${repo}/dist/cli.js`, fakeFiles({ [`${repo}/package.json`]: { name: 'other' } })).kind,
    ).toBe('unknown');
    const { out } = await bashrc(locateInstallation(`${repo}/dist/cli.js`, files));
    expect(out).toContain(sources(`${repo}/hooks/packdebug.bashrc`));
  });

  it('this checkout, found from the running code on the real file system', async () => {
    const repo = realpathSync(join(__dirname, '..'));
    expect(runningInstallation()).toMatchObject({ kind: 'checkout', top: repo });
    const io = memoryIO();
    await runSnippet({ kind: 'bashrc' }, io);
    expect(io.out()).toContain(sources(join(repo, 'hooks/packdebug.bashrc')));
  });

  it('a release unpacked on disk, and the installed layout under a Prefix, on the real file system', async () => {
    const root = realpathSync(await tmpdir('snippet-install'));
    const release = join(root, 'packdebug-0.1.0');
    const prefix = join(root, 'gentoo');
    for (const top of [release, join(prefix, 'usr/lib/packdebug')]) {
      mkdirSync(join(top, 'lib/chunks'), { recursive: true });
      writeFileSync(join(top, 'lib/release.json'), '{"version":"0.1.0","kind":"release"}\n');
    }
    expect(locateInstallation(join(release, 'lib/chunks/x.js'), realFiles)).toMatchObject({
      kind: 'release',
      hookPath: join(release, 'hooks/packdebug.bashrc'),
    });
    expect(locateInstallation(join(prefix, 'usr/lib/packdebug/lib/chunks/x.js'), realFiles)).toMatchObject({
      kind: 'installed',
      eprefix: prefix,
      version: '0.1.0',
    });
  });

  it('--eprefix means packdebug installed there: its hook, whatever runs', async () => {
    const checkout: Installation = { kind: 'checkout', top: '/src/pd', hookPath: '/src/pd/hooks/packdebug.bashrc' };
    const { out } = await bashrc(checkout, { eprefix: EP });
    expect(out).toBe(renderSnippet('bashrc', { eprefix: EP }));
  });

  it('a hook path a snippet cannot carry falls back to the installed one, saying so', async () => {
    const odd: Installation = { kind: 'checkout', top: '/my src', hookPath: '/my src/hooks/packdebug.bashrc' };
    const { out, err } = await bashrc(odd);
    expect(out).toBe(renderSnippet('bashrc'));
    expect(err).toContain('/my src/hooks/packdebug.bashrc');
  });
});
