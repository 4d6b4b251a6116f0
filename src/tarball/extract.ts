import type { ElfCapture } from '../elf/index.js';
import { PackdebugError } from '../errors.js';
import type { TarEntry } from '../tar/parse.js';
import type { BuildIdKind, ElfMember } from './elf-members.js';
import { normalizeMemberName, resolveLinkTarget } from './order.js';
import type { Sink, TarballReader } from './reader.js';

export interface Extraction {
  entry: TarEntry;
  /** How the member was found (see FoundMember.via). */
  via: 'index' | 'cache' | 'scan';
}

/**
 * Follows hardlinks inside the archive to the member that holds the data
 * (handing that data to `sink`); refuses symlinks and non-files.
 */
async function dataMember(reader: TarballReader, entry: TarEntry, requested: string, sink?: Sink): Promise<TarEntry> {
  let current = entry;
  for (let hops = 0; current.type === '1'; hops++) {
    if (hops > 8) throw new PackdebugError('E_FORMAT', `${reader.path}: hardlink chain at ${requested} is too long`);
    const target = (await reader.find(normalizeMemberName(current.linkpath), sink))?.entry;
    if (!target)
      throw new PackdebugError(
        'E_FORMAT',
        `${reader.path}: ${current.path} is a hardlink to ${current.linkpath}, which is not in the archive`,
      );
    current = target;
  }
  if (current.type === '2') {
    throw new PackdebugError(
      'E_UNSAFE',
      `${reader.path}: ${current.path} is a symlink to ${current.linkpath}; not followed (ask for the target)`,
    );
  }
  if (current.type !== '0' && current.type !== '7') {
    throw new PackdebugError('E_INPUT', `${reader.path}: ${current.path} is not a regular file`);
  }
  return current;
}

/** Finds a member by path and returns the entry holding its data; with `sink`, the data too, in the same pass. */
export async function findByPath(reader: TarballReader, member: string, sink?: Sink): Promise<Extraction | undefined> {
  const name = normalizeMemberName(member);
  const found = await reader.find(name, sink);
  if (!found) return undefined;
  return { entry: await dataMember(reader, found.entry, name, sink), via: found.via };
}

/** What a build-id lookup that trusts estrip links may answer besides found and absent. */
export type BuildIdLookup = Extraction | undefined | 'no-link';

/**
 * Finds the member debuginfod would serve for a build-id. The estrip link
 * `.build-id/xx/rest.debug` names a candidate cheaply; the candidate counts
 * only if its ELF note says so, as debuginfod decides by notes, not names.
 * Otherwise every ELF member is inspected in one sequential pass.
 */
export async function findByBuildId(
  reader: TarballReader,
  buildId: string,
  kind: BuildIdKind,
  sink?: Sink,
): Promise<Extraction | undefined> {
  const r = await lookupBuildId(reader, buildId, kind, sink, { trustLinks: false });
  return r === 'no-link' ? undefined : r;
}

/**
 * findByBuildId, but with `trustLinks` a tarball in packdebug's sorted
 * layout whose estrip link does not lead to the build-id answers 'no-link'
 * instead of being read in full: a tree search asks every tarball so first,
 * and reads them in full only when no tarball had the link.
 */
export async function lookupBuildId(
  reader: TarballReader,
  buildId: string,
  kind: BuildIdKind,
  sink: Sink | undefined,
  options: { trustLinks: boolean },
): Promise<BuildIdLookup> {
  const id = buildId.toLowerCase();
  if (!/^[0-9a-f]{2,}$/.test(id) || id.length % 2 !== 0)
    throw new PackdebugError('E_USAGE', `invalid build-id '${buildId}': expected hex digits`);
  // The ELF code is loaded only for build-id lookups (extract's start-up counts).
  const [{ ElfCapture }, { inspectCaptured, inspectingVisitor, matchesBuildId, SecondLooks }] = await Promise.all([
    import('../elf/index.js'),
    import('./elf-members.js'),
  ]);
  const link = `./usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}${kind === 'debuginfo' ? '.debug' : ''}`;
  // Through the layout only: in other tarballs a name lookup is a full read, and the scan below is one too.
  const hint = await reader.findIndexed(link);
  const target = hint?.type === '2' ? resolveLinkTarget(hint.path, hint.linkpath) : undefined;
  if (target) {
    // Read the candidate once, into the ELF inspection and the caller's sink (begin() drops it again if it is
    // the wrong file).
    let capture: ElfCapture | undefined;
    const candidate = await findByPath(reader, target, {
      begin(entry) {
        capture = new ElfCapture(entry.size);
        sink?.begin?.(entry);
      },
      write(chunk) {
        capture?.push(chunk);
        sink?.write(chunk);
      },
      drained: () => sink?.drained?.(),
    }).catch(() => undefined);
    const elf = candidate && capture ? await inspectCaptured(reader.ra, candidate.entry, capture) : undefined;
    if (candidate && elf && matchesBuildId(elf, id, kind)) return { entry: candidate.entry, via: 'index' };
  }
  if (options.trustLinks && reader.seekable && (await reader.locator.isSeekableLayout())) return 'no-link';
  const members = reader.seekable ? await reader.members() : undefined;
  if (members) {
    const m = members.find((x) => x.buildId === id && (kind === 'debuginfo' ? x.debuginfo : x.executable));
    if (!m) return undefined;
    if (sink) await reader.readData(m.entry, sink);
    return { entry: m.entry, via: 'cache' };
  }
  let match: TarEntry | undefined;
  const onElf = (m: ElfMember) => {
    if (matchesBuildId(m.elf, id, kind)) match ??= m.entry;
  };
  // ELF files the scan could not decide (a note it had passed) are read again where their notes are.
  const later = new SecondLooks();
  await reader.scan(inspectingVisitor(onElf, undefined, later), () => match !== undefined);
  if (!match) await later.complete(reader.ra, onElf, () => match !== undefined);
  if (!match) return undefined;
  if (sink) await reader.readData(match, sink);
  return { entry: match, via: 'scan' };
}
