/**
 * `packdebug doctor`: what this system offers packdebug and which commands
 * lack something. packdebug itself needs only Node.js and, unless the
 * optional lzma-native addon loads, xz(1); the other tools decompress inputs
 * some binhosts have (binpkgs, cores) or run beside packdebug (debuginfod).
 * Which command runs which tool is read off the code: xz in src/xz and
 * src/binpkg/compression.ts, the binpkg decompressors in
 * src/binpkg/compression.ts, the core decompressors in src/crash/input.ts.
 * No command runs debuginfod, debuginfod-find, gdb, eu-* or tar.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { LZMA_NATIVE_SWITCH, lzmaNativeDisabled, lzmaNativeLoad } from '../xz/lzma-native.js';
import path from 'node:path';
import { runningInstallation, type Installation } from './installation.js';

/** The oldest Node.js packdebug runs on (package.json's engines, the ebuild's RDEPEND). */
export const MINIMUM_NODE = '20.19';

/**
 * required: commands fail without it; conditional: some inputs need it;
 * optional: no command runs it (a service or a tool to use by hand).
 */
export type Need = 'required' | 'conditional' | 'optional';

export interface ToolCheck {
  tool: string;
  /** Where it is on PATH, when it is. */
  path?: string;
  /** The first line of its --version. */
  version?: string;
  need: Need;
  /** The commands that fail, or fail for some inputs, without it. */
  commands: string[];
  /** What it is for. */
  purpose: string;
}

export interface LzmaNativeCheck {
  loaded: boolean;
  /** lzma-native's package version and the liblzma it bundles. */
  version?: string;
  liblzma?: string;
  /** Why it did not load. */
  reason?: string;
}

export interface DoctorReport {
  packdebug: Installation;
  node: { version: string; minimum: string; ok: boolean };
  lzmaNative: LzmaNativeCheck;
  tools: ToolCheck[];
  /** Missing tools, the required ones first. */
  missing: { tool: string; need: Need; commands: string[] }[];
  /** Node.js is new enough and no required tool is missing. */
  ok: boolean;
}

/** Every command that compresses or decodes xz data: all but snippet, doctor and prune. */
const XZ_COMMANDS = [
  'pack',
  'hook',
  'repack',
  'from-binpkg',
  'list',
  'extract',
  'audit',
  'verify',
  'index',
  'serve',
  'core',
  'demo',
];
/** Commands that open binpkgs (audit and prune with --pkgdir, for binpkgs the Packages index does not cover). */
const BINPKG_COMMANDS = ['from-binpkg', 'audit', 'prune'];

interface ToolSpec {
  tool: string;
  need: (lzmaNative: boolean) => Need;
  commands: (lzmaNative: boolean) => string[];
  purpose: (lzmaNative: boolean) => string;
}

const fixed =
  <T>(value: T) =>
  () =>
    value;

const TOOLS: ToolSpec[] = [
  {
    tool: 'xz',
    need: (lzmaNative) => (lzmaNative ? 'conditional' : 'required'),
    commands: (lzmaNative) => (lzmaNative ? [...BINPKG_COMMANDS, 'core'] : XZ_COMMANDS),
    purpose: (lzmaNative) =>
      lzmaNative
        ? 'xz-compressed binpkgs and cores; elsewhere faster than lzma-native, and it decodes the Blocks ' +
          "whose filters lzma-native's liblzma lacks"
        : 'compresses and decodes every tarball (lzma-native is not loaded); xz binpkgs and cores',
  },
  {
    tool: 'zstd',
    need: fixed('conditional'),
    commands: fixed([...BINPKG_COMMANDS, 'core']),
    purpose: fixed("zstd binpkgs (Portage's default BINPKG_COMPRESS) and systemd-coredump's cores"),
  },
  {
    tool: 'lz4',
    need: fixed('conditional'),
    commands: fixed([...BINPKG_COMMANDS, 'core']),
    purpose: fixed('lz4 binpkgs and cores'),
  },
  {
    tool: 'bzip2',
    need: fixed('conditional'),
    commands: fixed(BINPKG_COMMANDS),
    purpose: fixed('bzip2 binpkgs (XPAK .tbz2)'),
  },
  { tool: 'gzip', need: fixed('conditional'), commands: fixed(BINPKG_COMMANDS), purpose: fixed('gzip binpkgs') },
  { tool: 'lzip', need: fixed('conditional'), commands: fixed(BINPKG_COMMANDS), purpose: fixed('lzip binpkgs') },
  {
    tool: 'debuginfod',
    need: fixed('optional'),
    commands: fixed([]),
    purpose: fixed(
      'the debuginfod service (snippet debuginfod-systemd, debuginfod-openrc); verify asks a running server',
    ),
  },
  {
    tool: 'bsdtar',
    need: fixed('optional'),
    commands: fixed([]),
    purpose: fixed("the debuginfod service's decoder of .gpkg.tar binpkgs (to serve executables)"),
  },
  {
    tool: 'debuginfod-find',
    need: fixed('optional'),
    commands: fixed([]),
    purpose: fixed('no command: a client to ask a server by hand'),
  },
  {
    tool: 'gdb',
    need: fixed('optional'),
    commands: fixed([]),
    purpose: fixed('no command: core --fetch prints the gdb command line to run'),
  },
  {
    tool: 'tar',
    need: fixed('optional'),
    commands: fixed([]),
    purpose: fixed('no command: packdebug reads and writes tar itself (GNU tar checks its tarballs)'),
  },
];

/** The executable `name` on `searchPath` (a PATH value), or undefined. */
export function findOnPath(name: string, searchPath: string | undefined): string | undefined {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue; // '' and relative entries would depend on the current directory
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The first non-empty line `file --version` prints (some tools write it to stderr), or undefined. */
export function toolVersion(file: string, env: NodeJS.ProcessEnv, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(file, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, LC_ALL: 'C' } });
    let output = '';
    const take = (chunk: Buffer) => {
      if (output.length < 4096) output += chunk.toString();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.on('close', () => {
      clearTimeout(timer);
      const line = output
        .split('\n')
        .map((l) => l.replace(/^\*+\s*|\s*\*+$/g, '').trim())
        .find((l) => l !== '');
      resolve(line);
    });
  });
}

/** Whether Node.js `version` (`v20.19.1` or `20.19.1`) is at least `minimum` (`20.19`). */
export function nodeAtLeast(version: string, minimum: string = MINIMUM_NODE): boolean {
  const have = version.replace(/^v/, '').split('.').map(Number);
  const want = minimum.split('.').map(Number);
  for (let i = 0; i < want.length; i++) {
    const h = have[i] ?? 0;
    if (Number.isNaN(h)) return false;
    if (h !== want[i]) return h > want[i]!;
  }
  return true;
}

/** Whether lzma-native loads, through the commands' own loader (src/xz/lzma-native.ts). */
export function probeLzmaNative(env: NodeJS.ProcessEnv): LzmaNativeCheck {
  if (lzmaNativeDisabled(env)) return { loaded: false, reason: `${LZMA_NATIVE_SWITCH}=0` };
  const { addon, error } = lzmaNativeLoad();
  if (!addon) return { loaded: false, reason: error ?? 'not installed' };
  return { loaded: true, version: addon.version, liblzma: addon.versionString() };
}

export interface DoctorOptions {
  /** Where PATH and PACKDEBUG_LZMA_NATIVE come from. */
  env: NodeJS.ProcessEnv;
  installation?: Installation;
  lzmaNative?: LzmaNativeCheck;
  nodeVersion?: string;
}

export async function doctorReport(options: DoctorOptions): Promise<DoctorReport> {
  const { env } = options;
  const installation = options.installation ?? runningInstallation();
  const lzmaNative = options.lzmaNative ?? probeLzmaNative(env);
  const nodeVersion = options.nodeVersion ?? process.version;
  const tools = await Promise.all(
    TOOLS.map(async (spec): Promise<ToolCheck> => {
      const file = findOnPath(spec.tool, env['PATH']);
      const check: ToolCheck = {
        tool: spec.tool,
        need: spec.need(lzmaNative.loaded),
        commands: spec.commands(lzmaNative.loaded),
        purpose: spec.purpose(lzmaNative.loaded),
      };
      if (file === undefined) return check;
      const version = await toolVersion(file, env);
      return { ...check, path: file, ...(version === undefined ? {} : { version }) };
    }),
  );
  const order: Need[] = ['required', 'conditional', 'optional'];
  const missing = tools
    .filter((t) => t.path === undefined)
    .sort((a, b) => order.indexOf(a.need) - order.indexOf(b.need))
    .map((t) => ({ tool: t.tool, need: t.need, commands: t.commands }));
  const node = { version: nodeVersion, minimum: MINIMUM_NODE, ok: nodeAtLeast(nodeVersion) };
  return {
    packdebug: installation,
    node,
    lzmaNative,
    tools,
    missing,
    ok: node.ok && !missing.some((m) => m.need === 'required'),
  };
}

const WHERE: Record<Installation['kind'], (i: Installation) => string> = {
  installed: (i) => `installed at ${i.top} (EPREFIX=${i.eprefix === '' ? "''" : i.eprefix})`,
  release: (i) => `an unpacked release at ${i.top}`,
  checkout: (i) => `a checkout (or npm package) at ${i.top}`,
  unknown: () => 'from an unknown place (no release.json or package.json found)',
};

/** The report as a person reads it. */
export function describeDoctor(report: DoctorReport): string {
  const p = report.packdebug;
  const n = report.node;
  const l = report.lzmaNative;
  const lzmaVersions = [l.version && `lzma-native ${l.version}`, l.liblzma && `liblzma ${l.liblzma}`].filter(Boolean);
  const lines = [
    `packdebug ${p.version ?? 'unknown'}, ${WHERE[p.kind](p)}`,
    ...(p.hookPath === undefined ? [] : [`  hook: ${p.hookPath}`]),
    `Node.js ${n.version}: ${n.ok ? 'ok' : 'TOO OLD'} (packdebug needs >= ${n.minimum})`,
    l.loaded
      ? `lzma-native: loaded (${lzmaVersions.join(', ')})`
      : `lzma-native: not loaded (${l.reason}): xz(1) does all xz work`,
    '',
  ];
  for (const t of report.tools) {
    const status = t.path === undefined ? (t.need === 'optional' ? 'absent' : 'MISSING') : 'ok';
    const found = t.path === undefined ? '' : `${t.path}${t.version === undefined ? '' : `: ${t.version}`}`;
    lines.push(`${status.padEnd(8)} ${t.tool.padEnd(16)} ${found}`.trimEnd());
    const commands = t.commands.join(', ');
    const who = t.need === 'required' ? `required by ${commands}: ` : t.need === 'conditional' ? `${commands}: ` : '';
    lines.push(`${''.padEnd(26)}${who}${t.purpose}`);
  }
  lines.push('');
  const required = report.missing.filter((m) => m.need === 'required');
  const conditional = report.missing.filter((m) => m.need === 'conditional');
  if (!n.ok) lines.push(`Node.js ${n.version} is older than ${n.minimum}: every command may fail`);
  for (const m of required) lines.push(`missing ${m.tool}: ${m.commands.join(', ')} cannot work`);
  for (const m of conditional) lines.push(`missing ${m.tool}: ${m.commands.join(', ')} fail on inputs that need it`);
  if (report.ok) lines.push('ok: nothing a command always needs is missing');
  return `${lines.join('\n')}\n`;
}
