/**
 * Ready-to-paste configuration text for a packdebug binhost and its clients
 * (`packdebug snippet KIND`). Pure text templates: no I/O.
 */
import { PackdebugError } from '../errors.js';
import { TARBALL_DIR } from './naming.js';
import { SNIPPET_KINDS, type SnippetKind } from './snippet-kinds.js';

export { SNIPPET_KINDS, type SnippetKind };

export interface SnippetOptions {
  /** Gentoo Prefix offset: '' (default) or an absolute path without trailing slash. */
  eprefix?: string;
  /** Address debuginfod listens on (default 127.0.0.1). */
  listenAddress?: string;
  /** debuginfod's HTTP port (default 8002). */
  port?: number;
  /** DEBUGINFOD_URLS for clients (default http://HOST:PORT, HOST to be replaced). */
  url?: string;
  /** PKGDIR (default ${EPREFIX}/var/cache/binpkgs). */
  binpkgDir?: string;
  /** The installed hooks/packdebug.bashrc (default ${EPREFIX}/usr/share/packdebug/packdebug.bashrc). */
  hookPath?: string;
}

interface Resolved {
  eprefix: string;
  listenAddress: string;
  port: number;
  url: string;
  urlIsPlaceholder: boolean;
  binpkgDir: string;
  hookPath: string;
  tarballDir: string;
}

export const DEFAULT_PORT = 8002;
export const DEFAULT_LISTEN_ADDRESS = '127.0.0.1';

// Paths end up unquoted in systemd directives (space-separated lists, %
// specifiers) and in shell text, so only characters that need no quoting
// anywhere are accepted.
const SAFE_PATH_RE = /^(\/[A-Za-z0-9._+@-]+)+$/;

function usage(message: string): PackdebugError {
  return new PackdebugError('E_USAGE', message);
}

/** '' or '/' -> ''; '/a/b/' -> '/a/b'; anything else must be a clean absolute path. */
export function normalizeEprefix(eprefix: string | undefined): string {
  if (eprefix === undefined || eprefix === '') return '';
  const trimmed = eprefix.replace(/\/+$/, '');
  if (trimmed === '') return '';
  checkPath('--eprefix', trimmed);
  return trimmed;
}

/** An absolute path that snippets can carry unquoted: see SAFE_PATH_RE; no . or .. components. */
export function isPlainPath(p: string): boolean {
  return SAFE_PATH_RE.test(p) && !p.split('/').some((c) => c === '.' || c === '..');
}

function checkPath(what: string, p: string): void {
  if (!p.startsWith('/')) throw usage(`${what} '${p}': must be an absolute path`);
  if (!isPlainPath(p)) {
    throw usage(
      `${what} '${p}': use a plain path of letters, digits and . _ + @ - (no //, . or .. components, no spaces)`,
    );
  }
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw usage(`--port '${String(port)}': must be an integer from 1 to 65535`);
  }
}

function checkUrls(urls: string): void {
  if (urls.trim() === '') throw usage('--url: empty');
  for (const u of urls.trim().split(/\s+/)) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw usage(`--url '${u}': not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw usage(`--url '${u}': debuginfod URLs are http:// or https://`);
    }
    // The value lands inside double quotes in env.d and shell text.
    if (/["'`$\\]/.test(u)) throw usage(`--url '${u}': quotes, $, \` and \\ are not allowed`);
  }
}

function resolve(opts: SnippetOptions): Resolved {
  const eprefix = normalizeEprefix(opts.eprefix);
  const port = opts.port ?? DEFAULT_PORT;
  checkPort(port);
  const listenAddress = opts.listenAddress ?? DEFAULT_LISTEN_ADDRESS;
  if (!/^[A-Za-z0-9.:-]+$/.test(listenAddress)) throw usage(`listen address '${listenAddress}': not an address`);
  const urlIsPlaceholder = opts.url === undefined || opts.url === '';
  const url = urlIsPlaceholder ? `http://HOST:${port}` : opts.url!.trim().split(/\s+/).join(' ');
  checkUrls(url);
  const binpkgDir = opts.binpkgDir ?? `${eprefix}/var/cache/binpkgs`;
  checkPath('binpkg dir', binpkgDir);
  const hookPath = opts.hookPath ?? `${eprefix}/usr/share/packdebug/packdebug.bashrc`;
  checkPath('hook path', hookPath);
  return {
    eprefix,
    listenAddress,
    port,
    url,
    urlIsPlaceholder,
    binpkgDir,
    hookPath,
    tarballDir: `${eprefix}/${TARBALL_DIR}`,
  };
}

/** Where the text of `kind` goes. */
export function snippetPath(kind: SnippetKind, opts: SnippetOptions = {}): string {
  const e = normalizeEprefix(opts.eprefix);
  switch (kind) {
    case 'make.conf':
      return `${e}/etc/portage/make.conf`;
    case 'bashrc':
      return `${e}/etc/portage/bashrc`;
    case 'debuginfod-systemd':
      // The host's systemd reads /etc/systemd/system, Prefix or not.
      return '/etc/systemd/system/debuginfod.service';
    case 'debuginfod-openrc':
      return `${e}/etc/init.d/debuginfod`;
    case 'serve-systemd':
      return '/etc/systemd/system/packdebug-serve.service';
    case 'serve-openrc':
      return `${e}/etc/init.d/packdebug-serve`;
    case 'client':
      return `${e}/etc/env.d/99debuginfod`;
  }
}

// The inner double quotes keep the shell that debuginfod's popen() starts
// from globbing */image.tar.* (bsdtar matches it against member names).
const GPKG_DECODER = '(bsdtar -xf- -O "*/image.tar.*" | bsdtar --strip-components 1 -cf- @-)<';

export function makeConfSnippet(opts: SnippetOptions = {}): string {
  const r = resolve(opts);
  // Portage matches these masks relative to ${EPREFIX} itself: no prefix here.
  return `# packdebug binhost settings: append to ${snippetPath('make.conf', r)}
# Debug info needs -g in CFLAGS/CXXFLAGS (e.g. -ggdb3) and ELF build-ids from the
# linker (Gentoo's gcc passes --build-id by default). binpkg-multi-instance
# gives each binpkg (FEATURES=buildpkg) the BUILD_ID that names its tarball.
FEATURES="\${FEATURES} splitdebug installsources binpkg-multi-instance"

# Binpkgs carry no debug info: clients fetch it from debuginfod.
PKG_INSTALL_MASK="\${PKG_INSTALL_MASK} /usr/lib/debug/ /usr/src/debug/"
# Old tarballs outlive upgrades and unmerges, so older builds stay debuggable.
UNINSTALL_IGNORE="\${UNINSTALL_IGNORE} /${TARBALL_DIR}/*"
# A rebuild may collide with a tarball orphaned by UNINSTALL_IGNORE.
COLLISION_IGNORE="\${COLLISION_IGNORE} /${TARBALL_DIR}"

# Optional: keep only the tarballs on the binhost, not the loose debug files
# too (debug info can be hundreds of GB); gdb and other tools without
# debuginfod then find no debug files on the binhost itself. With the hook,
# use PACKDEBUG_REMOVE_PACKED=1 (see \`packdebug snippet bashrc\`): it removes
# only what was packed and verified. The INSTALL_MASK line below needs
# Portage's native FEATURES=packdebug: Portage applies INSTALL_MASK before
# pkg_preinst, where the hook runs, so without native packdebug nothing would
# be left to pack; with it, the hook repacks Portage's tarball to be seekable.
# Its "-" negation needs a Portage with INSTALL_MASK negation support.
#INSTALL_MASK="\${INSTALL_MASK} /usr/lib/debug/ /usr/src/debug/ -/${TARBALL_DIR}"

# The hook (\`packdebug snippet bashrc\`) reads PACKDEBUG_* settings (preset,
# threads, block size, ...); they may be set here or in /etc/portage/bashrc.
# The hook works with or without Portage's native FEATURES=packdebug: with it,
# it replaces Portage's single-Block tarball by a block-seekable one.
`;
}

export function bashrcSnippet(opts: SnippetOptions = {}): string {
  const r = resolve(opts);
  // Snippet lines longer than the source's line width, built in pieces.
  const removePackedSetting =
    '#PACKDEBUG_REMOVE_PACKED=1    # remove packed debug files from the image ' +
    'after a verified write (instead of INSTALL_MASK)';
  const indexSetting =
    '#PACKDEBUG_INDEX=1            # after each merge, update the build-id index that lets ' +
    'static mirrors serve the tree';
  const sourceHook =
    `if [[ -r "${r.hookPath}" ]]; then source "${r.hookPath}"; ` +
    `else ewarn "packdebug: ${r.hookPath} is not readable, debug info is not packed"; fi`;
  return `# packdebug hook: append to ${snippetPath('bashrc', r)} on the binhost
# Optional settings (the hook's defaults are described):
#PACKDEBUG_PRESET=6           # xz preset 0-9 or 0e-9e; default 6
#PACKDEBUG_THREADS=4          # compression threads; default all cores
#PACKDEBUG_BLOCK_SIZE=1984KiB # uncompressed xz Block size: smaller = faster random access, larger = smaller tarballs
#PACKDEBUG_ENCODER=auto       # xz (system xz, fastest), lzma-native, or auto; same output
${removePackedSetting}
#PACKDEBUG_STRICT=1           # fail the merge when packing fails; default: warn and go on
${indexSetting}
#PACKDEBUG_BIN=/usr/local/bin/packdebug  # the packdebug executable; default packdebug from PATH
# The hook ships as hooks/packdebug.bashrc; with a git checkout, source
# <checkout>/hooks/packdebug.bashrc instead. It defines pre_pkg_preinst and
# post_pkg_preinst only where you have none and never renames or wraps yours:
# if you define both (anywhere in this file or in /etc/portage/env), call
# packdebug_pre_pkg_preinst from one of them (it runs packdebug once per merge):
#   post_pkg_preinst() { my_own_post_preinst_things; packdebug_pre_pkg_preinst; }
${sourceHook}
`;
}

/** The systemd sandbox both units share (debuginfod's, from Portage's FEATURES=packdebug review). */
const SANDBOX = `NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=tmpfs
PrivateTmp=on
PrivateDevices=on
PrivateIPC=on
PrivateUsers=on
ProtectClock=on
ProtectHostname=on
ProtectKernelTunables=on
ProtectKernelModules=on
ProtectKernelLogs=on
ProtectControlGroups=on
`;

/** Runtime dirs debuginfod, sh and bsdtar need inside TemporaryFileSystem=/. */
function runtimeRoots(eprefix: string): string[] {
  return eprefix === '' ? [''] : ['', eprefix];
}

export function debuginfodSystemdSnippet(opts: SnippetOptions = {}): string {
  const r = resolve(opts);
  const roots = runtimeRoots(r.eprefix);
  const e = r.eprefix;
  const binds = roots.flatMap((p) =>
    p === ''
      ? ['/usr/bin', '/usr/lib', '-/usr/lib64', '-/bin', '-/lib', '-/lib64', '-/etc/ld.so.cache']
      : [
          `-${p}/usr/bin`,
          `-${p}/usr/lib`,
          `-${p}/usr/lib64`,
          `-${p}/bin`,
          `-${p}/lib`,
          `-${p}/lib64`,
          `-${p}/etc/ld.so.cache`,
        ],
  );
  const execs = [
    `${e}/usr/bin/debuginfod`,
    `-${e}/usr/bin/bsdtar`,
    '/bin/sh',
    ...(e === '' ? [] : [`-${e}/bin/sh`]),
    ...roots.flatMap((p) =>
      p === ''
        ? ['/usr/lib', '-/usr/lib64', '-/lib', '-/lib64']
        : [`-${p}/usr/lib`, `-${p}/usr/lib64`, `-${p}/lib`, `-${p}/lib64`],
    ),
  ];
  const pathEnv = e === '' ? '' : `Environment=PATH=${e}/usr/bin:${e}/bin:/usr/bin:/bin\n`;
  const saveAs =
    `# debuginfod unit: save as ${snippetPath('debuginfod-systemd', r)}, ` +
    'then run: systemctl daemon-reload && systemctl enable --now debuginfod';
  return `${saveAs}
# Hardened after the unit discussed in Portage's FEATURES=packdebug review.
# debuginfod >= 0.192 reads the block-seekable .tar.xz tarballs with random
# access; older versions decompress a tarball from its start for each request.
# --listen-address needs a recent debuginfod (0.188 lacks it); listening on
# ${r.listenAddress} only, clients elsewhere need a LAN address or a reverse proxy.

[Unit]
Description=debuginfod serving packdebug tarballs and binary packages
Documentation=man:debuginfod(8) https://sourceware.org/elfutils/Debuginfod.html
After=network.target

[Service]
DynamicUser=true
CacheDirectory=debuginfod
${pathEnv}ExecStart=${e}/usr/bin/debuginfod \\
	--listen-address=${r.listenAddress} --port=${r.port} \\
	--database=\${CACHE_DIRECTORY}/db.sqlite3 \\
	-Z .tar.xz ${r.tarballDir} \\
	-Z '.gpkg.tar=${GPKG_DECODER}' ${r.binpkgDir}

ProtectProc=invisible
CapabilityBoundingSet=CAP_DAC_OVERRIDE
AmbientCapabilities=CAP_DAC_OVERRIDE
${SANDBOX}LockPersonality=on
RestrictSUIDSGID=on
PrivateMounts=on
SystemCallFilter=@system-service
# A client DEBUGINFOD_URLS would make the server query itself.
UnsetEnvironment=DEBUGINFOD_URLS

# An empty root with only what debuginfod needs. The ELF interpreter lives in
# /lib64 (or /lib), and Gentoo's libstdc++ sits in a gcc directory that only
# ld.so.cache names, so both must be visible for debuginfod to start at all.
TemporaryFileSystem=/:ro
BindReadOnlyPaths=${binds.join(' ')}
BindReadOnlyPaths=${r.tarballDir} ${r.binpkgDir}
# -Z .tar.xz has no command: debuginfod reads those archives itself. The
# .gpkg.tar command runs through popen(), i.e. /bin/sh -c, which then runs
# bsdtar twice: sh and bsdtar must be executable, and shared libraries are
# mapped executable, so the library dirs too.
NoExecPaths=/
ExecPaths=${execs.join(' ')}

[Install]
WantedBy=multi-user.target
`;
}

export function debuginfodOpenrcSnippet(opts: SnippetOptions = {}): string {
  const r = resolve(opts);
  const e = r.eprefix;
  const pathLine = e === '' ? '' : `export PATH="${e}/usr/bin:${e}/bin:\${PATH}"\n`;
  const saveAs =
    `# debuginfod service: save as ${snippetPath('debuginfod-openrc', r)} (chmod 0755), ` +
    'then run: rc-update add debuginfod default';
  return `#!${e}/sbin/openrc-run
${saveAs}
# dev-libs/elfutils installs debuginfod but no OpenRC service or conf.d file
# for it, hence this script. Override the settings below in
# ${e}/etc/conf.d/debuginfod (e.g. DEBUGINFOD_LISTEN=192.0.2.10 to serve a LAN).
# The service user must exist, e.g.:
#   useradd --system --user-group --home-dir ${e}/var/cache/debuginfod --shell /sbin/nologin debuginfod
# debuginfod >= 0.192 reads the block-seekable .tar.xz tarballs with random
# access; --listen-address needs a recent debuginfod (0.188 lacks it).

: "\${DEBUGINFOD_USER:=debuginfod}"
: "\${DEBUGINFOD_LISTEN:=${r.listenAddress}}"
: "\${DEBUGINFOD_PORT:=${r.port}}"
: "\${DEBUGINFOD_CACHE:=${e}/var/cache/debuginfod}"
: "\${DEBUGINFOD_OPTS:=}"

description="debuginfod serving packdebug tarballs and binary packages"
command="${e}/usr/bin/debuginfod"
command_user="\${DEBUGINFOD_USER}:\${DEBUGINFOD_USER}"
command_background="yes"
pidfile="${e}/run/\${RC_SVCNAME}.pid"
${pathLine}# start-stop-daemon evals command_args, so the single quotes keep the
# .gpkg.tar command one argument; debuginfod runs it through /bin/sh.
command_args="--listen-address=\${DEBUGINFOD_LISTEN} --port=\${DEBUGINFOD_PORT}
	--database=\${DEBUGINFOD_CACHE}/db.sqlite3 \${DEBUGINFOD_OPTS}
	-Z .tar.xz ${r.tarballDir}
	-Z '.gpkg.tar=${GPKG_DECODER.replace(/"/g, '\\"')}' ${r.binpkgDir}"

depend() {
	need net
}

start_pre() {
	# A client DEBUGINFOD_URLS would make the server query itself.
	unset DEBUGINFOD_URLS
	checkpath --directory --mode 0750 --owner "\${command_user}" "\${DEBUGINFOD_CACHE}"
}
`;
}

/** `packdebug serve` as a systemd service: the debuginfod unit's hardening, its cache in CacheDirectory. */
export function serveSystemdSnippet(opts: SnippetOptions = {}): string {
  const r = resolve(opts);
  const e = r.eprefix;
  const saveAs =
    `# packdebug serve unit: save as ${snippetPath('serve-systemd', r)}, ` +
    'then run: systemctl daemon-reload && systemctl enable --now packdebug-serve';
  return `${saveAs}
# Serves the tarball tree (and, if you add them, mirror URLs or --upstream
# debuginfod servers) with debuginfod's HTTP API. It keeps its own build-id
# index of the tree in the cache when the tree's own is missing or stale,
# and looks for new tarballs every minute. Listening on ${r.listenAddress} only;
# clients elsewhere need --listen with a LAN address or a reverse proxy.

[Unit]
Description=packdebug serve: debuginfod API over packdebug tarball trees
Documentation=https://github.com/packdebug/packdebug/blob/main/docs/reference.md
After=network.target

[Service]
DynamicUser=true
CacheDirectory=packdebug-serve
ExecStart=${e}/usr/bin/packdebug serve ${r.tarballDir} \\
	--listen ${r.listenAddress}:${r.port} --cache \${CACHE_DIRECTORY} --cache-size 4GiB
# SIGTERM finishes the requests in flight.
KillSignal=SIGTERM
TimeoutStopSec=60

${SANDBOX}ProtectProc=invisible
LockPersonality=on
RestrictSUIDSGID=on
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
PrivateMounts=on
SystemCallFilter=@system-service
CapabilityBoundingSet=
ReadOnlyPaths=${r.tarballDir}
UnsetEnvironment=DEBUGINFOD_URLS

[Install]
WantedBy=multi-user.target
`;
}

export function serveOpenrcSnippet(opts: SnippetOptions = {}): string {
  const r = resolve(opts);
  const e = r.eprefix;
  const saveAs =
    `# packdebug serve service: save as ${snippetPath('serve-openrc', r)} (chmod 0755), ` +
    'then run: rc-update add packdebug-serve default';
  return `#!${e}/sbin/openrc-run
${saveAs}
# Override the settings below in ${e}/etc/conf.d/packdebug-serve (e.g.
# PACKDEBUG_SERVE_LISTEN=192.0.2.10:${r.port}, or PACKDEBUG_SERVE_OPTS="--upstream URL").
# The service user must exist, e.g.:
#   useradd --system --user-group --home-dir ${e}/var/cache/packdebug-serve --shell /sbin/nologin packdebug

: "\${PACKDEBUG_SERVE_USER:=packdebug}"
: "\${PACKDEBUG_SERVE_LISTEN:=${r.listenAddress}:${r.port}}"
: "\${PACKDEBUG_SERVE_CACHE:=${e}/var/cache/packdebug-serve}"
: "\${PACKDEBUG_SERVE_SOURCES:=${r.tarballDir}}"
: "\${PACKDEBUG_SERVE_OPTS:=--cache-size 4GiB}"

description="packdebug serve: debuginfod API over packdebug tarball trees"
command="${e}/usr/bin/packdebug"
command_user="\${PACKDEBUG_SERVE_USER}:\${PACKDEBUG_SERVE_USER}"
command_background="yes"
pidfile="${e}/run/\${RC_SVCNAME}.pid"
command_args="serve \${PACKDEBUG_SERVE_SOURCES} --listen \${PACKDEBUG_SERVE_LISTEN}
	--cache \${PACKDEBUG_SERVE_CACHE} \${PACKDEBUG_SERVE_OPTS}"
retry="TERM/60/KILL/5"

depend() {
	need net
}

start_pre() {
	unset DEBUGINFOD_URLS
	checkpath --directory --mode 0750 --owner "\${command_user}" "\${PACKDEBUG_SERVE_CACHE}"
}
`;
}

export function clientSnippet(opts: SnippetOptions = {}): string {
  const r = resolve(opts);
  const hostNote = r.urlIsPlaceholder ? "# Replace HOST with the binhost's name or address.\n" : '';
  return `# debuginfod clients: save as ${snippetPath('client', r)}, then run: env-update && . ${r.eprefix}/etc/profile
${hostNote}DEBUGINFOD_URLS="${r.url}"

# gdb (built with USE=debuginfod): add this line to ~/.gdbinit or ${r.eprefix}/etc/gdb/gdbinit
# set debuginfod enabled on
`;
}

const RENDERERS: Record<SnippetKind, (opts: SnippetOptions) => string> = {
  'make.conf': makeConfSnippet,
  bashrc: bashrcSnippet,
  'debuginfod-systemd': debuginfodSystemdSnippet,
  'debuginfod-openrc': debuginfodOpenrcSnippet,
  'serve-systemd': serveSystemdSnippet,
  'serve-openrc': serveOpenrcSnippet,
  client: clientSnippet,
};

export function isSnippetKind(kind: string): kind is SnippetKind {
  return (SNIPPET_KINDS as readonly string[]).includes(kind);
}

export function renderSnippet(kind: string, opts: SnippetOptions = {}): string {
  if (!isSnippetKind(kind)) {
    throw usage(`unknown snippet kind '${kind}'; valid kinds: ${SNIPPET_KINDS.join(', ')}`);
  }
  return RENDERERS[kind](opts);
}
