/**
 * The members of an uncompressed tar file, read by position: headers only,
 * data skipped with a seek. GPKG's outer container is such a tar, and its
 * payloads are read later as byte ranges of the file.
 */
import type { FileHandle } from 'node:fs/promises';
import { PackdebugError } from '../errors.js';
import { BLOCK_SIZE, paddedSize } from '../tar/header.js';
import { type AmbiguityHandler, TarHeaderReader } from '../tar/header-reader.js';

export interface OuterMember {
  name: string;
  /** Tar type flag (see tar/types.ts). */
  type: string;
  size: number;
  /** Offset of the member's data in the file. */
  dataOffset: number;
}

/** A GPKG holds a handful of members; more than this is not a binpkg. */
const MAX_MEMBERS = 64;

export async function listOuterTar(fh: FileHandle, fileSize: number, file: string): Promise<OuterMember[]> {
  const members: OuterMember[] = [];
  const bad = (why: string) => new PackdebugError('E_FORMAT', `${file}: ${why}`, { file });
  const headers = new TarHeaderReader(file, refuseReframing(bad));
  const block = Buffer.alloc(BLOCK_SIZE);
  let offset = 0;
  for (;;) {
    if (offset + BLOCK_SIZE > fileSize) {
      // GNU tar accepts a missing end-of-archive marker, but a member cut short is truncation.
      if (offset === fileSize && members.length > 0) return members;
      throw bad(`truncated (the outer tar ends inside a header at offset ${offset})`);
    }
    await readAt(fh, block, offset, bad);
    const step = headers.header(block, offset);
    const dataOffset = offset + BLOCK_SIZE;
    switch (step.kind) {
      case 'zero':
      case 'end':
        return members;
      case 'invalid':
        throw bad(`not a tar archive (${step.error} at offset ${offset})`);
      case 'meta': {
        checkFits(step.name, step.size, dataOffset, fileSize, bad);
        const data = Buffer.alloc(step.size);
        await readAt(fh, data, dataOffset, bad);
        headers.meta(data);
        offset = dataOffset + paddedSize(step.size);
        break;
      }
      case 'entry': {
        const { path: name, type, size } = step.entry;
        checkFits(name, size, dataOffset, fileSize, bad);
        members.push({ name, type, size, dataOffset });
        if (members.length > MAX_MEMBERS)
          throw bad(`more than ${MAX_MEMBERS} members in the outer tar; not a binary package`);
        offset = dataOffset + paddedSize(size);
        break;
      }
    }
  }
}

/**
 * Tar readers that would find other members in the outer tar are not all
 * read alike: what changes a member's name or size for one of them (GNU tar
 * applies a global header, libarchive ignores it) is refused; the rest is
 * read as GNU tar reads it.
 */
function refuseReframing(bad: (why: string) => PackdebugError): AmbiguityHandler {
  return (_message, _member, { kind, key, error, at }) => {
    const global = kind === 'global-conflict' || kind === 'global-number';
    if (global && (key === 'size' || key === 'path'))
      throw bad(`a global pax header at offset ${at} sets the size or name of every member`);
    // GNU tar would ignore the record, libarchive reads a number of its own: no single reading.
    if (kind === 'pax-number' && key === 'size') throw bad(`pax record ${error} in the outer tar at offset ${at}`);
  };
}

function checkFits(
  name: string,
  size: number,
  dataOffset: number,
  fileSize: number,
  bad: (why: string) => PackdebugError,
): void {
  if (dataOffset + size > fileSize)
    throw bad(
      `truncated (member '${name}' needs ${size} bytes at offset ${dataOffset}, the file has ${fileSize - dataOffset})`,
    );
}

async function readAt(
  fh: FileHandle,
  buf: Buffer,
  offset: number,
  bad: (why: string) => PackdebugError,
): Promise<void> {
  const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
  if (bytesRead !== buf.length) throw bad(`truncated (short read at offset ${offset})`);
}
