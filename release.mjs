#!/usr/bin/env node
// `npm run release` (after `npm run build`): the self-contained release
// tarball release/packdebug-VERSION.tar.xz, laid out as I16-LAYOUT (and
// README's "Release tarball") says, then its size and the Manifest DIST line.
//
//   node release.mjs [--out DIR]     DIR defaults to release/ in the repository
//
// The tarball is reproducible: the bundle, the man pages and the service files
// are generated from this checkout alone, every file gets a fixed mode, and tar
// stores sorted names, owner 0/0 and one mtime (SOURCE_DATE_EPOCH, else the
// last commit's time); xz compresses with one thread.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { cliBundleOptions } from './esbuild.config.mjs';

const repoRoot = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(repoRoot, 'dist/cli.js');

/** The snippets that become services/: the name each is shipped under, and which are OpenRC scripts. */
const SERVICE_SNIPPETS = [
  { kind: 'serve-systemd', file: 'packdebug-serve.service' },
  { kind: 'serve-openrc', file: 'packdebug-serve.initd', confd: 'packdebug-serve.confd' },
  { kind: 'debuginfod-systemd', file: 'debuginfod.service' },
  { kind: 'debuginfod-openrc', file: 'debuginfod.initd', confd: 'debuginfod.confd' },
];

function fail(message) {
  process.stderr.write(`release: ${message}\n`);
  process.exit(1);
}

/** SOURCE_DATE_EPOCH, else the committer time of HEAD. */
function releaseEpoch() {
  const fromEnv = process.env.SOURCE_DATE_EPOCH;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^\d+$/.test(fromEnv)) fail(`SOURCE_DATE_EPOCH=${fromEnv}: not a number of seconds`);
    return Number(fromEnv);
  }
  try {
    return Number(execFileSync('git', ['-C', repoRoot, 'log', '-1', '--format=%ct'], { encoding: 'utf8' }).trim());
  } catch {
    return fail('no git history to take the mtime from: set SOURCE_DATE_EPOCH');
  }
}

/** Runs the built CLI (dist/cli.js) and returns its stdout. */
function runCli(args) {
  try {
    return execFileSync(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      env: { ...process.env, COLUMNS: '80', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    return fail(`packdebug ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

// ---------------------------------------------------------------------------
// The bundle: lib/cli.js, lib/chunks/, lib/release.json
// ---------------------------------------------------------------------------

/**
 * Bundles src/cli.ts into lib/chunks/*.mjs with the options of dist/'s bundle.
 * The code is ESM: as .mjs it is ESM wherever the release is unpacked, whatever
 * package.json (or none) is above it, and Node need not guess (its syntax
 * detection costs a second parse on every start and warns below a package.json
 * without "type"). lib/cli.js, which bin/packdebug imports, holds only an
 * import(): that parses as CommonJS and as ESM alike.
 */
async function bundle(libDir) {
  const result = await build({
    ...cliBundleOptions(libDir),
    // The entry sits beside the other chunks, two levels below the top as in dist/.
    entryPoints: { 'chunks/cli': 'src/cli.ts' },
    outExtension: { '.js': '.mjs' },
    // node_modules/... rather than the path a symlinked node_modules points to:
    // the comments esbuild leaves in the bundle name the same files in any checkout.
    preserveSymlinks: true,
    sourcemap: false,
    metafile: true,
  });
  await fs.writeFile(
    path.join(libDir, 'cli.js'),
    '// The bundle is lib/chunks/*.mjs (ESM by its name); this file parses as CommonJS and as ESM.\n' +
      "import('./chunks/cli.mjs');\n",
  );
  const inlined = Object.keys(result.metafile.inputs).filter((p) => p.includes('node_modules/'));
  if (inlined.some((p) => /(^|\/)node_modules\/lzma-native\//.test(p))) fail('lzma-native was bundled');
  return inlined;
}

const LICENSE_FILE = /^(licen[cs]e|copying)([.-][\w.-]*)?$/i;

/** docs/third-party-licenses.md: every npm package inlined into the bundle, with its licence text. */
async function thirdPartyLicenses(inputs) {
  const roots = new Set(inputs.map((p) => p.replace(/^(.*node_modules\/(@[^/]+\/)?[^/]+)\/.*$/, '$1')));
  const packages = [];
  for (const root of roots) {
    const dir = path.resolve(repoRoot, root);
    const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8'));
    const licenseFile = (await fs.readdir(dir)).sort().find((name) => LICENSE_FILE.test(name));
    if (licenseFile === undefined) fail(`${pkg.name}: no licence file in ${dir}; it is bundled into lib/`);
    const text = (await fs.readFile(path.join(dir, licenseFile), 'utf8')).replace(/\r\n/g, '\n').trimEnd();
    packages.push({ name: pkg.name, version: pkg.version, license: pkg.license, text });
  }
  packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const lines = [
    '# Licences of the bundled npm packages',
    '',
    'packdebug is GPL-2.0-or-later (LICENSE). Its release bundles these npm',
    'packages into `lib/chunks/` (esbuild inlined them); their licences follow.',
    '',
    '| package | version | licence |',
    '|---|---|---|',
    ...packages.map((p) => `| ${p.name} | ${p.version} | ${p.license} |`),
  ];
  for (const p of packages) lines.push('', `## ${p.name} ${p.version}`, '', '```text', p.text, '```');
  return { markdown: `${lines.join('\n')}\n`, licenses: [...new Set(packages.map((p) => p.license))].sort() };
}

// ---------------------------------------------------------------------------
// Man pages from --help
// ---------------------------------------------------------------------------

/**
 * yargs' help text, parsed: usage lines, the description before the first
 * section, sections (Commands, Positionals, Options, Examples) of entries,
 * and the epilogue after them. yargs wraps at 100 columns when stdout is not
 * a terminal (COLUMNS does not change it), so wrapped lines are joined again:
 * an entry starts at column 2 (or at column 6 for a long option without a
 * short one) and continues on every more indented line.
 */
function parseHelp(text) {
  const lines = text.replace(/\t/g, ' ').trimEnd().split('\n');
  const help = { usage: [], description: [], sections: [], epilogue: [] };
  let i = 0;
  while (i < lines.length && lines[i].trim() !== '') help.usage.push(lines[i++].trim());
  let section;
  let paragraph;
  for (; i < lines.length; i++) {
    const line = lines[i];
    const indent = line.length - line.trimStart().length;
    if (line.trim() === '') {
      paragraph = undefined;
    } else if (indent === 0 && /^[A-Z][A-Za-z ]*:$/.test(line)) {
      section = { title: line.slice(0, -1), entries: [] };
      help.sections.push(section);
    } else if (indent === 0) {
      if (paragraph === undefined) {
        paragraph = [];
        (help.sections.length === 0 ? help.description : help.epilogue).push(paragraph);
      }
      paragraph.push(line);
      section = undefined;
    } else if (section === undefined) {
      fail(`unexpected indented help line outside a section: ${line}`);
    } else if (indent === 2 || (indent === 6 && line.trimStart().startsWith('-'))) {
      const [name, ...rest] = line.trim().split(/ {2,}/);
      section.entries.push({ name, text: rest.join(' ') });
    } else {
      const entry = section.entries.at(-1);
      if (entry === undefined) fail(`help line continues no entry: ${line}`);
      entry.text = `${entry.text} ${line.trim()}`.trim();
    }
  }
  const join = (paragraphs) => paragraphs.map((p) => p.join(' '));
  return { ...help, description: join(help.description), epilogue: join(help.epilogue) };
}

/** An entry's text and its trailing yargs annotations ([string] [required] [default: ...]). */
function splitAnnotations(text) {
  const m = /((?:\s*\[(?:[^[\]]|\[[^\]]*\])*\])+)$/.exec(text);
  if (m === null) return { text, annotations: '' };
  return { text: text.slice(0, m.index).trim(), annotations: m[1].trim().replace(/\]\s+\[/g, '] [') };
}

/** Text for a roff text line: backslashes, hyphens (\-: options stay copyable) and non-ASCII escaped. */
function roff(text) {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === '\\') out += '\\e';
    else if (ch === '-') out += '\\-';
    else if (code > 0x7e || code < 0x20) out += `\\[u${code.toString(16).toUpperCase().padStart(4, '0')}]`;
    else out += ch;
  }
  return out;
}

/** A text line that roff cannot take for a request (a leading . or '). */
function textLine(escaped) {
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

const bold = (s) => `\\fB${roff(s)}\\fR`;
const italic = (s) => `\\fI${roff(s)}\\fR`;
const capitalized = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const uncapitalized = (s) => s.charAt(0).toLowerCase() + s.slice(1);

function manHeader(name, description, version, date) {
  return [
    `.\\" Generated by release.mjs from \`${name.replace('-', ' ')} --help\`; do not edit.`,
    `.TH ${roff(name.toUpperCase())} 1 ${date} "packdebug ${version}" "packdebug manual"`,
    // No hyphenation, ragged right: option and path names stay whole.
    '.nh',
    '.ad l',
    '.SH NAME',
    textLine(`${roff(name)} \\- ${roff(description)}`),
  ];
}

function entryLines(entry, nameMarkup) {
  const { text, annotations } = splitAnnotations(entry.text);
  const lines = ['.TP', textLine(nameMarkup(entry.name))];
  if (text !== '') lines.push(textLine(roff(text)));
  if (annotations !== '') lines.push(...(text !== '' ? ['.br'] : []), textLine(roff(annotations)));
  return lines;
}

const optionName = (name) =>
  name
    .split(', ')
    .map((n) => bold(n))
    .join(', ');

/** Exit status sentences of an epilogue go to EXIT STATUS, the rest to DESCRIPTION. */
function splitEpilogue(paragraphs) {
  const notes = [];
  let exitStatus;
  for (const p of paragraphs) {
    const at = p.indexOf('Exit status:');
    if (at < 0) {
      notes.push(p);
      continue;
    }
    if (at > 0) notes.push(p.slice(0, at).trim());
    exitStatus = p.slice(at + 'Exit status:'.length).trim();
  }
  return { notes, exitStatus };
}

function verbPage(verb, help, version, date) {
  const { notes, exitStatus } = splitEpilogue(help.epilogue);
  const [usage] = help.usage;
  if (!usage?.startsWith(`packdebug ${verb}`)) fail(`packdebug ${verb} --help: usage line ${usage}`);
  const lines = [
    ...manHeader(`packdebug-${verb}`, help.description[0] ?? '', version, date),
    '.SH SYNOPSIS',
    textLine(`${bold(`packdebug ${verb}`)}${roff(usage.slice(`packdebug ${verb}`.length))} [${italic('options')}]`),
    '.SH DESCRIPTION',
  ];
  for (const p of [...help.description, ...notes]) lines.push('.PP', textLine(roff(capitalized(p))));
  for (const section of help.sections) {
    if (section.title === 'Positionals') {
      lines.push('.SH ARGUMENTS', ...section.entries.flatMap((e) => entryLines(e, italic)));
    } else if (section.title === 'Options') {
      lines.push('.SH OPTIONS', ...section.entries.flatMap((e) => entryLines(e, optionName)));
    } else if (section.title === 'Examples') {
      lines.push('.SH EXAMPLES', '.PP', '.RS', '.nf', ...section.entries.map((e) => textLine(roff(e.name))));
      lines.push('.fi', '.RE');
    } else {
      fail(`packdebug ${verb} --help: unknown section ${section.title}`);
    }
  }
  if (exitStatus !== undefined) lines.push('.SH EXIT STATUS', textLine(roff(capitalized(exitStatus))));
  lines.push(
    '.SH SEE ALSO',
    textLine(`${bold('packdebug')}(1); ${roff('docs/reference.md (packdebug ' + verb + ')')} in the documentation`),
    textLine(roff('(/usr/share/doc/packdebug-*/ once installed).')),
  );
  return `${lines.join('\n')}\n`;
}

/** ENVIRONMENT and FILES of packdebug(1): what --help does not say. */
const ENVIRONMENT = [
  ['EPREFIX', 'Gentoo Prefix: the default tarball tree is ${EPREFIX}/usr/lib/debug/.tarball.'],
  [
    'D, ED, T, CATEGORY, PN, PF, BUILD_ID, FEATURES, PORTAGE_BUILDDIR, EBUILD_PHASE',
    'The Portage phase environment that packdebug hook reads (the hook exports it).',
  ],
  [
    'PACKDEBUG_PRESET, PACKDEBUG_THREADS, PACKDEBUG_BLOCK_SIZE, PACKDEBUG_SOURCE_BLOCK_SIZE, PACKDEBUG_ENCODER, ' +
      'PACKDEBUG_REMOVE_PACKED, PACKDEBUG_STRICT, PACKDEBUG_INDEX, PACKDEBUG_BIN',
    'Settings of the Portage hook (docs/hook.md); packdebug snippet bashrc lists them.',
  ],
  [
    'PACKDEBUG_MAX_SPILL, PACKDEBUG_MAX_SPILL_RATIO, PACKDEBUG_DECOMPRESS_MEMORY, PACKDEBUG_MAX_METADATA',
    'Caps of packdebug from-binpkg per binpkg; its options win over them.',
  ],
  [
    'PACKDEBUG_CACHE_DIR',
    'Where extract and from-binpkg keep their caches (default $XDG_CACHE_HOME/packdebug, ' +
      'or ~/.cache/packdebug); empty turns the caches off.',
  ],
  ['PACKDEBUG_LZMA_NATIVE', '0: never load the optional lzma-native addon; xz(1) and in-process code do its work.'],
  ['DEBUGINFOD_URLS', 'The servers packdebug verify asks when no --server is given.'],
  ['SOURCE_DATE_EPOCH', 'Clamps the mtimes stored in the tarballs written (reproducible builds).'],
  ['TMPDIR', 'Where temporary files go (from-binpkg: unless --tmpdir is given).'],
  ['NO_COLOR, NOCOLOR', 'Turn colours off.'],
];

const FILES = [
  ['/usr/lib/debug/.tarball/CATEGORY/PN/PF-BUILD_ID-debug.tar.xz', 'The tarballs, as Portage names them.'],
  ['/usr/lib/debug/.tarball/.packdebug-index/', 'The build-id index that packdebug index writes into a tree.'],
  [
    '/usr/share/packdebug/packdebug.bashrc',
    'The Portage hook, sourced from /etc/portage/bashrc (hooks/packdebug.bashrc in a release or a checkout).',
  ],
  ['/etc/portage/bashrc, /etc/portage/make.conf', 'Where the snippets of packdebug snippet bashrc and make.conf go.'],
  ['/usr/lib/packdebug/', 'The installed program: bin/packdebug, lib/, fixtures/.'],
];

function mainPage(help, verbs, version, date) {
  const commands = help.sections.find((s) => s.title === 'Commands');
  const options = help.sections.find((s) => s.title === 'Options');
  const definitions = (rows) => rows.flatMap(([term, text]) => ['.TP', textLine(bold(term)), textLine(roff(text))]);
  const lines = [
    ...manHeader('packdebug', uncapitalized(help.description[0].replace(/\.$/, '')), version, date),
    '.SH SYNOPSIS',
    textLine(`${bold('packdebug')} ${italic('command')} [${italic('options')}]`),
    '.br',
    textLine(`${bold('packdebug')} ${italic('command')} ${bold('--help')}`),
    '.SH DESCRIPTION',
    textLine(roff(help.description.join(' '))),
    '.PP',
    textLine(roff('Each command has its own page, packdebug-COMMAND(1), and --help.')),
    '.SH COMMANDS',
    ...commands.entries.flatMap((e, k) => {
      const [, verb, args] = /^packdebug (\S+)\s*(.*)$/.exec(e.name);
      const term = `${bold(`packdebug ${verb}`)}${args ? ` ${roff(args)}` : ''}`;
      return [
        '.TP',
        textLine(term),
        textLine(`${roff(capitalized(e.text).replace(/\.?$/, '.'))} See ${bold(`packdebug-${verbs[k]}`)}(1).`),
      ];
    }),
    '.SH OPTIONS',
    ...options.entries.flatMap((e) => entryLines(e, optionName)),
    '.SH ENVIRONMENT',
    ...definitions(ENVIRONMENT),
    '.SH FILES',
    ...definitions(FILES),
    '.SH EXIT STATUS',
    textLine(roff('0: done; 1: the job failed (or found what it looks for missing); 2: a usage or input error.')),
    textLine(roff('Each command page says more. A signal ends a command with 128+N after cleaning up; 70 is an')),
    textLine(roff('internal error (a bug: please report it).')),
    '.SH SEE ALSO',
    textLine(verbs.map((v) => `${bold(`packdebug-${v}`)}(1)`).join(', ')),
    '.PP',
    textLine(
      `${bold('debuginfod')}(8), ${bold('debuginfod-find')}(1), ${bold('gdb')}(1), ${bold('xz')}(1), ` +
        `${bold('emerge')}(1), ${bold('make.conf')}(5)`,
    ),
    '.PP',
    textLine(roff('README.md and docs/*.md (/usr/share/doc/packdebug-*/ once installed).')),
  ];
  return `${lines.join('\n')}\n`;
}

async function manPages(manDir, version, date) {
  const help = parseHelp(runCli(['--help']));
  const commands = help.sections.find((s) => s.title === 'Commands');
  if (commands === undefined) fail('packdebug --help lists no commands');
  const verbs = commands.entries.map((e) => /^packdebug (\S+)/.exec(e.name)?.[1] ?? fail(`odd command ${e.name}`));
  await fs.mkdir(manDir);
  await fs.writeFile(path.join(manDir, 'packdebug.1'), mainPage(help, verbs, version, date));
  for (const verb of verbs) {
    const page = verbPage(verb, parseHelp(runCli([verb, '--help'])), version, date);
    await fs.writeFile(path.join(manDir, `packdebug-${verb}.1`), page);
  }
  return verbs;
}

// ---------------------------------------------------------------------------
// services/ from `packdebug snippet`
// ---------------------------------------------------------------------------

/** The snippet's "save as PATH, then run: ..." line names where a user pastes it: the package installs it. */
function installedService(kind, text) {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => /^# .*: save as \S+.*, then run: /.test(l));
  if (at < 0) fail(`packdebug snippet ${kind}: no "save as" line to replace`);
  const what = /^# (.*?): save as/.exec(lines[at])[1];
  lines[at] = `# ${what}, installed with packdebug (\`packdebug snippet ${kind}\`).`;
  return lines.join('\n');
}

/** conf.d for an OpenRC script: its `: "${VAR:=default}"` settings, commented out at their defaults. */
function confdFor(kind, initd) {
  const settings = [...initd.matchAll(/^: "\$\{([A-Z_]+):=(.*)\}"$/gm)];
  if (settings.length === 0) fail(`packdebug snippet ${kind}: no : "\${VAR:=default}" settings for conf.d`);
  const description = /^description="(.*)"$/m.exec(initd)?.[1] ?? kind;
  return [
    `# Settings of the OpenRC service "${description}".`,
    "# The values shown are the init script's defaults; uncomment a line to change one.",
    '',
    ...settings.map(([, name, value]) => `#${name}="${value}"`),
    '',
  ].join('\n');
}

async function services(dir, forbidden) {
  await fs.mkdir(dir);
  for (const { kind, file, confd } of SERVICE_SNIPPETS) {
    const text = installedService(kind, runCli(['snippet', kind]));
    // The unit must run the installed packdebug, never this checkout or the staging directory.
    for (const p of forbidden) if (text.includes(p)) fail(`packdebug snippet ${kind} names ${p}`);
    if (kind.startsWith('serve') && !text.includes('/usr/bin/packdebug'))
      fail(`snippet ${kind}: no /usr/bin/packdebug`);
    await fs.writeFile(path.join(dir, file), text);
    if (confd) await fs.writeFile(path.join(dir, confd), confdFor(kind, text));
  }
}

// ---------------------------------------------------------------------------
// The tarball
// ---------------------------------------------------------------------------

const LAUNCHER = `#!/usr/bin/env node
// packdebug's launcher. Node resolves the symlinks to the program it runs
// (/usr/bin/packdebug -> ../lib/packdebug/bin/packdebug) before loading it,
// so this import is relative to the launcher's real place in the release.
import('../lib/cli.js');
`;

/** Fixed modes, whatever the umask: 0755 for directories and programs, 0644 for the rest. */
async function fixModes(dir, executable) {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await fixModes(p, executable);
    else if (entry.isFile()) await fs.chmod(p, executable(p) ? 0o755 : 0o644);
    else fail(`${p}: neither a file nor a directory`);
  }
}

/** `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@T -cf - | xz -6 -T1` into `file`. */
function packTarball(outDir, topName, epoch, file) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, LC_ALL: 'C' };
    const tar = spawn(
      'tar',
      [
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        `--mtime=@${epoch}`,
        '-C',
        outDir,
        '-cf',
        '-',
        topName,
      ],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const xz = spawn('xz', ['-6', '-T1', '-c'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const out = createWriteStream(file);
    tar.stdout.pipe(xz.stdin);
    xz.stdout.pipe(out);
    const exited = (child, name) =>
      new Promise((ok, no) => {
        child.on('error', no);
        child.on('close', (code) => (code === 0 ? ok() : no(new Error(`${name} exited with status ${code}`))));
      });
    const written = new Promise((ok, no) => {
      out.on('finish', ok);
      out.on('error', no);
    });
    Promise.all([exited(tar, 'tar'), exited(xz, 'xz'), written]).then(resolve, reject);
  });
}

async function main() {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const pkg = JSON.parse(await fs.readFile(path.join(repoRoot, 'package.json'), 'utf8'));
  const version = pkg.version;
  const outDir = path.resolve(values.out ?? path.join(repoRoot, 'release'));
  const topName = `packdebug-${version}`;
  const top = path.join(outDir, topName);
  const tarball = path.join(outDir, `${topName}.tar.xz`);
  const epoch = releaseEpoch();
  const date = new Date(epoch * 1000).toISOString().slice(0, 10);
  try {
    await fs.access(CLI);
  } catch {
    fail(`${CLI} is missing: run \`npm run build\` first (\`npm run release\` does)`);
  }

  await fs.mkdir(outDir, { recursive: true });
  await fs.rm(top, { recursive: true, force: true });
  await fs.mkdir(top);

  const inlined = await bundle(path.join(top, 'lib'));
  await fs.writeFile(path.join(top, 'lib/release.json'), `${JSON.stringify({ version, kind: 'release' }, null, 2)}\n`);
  await fs.mkdir(path.join(top, 'bin'));
  await fs.writeFile(path.join(top, 'bin/packdebug'), LAUNCHER);

  await fs.mkdir(path.join(top, 'hooks'));
  await fs.copyFile(path.join(repoRoot, 'hooks/packdebug.bashrc'), path.join(top, 'hooks/packdebug.bashrc'));
  await fs.mkdir(path.join(top, 'fixtures'));
  await fs.copyFile(path.join(repoRoot, 'fixtures/hello-image.tar'), path.join(top, 'fixtures/hello-image.tar'));
  await fs.mkdir(path.join(top, 'docs'));
  for (const name of (await fs.readdir(path.join(repoRoot, 'docs'))).filter((n) => n.endsWith('.md'))) {
    await fs.copyFile(path.join(repoRoot, 'docs', name), path.join(top, 'docs', name));
  }
  const { markdown, licenses } = await thirdPartyLicenses(inlined);
  await fs.writeFile(path.join(top, 'docs/third-party-licenses.md'), markdown);
  await fs.copyFile(path.join(repoRoot, 'README.md'), path.join(top, 'README.md'));
  await fs.copyFile(path.join(repoRoot, 'LICENSE'), path.join(top, 'LICENSE'));

  await manPages(path.join(top, 'man'), version, date);
  await services(path.join(top, 'services'), [repoRoot, outDir]);

  await fixModes(top, (p) => p === path.join(top, 'bin/packdebug') || p.endsWith('.initd'));
  const partial = `${tarball}.partial`;
  await packTarball(outDir, topName, epoch, partial);
  await fs.rename(partial, tarball);

  const bytes = await fs.readFile(tarball);
  const hex = (algorithm) => createHash(algorithm).update(bytes).digest('hex');
  const relative = path.relative(process.cwd(), tarball);
  const shown = relative.startsWith('..') ? tarball : relative;
  process.stdout.write(
    `${shown}: ${bytes.length} bytes (${(bytes.length / 1024).toFixed(0)} KiB); ` +
      `bundled npm packages' licences: ${licenses.join(' ')}\n` +
      `DIST ${topName}.tar.xz ${bytes.length} BLAKE2B ${hex('blake2b512')} SHA512 ${hex('sha512')}\n`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
