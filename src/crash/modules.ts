/**
 * What one argument of `packdebug core` loads: for a core, the modules of
 * the crashed process (build-ids read from the core's memory, or from the
 * file on disk when the core lacks the ELF header page, marked as such);
 * for an executable or a shared library, the file itself and the libraries
 * its DT_NEEDED entries name, found on this system as ld.so would.
 */
import fs from 'node:fs/promises';
import { PackdebugError, fromSystemError } from '../errors.js';
import { type CoreModule, coreModules, type ModuleKind, type PackageNote } from '../elf/core-modules.js';
import { type CoreProcess, readCore } from '../elf/core.js';
import { elfType } from '../elf/header.js';
import { fdSource, inspectElf, type ByteSource, type ElfInfo } from '../elf/index.js';
import { resolveNeeded } from '../system/needed.js';
import { openInput, type Compression } from './input.js';

export type SubjectType = 'core' | 'executable' | 'library';

export interface Module {
  kind: ModuleKind | 'needed';
  /** Where the module was mapped (cores only): [start, end). */
  start?: number;
  end?: number;
  /** Its file: the NT_FILE name of a core's mapping, or the path found on this system. */
  path?: string;
  /** For DT_NEEDED libraries: the name asked for, and by which file. */
  needed?: { name: string; by: string };
  buildId?: string;
  /** 'core': read from the core's memory; 'file': from the file at `path` on this system. */
  buildIdFrom?: 'core' | 'file';
  /** The FDO packaging note (.note.package), when the module has one. */
  package?: PackageNote;
  /** Why there is no build-id, or what else was odd. */
  problem?: string;
}

export interface Subject {
  file: string;
  type: SubjectType;
  compression?: Compression;
  process?: CoreProcess;
  modules: Module[];
  /** What was malformed or could not be read in the file itself. */
  problems: string[];
}

export async function readSubject(file: string, env: NodeJS.ProcessEnv): Promise<Subject> {
  const input = await openInput(file, env);
  try {
    const core = readCore(input.source);
    if (!('notCore' in core)) {
      const modules = await Promise.all(coreModules(core, input.source).map((m) => fromCore(m)));
      const problems = [core.malformed, core.incomplete].filter((p): p is string => p !== undefined);
      if (core.files.length === 0) problems.push('the core has no NT_FILE note: module names are unknown');
      return {
        file,
        type: 'core',
        ...(input.compression ? { compression: input.compression } : {}),
        process: core.process,
        modules: modules.filter((m): m is Module => m !== undefined),
        problems,
      };
    }
    if (core.notCore === 'not-elf' || input.compression)
      throw new PackdebugError('E_INPUT', `${file}: not an ELF file (a core, an executable or a shared library)`, {
        file,
      });
    return await fromBinary(file, input.source, core.type);
  } finally {
    await input.close();
  }
}

async function fromCore(m: CoreModule): Promise<Module | undefined> {
  const out: Module = { kind: m.kind, start: m.start, end: m.end };
  if (m.path !== undefined) out.path = m.path;
  if (m.package) out.package = m.package;
  if (m.buildId !== undefined) {
    out.buildId = m.buildId;
    out.buildIdFrom = 'core';
    return out;
  }
  const why = m.headerInCore ? 'its build-id note is not in the core' : 'its ELF header page is not in the core';
  const onDisk = await buildIdOnDisk(m.path);
  if (onDisk === 'not-elf') return m.headerInCore ? { ...out, problem: why } : undefined;
  if (typeof onDisk === 'object') return { ...out, buildId: onDisk.buildId, buildIdFrom: 'file' };
  return { ...out, problem: `${why}, and ${onDisk}` };
}

/**
 * The build-id of the file a core mapped, read on this system: only for an
 * absolute path of a file that still exists (a name ending in " (deleted)"
 * was unlinked). Symlinks are followed: this only reads.
 */
async function buildIdOnDisk(path: string | undefined): Promise<{ buildId: string } | 'not-elf' | string> {
  if (path === undefined) return 'its file is not named (no NT_FILE entry)';
  if (path.endsWith(' (deleted)')) return 'its file was deleted before the crash';
  if (!path.startsWith('/') || path.includes('\0')) return 'its file name is not an absolute path';
  const elf = await elfOfFile(path);
  if (elf === 'missing') return `${path} is not on this system`;
  if (elf === undefined) return 'not-elf';
  return elf.gnuBuildId ? { buildId: elf.gnuBuildId } : `${path} has no build-id`;
}

/**
 * What inspectElf says of the file at `path` (symlinks followed: this only
 * reads): undefined when it is no regular ELF file, 'missing' when it cannot
 * be opened.
 */
export async function elfOfFile(path: string): Promise<ElfInfo | undefined | 'missing'> {
  const fh = await fs.open(path, 'r').catch(() => undefined);
  if (!fh) return 'missing';
  try {
    const st = await fh.stat();
    return st.isFile() ? inspectElf(fdSource(fh.fd, st.size)) : undefined;
  } finally {
    await fh.close();
  }
}

async function fromBinary(file: string, source: ByteSource, eType: number): Promise<Subject> {
  const type = elfType(eType);
  if (type !== 'exec' && type !== 'dyn')
    throw new PackdebugError('E_INPUT', `${file}: an ELF ${type} file, not a core, executable or shared library`, {
      file,
    });
  const elf = inspectElf(source);
  const self: Module = { kind: 'main', path: file };
  if (elf?.gnuBuildId) Object.assign(self, { buildId: elf.gnuBuildId, buildIdFrom: 'file' });
  else self.problem = 'it has no GNU build-id';
  const resolved = await resolveNeeded(file).catch((err: unknown) => {
    throw err instanceof PackdebugError ? err : fromSystemError(err, file, 'reading its dynamic section');
  });
  const modules: Module[] = [self];
  for (const lib of resolved.libraries) {
    const m: Module = { kind: 'needed', needed: { name: lib.name, by: lib.neededBy } };
    if (lib.path === undefined) m.problem = 'not found on this system';
    else {
      m.path = lib.path;
      // realPath: symlinks resolved (what is read); path: the name the loader uses (what is shown).
      const id = await buildIdOnDisk(lib.realPath ?? lib.path);
      if (typeof id === 'object') Object.assign(m, { buildId: id.buildId, buildIdFrom: 'file' });
      else m.problem = id === 'not-elf' ? `${lib.path} is not ELF` : id;
    }
    modules.push(m);
  }
  // A PIE executable is ET_DYN too: what tells it from a library is its interpreter (PT_INTERP).
  const isProgram = type === 'exec' || resolved.interpreter !== undefined;
  const problems = [resolved.malformed, resolved.incomplete].filter((p): p is string => p !== undefined);
  return { file, type: isProgram ? 'executable' : 'library', modules, problems };
}
