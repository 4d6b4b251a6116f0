/**
 * `packdebug doctor` and `packdebug --version`: what the report says of this
 * machine's real tools, and of PATHs and lzma-native states made up for the
 * test (an empty PATH, a PATH with xz alone, lzma-native made unloadable).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDoctor } from '../src/commands/doctor.js';
import {
  describeDoctor,
  doctorReport,
  findOnPath,
  nodeAtLeast,
  probeLzmaNative,
  toolVersion,
  type DoctorReport,
} from '../src/system/doctor.js';
import type { Installation } from '../src/system/installation.js';
import { memoryIO } from './helpers/io.js';
import { tmpdir } from './helpers/images.js';
import { requireTool, toolPath } from './helpers/tools.js';

const REPO = realpathSync(path.join(__dirname, '..'));
const CLI = path.join(REPO, 'dist/cli.js');
const HAS_XZ = requireTool('xz');
const tool = (report: DoctorReport, name: string) => report.tools.find((t) => t.tool === name)!;

/** A directory holding a link to each of `tools` only: a PATH with just those. */
async function pathWith(...tools: string[]): Promise<string> {
  const dir = await tmpdir('doctor-path');
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  for (const t of tools) symlinkSync(toolPath(t)!, path.join(bin, t));
  return bin;
}

/** lzma-native is on in this process (off in the suite's second run, PACKDEBUG_LZMA_NATIVE=0). */
const NATIVE_ON = process.env.PACKDEBUG_LZMA_NATIVE !== '0';

describe('packdebug doctor', () => {
  it(
    'reports this checkout, Node.js, lzma-native and the real tools with their versions',
    { skip: !HAS_XZ },
    async () => {
      const report = await doctorReport({ env: process.env });
      expect(report.packdebug).toMatchObject({ kind: 'checkout', top: REPO, version: '0.1.0' });
      expect(report.packdebug.hookPath).toBe(path.join(REPO, 'hooks/packdebug.bashrc'));
      expect(report.node).toEqual({ version: process.version, minimum: '20.19', ok: true });
      const xz = tool(report, 'xz');
      expect(xz.path).toBe(toolPath('xz'));
      expect(xz.version).toBe(execFileSync('xz', ['--version'], { encoding: 'utf8' }).split('\n')[0]);
      if (NATIVE_ON) {
        expect(report.lzmaNative).toMatchObject({ loaded: true, liblzma: expect.stringMatching(/^\d+\.\d+\.\d+/) });
        // With lzma-native loaded, xz is for some inputs only.
        expect(xz).toMatchObject({ need: 'conditional', commands: ['from-binpkg', 'audit', 'prune', 'core'] });
      } else {
        // The suite's second run (PACKDEBUG_LZMA_NATIVE=0): xz does all xz work.
        expect(report.lzmaNative.loaded).toBe(false);
        expect(xz.need).toBe('required');
      }
      expect(tool(report, 'gdb')).toMatchObject({ need: 'optional', commands: [] });
      expect(tool(report, 'debuginfod').purpose).toMatch(/debuginfod service/);
      expect(report.ok).toBe(true);
      expect(report.missing.every((m) => m.need !== 'required')).toBe(true);
      const text = describeDoctor(report);
      expect(text).toContain(`packdebug 0.1.0, a checkout (or npm package) at ${REPO}`);
      expect(text).toMatch(/^ok {7}xz {15}\/\S+\/xz: xz \(XZ Utils\) /m);
      expect(text).toMatch(/^ok: nothing a command always needs is missing$/m);
    },
  );

  it('without xz(1) and lzma-native every xz command is named, and the exit status is 1', async () => {
    const env = { PATH: '/nonexistent', PACKDEBUG_LZMA_NATIVE: '0' };
    const report = await doctorReport({ env });
    expect(report.lzmaNative).toEqual({ loaded: false, reason: 'PACKDEBUG_LZMA_NATIVE=0' });
    expect(report.ok).toBe(false);
    expect(report.missing[0]).toEqual({
      tool: 'xz',
      need: 'required',
      commands: expect.arrayContaining(['pack', 'hook', 'repack', 'extract', 'list', 'audit', 'verify', 'serve']),
    });
    expect(report.missing[0]!.commands).not.toContain('snippet');
    expect(report.missing.map((m) => m.tool).sort()).toEqual(report.tools.map((t) => t.tool).sort());
    const io = memoryIO(env);
    expect(await runDoctor({}, io)).toBe(1);
    expect(io.out()).toMatch(/^lzma-native: not loaded \(PACKDEBUG_LZMA_NATIVE=0\): xz\(1\) does all xz work$/m);
    expect(io.out()).toMatch(/^MISSING {2}xz\s*$/m);
    expect(io.out()).toMatch(/^missing xz: pack, hook, repack, from-binpkg, list, extract, .* cannot work$/m);
    expect(io.out()).not.toMatch(/^ok: /m);
  });

  it('xz(1) alone is enough: the decompressors are missing for some inputs only', { skip: !HAS_XZ }, async () => {
    const env = { PATH: await pathWith('xz'), PACKDEBUG_LZMA_NATIVE: '0' };
    const io = memoryIO(env);
    expect(await runDoctor({ json: true }, io)).toBe(0);
    const report = JSON.parse(io.out()) as DoctorReport;
    expect(tool(report, 'xz')).toMatchObject({ need: 'required', path: expect.stringMatching(/\/xz$/) });
    expect(report.missing.find((m) => m.tool === 'zstd')).toEqual({
      tool: 'zstd',
      need: 'conditional',
      commands: ['from-binpkg', 'audit', 'prune', 'core'],
    });
    expect(describeDoctor(report)).toMatch(
      /^missing zstd: from-binpkg, audit, prune, core fail on inputs that need it$/m,
    );
  });

  it('lzma-native loaded and no xz(1): still ok, xz then only for xz binpkgs and cores', async () => {
    const report = await doctorReport({ env: { PATH: '' }, lzmaNative: { loaded: true, liblzma: '5.2.3' } });
    expect(report.ok).toBe(true);
    expect(report.missing[0]).toMatchObject({ tool: 'xz', need: 'conditional' });
  });

  it('a Node.js older than 20.19 is not ok', async () => {
    const report = await doctorReport({ env: { PATH: '' }, lzmaNative: { loaded: true }, nodeVersion: 'v20.18.3' });
    expect(report.node.ok).toBe(false);
    expect(report.ok).toBe(false);
    expect(describeDoctor(report)).toContain('Node.js v20.18.3: TOO OLD (packdebug needs >= 20.19)');
  });

  it('says where an installed or released packdebug runs from, with its EPREFIX and hook', async () => {
    const where = async (installation: Installation) =>
      describeDoctor(await doctorReport({ env: { PATH: '' }, lzmaNative: { loaded: true }, installation })).split('\n');
    const installed = await where({
      kind: 'installed',
      top: '/opt/gentoo/usr/lib/packdebug',
      eprefix: '/opt/gentoo',
      hookPath: '/opt/gentoo/usr/share/packdebug/packdebug.bashrc',
      version: '0.1.0',
    });
    expect(installed.slice(0, 2)).toEqual([
      'packdebug 0.1.0, installed at /opt/gentoo/usr/lib/packdebug (EPREFIX=/opt/gentoo)',
      '  hook: /opt/gentoo/usr/share/packdebug/packdebug.bashrc',
    ]);
    const release = await where({ kind: 'release', top: '/srv/packdebug-0.1.0', version: '0.1.0' });
    expect(release[0]).toBe('packdebug 0.1.0, an unpacked release at /srv/packdebug-0.1.0');
  });

  it('compares Node.js versions numerically', () => {
    for (const [version, ok] of [
      ['v20.19.0', true],
      ['v20.19.6', true],
      ['20.20.2', true],
      ['v22.1.0', true],
      ['v20.18.3', false],
      ['v20.9.0', false],
      ['v18.20.0', false],
      ['vX', false],
    ] as const) {
      expect(nodeAtLeast(version), version).toBe(ok);
    }
  });

  it('finds tools on absolute PATH entries only, and reads versions from stdout or stderr', async () => {
    expect(findOnPath('sh', '.:relative:/nonexistent')).toBeUndefined();
    expect(findOnPath('sh', '/nonexistent:/bin:/usr/bin')).toMatch(/^\/(usr\/)?bin\/sh$/);
    if (toolPath('bzip2')) {
      // bzip2 prints its version on stderr.
      expect(await toolVersion(toolPath('bzip2')!, process.env)).toMatch(/^bzip2, .*Version \d/);
    }
    if (toolPath('zstd')) expect(await toolVersion(toolPath('zstd')!, process.env)).toMatch(/^Zstandard CLI/);
    expect(await toolVersion('/nonexistent/tool', process.env)).toBeUndefined();
  });

  it('lzma-native loads here unless PACKDEBUG_LZMA_NATIVE=0', () => {
    // The process loads it once, by its own environment: the suite's second run has it off.
    if (NATIVE_ON) expect(probeLzmaNative({})).toMatchObject({ loaded: true, version: expect.any(String) });
    else expect(probeLzmaNative({}).loaded).toBe(false);
    expect(probeLzmaNative({ PACKDEBUG_LZMA_NATIVE: '0' }).loaded).toBe(false);
  });
});

describe('packdebug --version', () => {
  it('is one line: the version and the Node.js that runs it', () => {
    const out = execFileSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
    expect(out).toBe(`packdebug 0.1.0 (node ${process.version})\n`);
  });
});
