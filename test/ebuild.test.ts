/**
 * gentoo/app-portage/packdebug: the ebuild's src_install, run in bash with
 * the variables Portage sets and the helpers of test/helpers/ebuild-helpers.sh
 * (which install where Portage's do), lays out exactly what I16's layout
 * lists, for EPREFIX='' and in a Gentoo Prefix; and the README's Gentoo
 * section names those paths.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MINIMUM_NODE } from '../src/system/doctor.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const HELPERS = path.join(REPO, 'test/helpers/ebuild-helpers.sh');
const PN = 'packdebug';
const PV = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const P = `${PN}-${PV}`;
const EBUILD_DIR = path.join(REPO, 'gentoo/app-portage', PN);
const EBUILD = path.join(EBUILD_DIR, `${P}.ebuild`);
const HAS_BASH = requireTool('bash');

const SERVICES = ['packdebug-serve', 'debuginfod'];

/** The release tarball `npm run release` writes, built once for this file (release.mjs --out). */
let tarball: string | undefined;
async function releaseTarball(): Promise<string> {
  if (tarball === undefined) {
    const out = await tmpdir('ebuild-release');
    execFileSync(process.execPath, [path.join(REPO, 'release.mjs'), '--out', out], { stdio: 'ignore' });
    tarball = path.join(out, `${P}.tar.xz`);
  }
  return tarball;
}

/** The files of the unpacked release's `dir` (relative to it, recursively), sorted. */
function filesIn(top: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(top, dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (lstatSync(path.join(top, dir, r)).isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk('');
  return out.sort();
}

/**
 * What the ebuild installs, below ${ED}: regular files as `MODE path`,
 * symlinks as `path -> target` (I16-LAYOUT.md, "Installed by the ebuild").
 */
function expectedImage(release: string): string[] {
  const file = (mode: string, p: string) => `${mode} ${p}`;
  const top = `usr/lib/${PN}`;
  const services = filesIn(release, 'services').filter((f) => f.endsWith('.service'));
  expect(services.map((f) => f.replace(/\.service$/, ''))).toEqual([...SERVICES].sort());
  return [
    file('0755', `${top}/bin/packdebug`),
    ...filesIn(release, 'lib').map((c) => file('0644', `${top}/lib/${c}`)),
    file('0644', `${top}/fixtures/hello-image.tar`),
    `usr/bin/packdebug -> ../lib/${PN}/bin/packdebug`,
    file('0644', `usr/share/${PN}/packdebug.bashrc`),
    ...filesIn(release, 'man').map((m) => file('0644', `usr/share/man/man1/${m}`)),
    ...['README.md', ...filesIn(release, 'docs')].map((d) => file('0644', `usr/share/doc/${P}/${d}`)),
    ...SERVICES.map((s) => file('0644', `usr/lib/systemd/system/${s}.service`)),
    ...SERVICES.map((s) => file('0755', `etc/init.d/${s}`)),
    ...SERVICES.map((s) => file('0644', `etc/conf.d/${s}`)),
  ].sort();
}

/** Everything below `root` but directories, in expectedImage's notation; directories' modes apart. */
function listImage(root: string): { entries: string[]; dirModes: Set<string> } {
  const entries: string[] = [];
  const dirModes = new Set<string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const st = lstatSync(full);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      if (st.isDirectory()) {
        dirModes.add(mode);
        walk(full);
      } else if (st.isSymbolicLink()) entries.push(`${rel} -> ${readlinkSync(full)}`);
      else if (st.isFile()) entries.push(`${mode} ${rel}`);
      else entries.push(`? ${rel}`);
    }
  };
  walk(root);
  return { entries: entries.sort(), dirModes };
}

interface Build {
  D: string;
  ED: string;
  S: string;
  vars: Record<string, string>;
}

/** The directories and variables of a build of the ebuild with `eprefix`, its release unpacked in ${S}. */
async function build(eprefix: string): Promise<Build> {
  const base = await tmpdir('ebuild');
  const WORKDIR = path.join(base, 'work');
  const S = path.join(WORKDIR, P);
  const D = path.join(base, 'image');
  const ED = `${D}${eprefix}`;
  mkdirSync(WORKDIR);
  execFileSync('tar', ['-xJf', await releaseTarball(), '-C', WORKDIR]);
  mkdirSync(D);
  mkdirSync(path.join(base, 'temp'));
  const vars = {
    EPREFIX: eprefix,
    ROOT: '',
    EROOT: eprefix,
    D,
    ED,
    S,
    WORKDIR,
    T: path.join(base, 'temp'),
    FILESDIR: path.join(EBUILD_DIR, 'files'),
    CATEGORY: 'app-portage',
    P,
    PN,
    PV,
    PR: 'r0',
    PVR: PV,
    PF: P,
    SLOT: '0',
    REPLACING_VERSIONS: '',
  };
  return { D, ED, S, vars };
}

/** Runs `phase` of the ebuild as Portage would: helpers defined, the ebuild sourced, in ${S}. */
function runPhase(b: Build, phase: string, ebuild = EBUILD): string {
  const script = `source "$HELPERS" && source "$EBUILD" && cd "$S" && ${phase}`;
  return execFileSync('bash', ['--norc', '--noprofile', '-c', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HELPERS, EBUILD: ebuild, ...b.vars },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe.skipIf(!HAS_BASH)(`${P}.ebuild`, () => {
  it('is bash (bash -n) and declares what an overlay needs', () => {
    execFileSync('bash', ['-n', EBUILD]);
    const text = readFileSync(EBUILD, 'utf8');
    expect(text).toMatch(/^EAPI=8$/m);
    expect(text).toMatch(/^inherit optfeature systemd$/m);
    expect(text).toMatch(/^KEYWORDS="~amd64 ~arm64 ~ppc64 ~riscv ~x86"$/m);
    expect(text).toContain(`>=net-libs/nodejs-${MINIMUM_NODE}`);
    expect(text).toContain('app-arch/xz-utils');
    expect(text).toContain('/releases/download/v${PV}/${P}.tar.xz');
    expect(text).not.toMatch(/^src_compile\(\)/m);
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${MINIMUM_NODE}`);
    expect(readFileSync(path.join(EBUILD_DIR, 'metadata.xml'), 'utf8')).toContain(
      '<remote-id type="github">packdebug/packdebug</remote-id>',
    );
  });

  for (const eprefix of ['', '/opt/gentoo']) {
    it(`src_install lays out exactly the listed files (EPREFIX='${eprefix}')`, async () => {
      const b = await build(eprefix);
      runPhase(b, 'src_install');
      // Nothing outside ${ED}.
      const outside = listImage(b.D).entries.filter((e) => !e.replace(/^\d+ /, '').startsWith(eprefix.slice(1)));
      expect(outside).toEqual([]);
      const { entries, dirModes } = listImage(b.ED);
      expect(entries).toEqual(expectedImage(b.S));
      expect([...dirModes]).toEqual(['0755']);
      // /usr/bin/packdebug is the launcher, through a link that stays inside the image.
      const launcher = path.join(b.ED, `usr/lib/${PN}/bin/packdebug`);
      expect(realpathSync(path.join(b.ED, 'usr/bin/packdebug'))).toBe(launcher);
      // The installed command runs (it reads its version from the release beside it).
      const ran = execFileSync(path.join(b.ED, 'usr/bin/packdebug'), ['--version'], {
        encoding: 'utf8',
        env: { PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` },
      });
      expect(ran.trim()).toMatch(new RegExp(`^packdebug ${PV.replace(/\./g, '\\.')} \\(node v`));
    });
  }

  it('pkg_postinst names the optional debuginfod and the bashrc line, with EPREFIX', async () => {
    const b = await build('/opt/gentoo');
    const out = runPhase(b, 'pkg_postinst');
    expect(out).toMatch(/^optfeature: .*debuginfod.*: dev-libs\/elfutils\[debuginfod\]$/m);
    expect(out).toContain('elog:   source /opt/gentoo/usr/share/packdebug/packdebug.bashrc');
    expect(out).toContain('/opt/gentoo/etc/portage/bashrc');
    // An upgrade says nothing but the optional feature.
    const upgrade = runPhase({ ...b, vars: { ...b.vars, REPLACING_VERSIONS: '0.0.9' } }, 'pkg_postinst');
    expect(upgrade).not.toContain('elog:');
  });
});

describe.skipIf(!HAS_BASH)('the helpers of test/helpers/ebuild-helpers.sh install where Portage does', () => {
  /** Runs `script` with the helpers, ${S} as the current directory holding `files`, and lists ${ED}. */
  async function helpers(script: string, files: string[] = []): Promise<string[]> {
    const b = await build('/ep');
    for (const f of files) {
      mkdirSync(path.dirname(path.join(b.S, f)), { recursive: true });
      writeFileSync(path.join(b.S, f), 'x\n');
    }
    const empty = path.join(b.S, '..', 'empty.ebuild');
    writeFileSync(empty, 'EAPI=8\n');
    runPhase(b, script, empty);
    return listImage(b.ED).entries;
  }

  it('dosym -r makes the target relative to the link directory, whatever EPREFIX is', async () => {
    const links = await helpers(
      'dosym -r /usr/lib/a/b /usr/bin/b; dosym -r /usr/bin/x /usr/bin/y; dosym -r /etc/../usr//lib/./a /usr/share/a',
    );
    expect(links).toEqual(['usr/bin/b -> ../lib/a/b', 'usr/bin/y -> x', 'usr/share/a -> ../lib/a']);
  });

  it('doman sorts by section and language, dodoc and newinitd/newconfd take their places and modes', async () => {
    const got = await helpers(
      'doman x.1 y.8 z.de.1; dodoc README; newinitd rc svc; newconfd conf svc; systemd_newunit u a.service',
      ['x.1', 'y.8', 'z.de.1', 'README', 'rc', 'conf', 'u'],
    );
    expect(got).toEqual(
      [
        '0644 usr/share/man/man1/x.1',
        '0644 usr/share/man/man8/y.8',
        '0644 usr/share/man/de/man1/z.1',
        `0644 usr/share/doc/${P}/README`,
        '0755 etc/init.d/svc',
        '0644 etc/conf.d/svc',
        '0644 usr/lib/systemd/system/a.service',
      ].sort(),
    );
  });

  it('die on paths that already hold ${ED} or ${EPREFIX}, on missing files, on directories without -r', async () => {
    for (const script of ['insinto "${ED}/usr"; doins x', 'insinto /ep/usr; doins x', 'doins nothing', 'doins dir']) {
      await expect(helpers(script, ['x', 'dir/y'])).rejects.toThrow(/die: /);
    }
  });
});

describe("README's Gentoo section", () => {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = /^## Gentoo\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';

  /** `a/{b,c}/d` as `a/b/d` and `a/c/d`. */
  const expand = (p: string): string[] => {
    const m = /\{([^{}]*)\}/.exec(p);
    if (!m) return [p];
    return m[1]!.split(',').flatMap((alt) => expand(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
  };

  it('lists paths the ebuild installs, each matching an installed file', async () => {
    expect(section).not.toBe('');
    const rows = section.split('\n').filter((l) => l.startsWith('| `/'));
    const listed = rows.flatMap((row) => [...row.matchAll(/`(\/[^`]+)`/g)].flatMap((m) => expand(m[1]!)));
    expect(listed).toContain('/usr/bin/packdebug');
    expect(listed).toContain('/usr/share/packdebug/packdebug.bashrc');
    const release = (await build('')).S;
    const installed = expectedImage(release).map((e) => `/${e.replace(/^\d+ /, '').replace(/ -> .*$/, '')}`);
    // A listed path is a file, a directory (with or without a trailing /) or a glob (* within one name).
    const covers = (listedPath: string, file: string) => {
      const pattern = listedPath.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
      return new RegExp(`^${pattern}${listedPath.endsWith('/') ? '' : '(/|$)'}`).test(file);
    };
    for (const p of listed)
      expect(
        installed.some((f) => covers(p, f)),
        `${p} is not installed`,
      ).toBe(true);
    for (const f of installed)
      expect(
        listed.some((p) => covers(p, f)),
        `${f} is not in the table`,
      ).toBe(true);
  });

  it('sources the installed hook from /etc/portage/bashrc', () => {
    expect(section).toContain('source /usr/share/packdebug/packdebug.bashrc');
    expect(section).toContain(`ebuild ${P}.ebuild manifest`);
    expect(section).toContain('gentoo/app-portage/packdebug');
  });
});
