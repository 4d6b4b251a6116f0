/**
 * `packdebug hook`: what hooks/packdebug.bashrc runs in pre_pkg_preinst.
 *
 * Reads Portage's phase environment (src/portage/environment.ts), packs
 * ${ED}/usr/lib/debug and ${ED}/usr/src/debug into
 * ${ED}/usr/lib/debug/.tarball/${CATEGORY}/${PN}/${PF}-${BUILD_ID}-debug.tar.xz
 * and reports in einfo/ewarn/eerror style. It never throws: every failure is
 * one eerror line and a non-zero status; the bashrc decides between ewarn
 * and die (PACKDEBUG_STRICT). It writes nothing outside ${ED}.
 */
import path from 'node:path';
import { PackdebugError, exitStatusFor } from '../errors.js';
import type { PackOptions, PackResult } from '../pack/options.js';
import { packImage } from '../pack/pack.js';
import { repackTarball } from '../tarball/repack.js';
import { readHookSettings, readTextFile, type HookSettings, type ReadFile } from '../portage/environment.js';
import { portageLogger, portageOutput, type PortageOutput } from '../portage/messages.js';
import { defaultTarballPath, validateIdentity } from '../portage/naming.js';
import { lstatBelow } from '../util/atomic.js';
import { formatSize } from '../util/size.js';
import type { CommandIO } from '../util/io.js';
import { printable, printableLine } from '../util/escape.js';

/** The phase the hook belongs in (pre_pkg_preinst or post_pkg_preinst). */
export const HOOK_PHASE = 'preinst';

export interface HookArgs {
  /** The pack engine; tests may substitute one. Default: packImage. */
  packImage?: (opts: PackOptions) => Promise<PackResult>;
  /** The repack engine (for Portage's own tarball when the image has no debug dirs); tests may substitute one. */
  repackTarball?: typeof repackTarball;
  /** Reads ${PORTAGE_BUILDDIR}/build-info/BUILD_ID; tests may substitute one. */
  readFile?: ReadFile;
}

export async function runHook(args: HookArgs, io: CommandIO): Promise<number> {
  let out: PortageOutput | undefined;
  try {
    out = portageOutput(io);
    return await hook(args, io, out);
  } catch (err) {
    const msg = out ?? { eerror: (m: string) => void io.stderr.write(` * ${m}\n`) };
    if (err instanceof PackdebugError) {
      msg.eerror(`packdebug: ${printableLine(err.message)}`);
      return exitStatusFor(err.code);
    }
    const text = err instanceof Error ? err.message : String(err);
    msg.eerror(`packdebug: unexpected error: ${printableLine(text)}`);
    return 1;
  }
}

async function hook(args: HookArgs, io: CommandIO, out: PortageOutput): Promise<number> {
  const phase = io.env['EBUILD_PHASE'];
  if (phase !== undefined && phase !== '' && phase !== HOOK_PHASE) {
    out.ewarn(
      `packdebug: nothing done in the ${phase} phase: the hook belongs in pre_pkg_preinst ` +
        '(after estrip, when BUILD_ID is known); source hooks/packdebug.bashrc from /etc/portage/bashrc',
    );
    return 0;
  }

  const s: HookSettings = readHookSettings(io.env, args.readFile ?? readTextFile);
  // Names go into einfo lines: escaped (they come from the environment and the image).
  const atom = printable(`${s.category}/${s.pf}`);
  if (s.buildNumber === undefined) {
    out.ewarn(
      `packdebug: no BUILD_ID for ${atom}, nothing packed: the tarball is named after the binpkg BUILD_ID,\n` +
        'which Portage only assigns with FEATURES=binpkg-multi-instance (with buildpkg);\n' +
        "Portage's own FEATURES=packdebug skips such packages too",
    );
    return 0;
  }
  const identity = { category: s.category, pn: s.pn, pf: s.pf, buildNumber: s.buildNumber };
  validateIdentity(identity);

  const opts: PackOptions = { image: s.ed, ...identity, log: portageLogger(io, out) };
  if (s.preset !== undefined) opts.preset = s.preset;
  if (s.threads !== undefined) opts.threads = s.threads;
  if (s.blockSize !== undefined) opts.blockSize = s.blockSize;
  if (s.sourceBlockSize !== undefined) opts.sourceBlockSize = s.sourceBlockSize;
  if (s.removePacked) opts.removePacked = true;
  if (s.encoder !== 'auto') opts.encoder = s.encoder;
  if (s.sourceDateEpoch !== undefined) opts.sourceDateEpoch = s.sourceDateEpoch;

  const result = await (args.packImage ?? packImage)(opts);

  if (result.status === 'empty') {
    // Native FEATURES=packdebug with INSTALL_MASK: the debug dirs are gone before
    // pkg_preinst, only Portage's single-Block tarball is left. Make it seekable.
    const native = defaultTarballPath(s.ed, identity);
    // Never through a symlinked .tarball, CATEGORY, PN or file: the hook writes only below ${ED}.
    const st = await lstatBelow(s.ed, native);
    if (st && !st.isFile())
      throw new PackdebugError('E_UNSAFE', `${native}: exists and is not a regular file`, { file: native });
    if (st) {
      const r = await (args.repackTarball ?? repackTarball)(native, {
        blockSize: s.blockSize,
        sourceBlockSize: s.sourceBlockSize,
        preset: s.preset,
        threads: s.threads,
        encoder: s.encoder,
        root: s.ed,
      });
      out.einfo(
        r.status === 'repacked'
          ? `packdebug: ${printable(path.relative(s.ed, native))}: repacked Portage's tarball into ` +
              `${r.blocksAfter} xz Blocks (${formatSize(r.bytesBefore)} -> ${formatSize(r.bytesAfter!)}), ` +
              'tar stream verified identical'
          : `packdebug: ${printable(path.relative(s.ed, native))}: left as it is (${printable(r.reason ?? '')})`,
      );
      return 0;
    }
    out.einfo(`packdebug: no debug info in the image of ${atom}, nothing to pack`);
    return 0;
  }
  const tarball = result.tarball ?? defaultTarballPath(s.ed, identity);
  const rel = printable(path.relative(s.ed, tarball) || tarball);
  const blocks = `${result.blocks} xz Block${result.blocks === 1 ? '' : 's'}`;
  const lines = [
    `packdebug: ${rel}: ${result.members} members, ${formatSize(result.uncompressedBytes)} of tar ` +
      `in ${formatSize(result.compressedBytes)}, ${blocks}` +
      (s.buildNumberSource === 'build-info' ? ' (BUILD_ID from build-info)' : ''),
  ];
  if (result.replaced) {
    lines.push(
      s.features.includes('packdebug')
        ? "packdebug: replaced Portage's native FEATURES=packdebug tarball (same contents) with the seekable one"
        : 'packdebug: replaced the existing tarball of the same name (same contents) with the seekable one',
    );
  }
  if (s.removePacked) {
    lines.push(
      `packdebug: removed ${result.removedFiles} packed file${result.removedFiles === 1 ? '' : 's'} ` +
        `and ${result.prunedDirs} director${result.prunedDirs === 1 ? 'y' : 'ies'} that this emptied from the image`,
    );
  }
  out.einfo(lines.join('\n'));
  return 0;
}
