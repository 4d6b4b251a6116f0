/**
 * The members of an uncompressed tar file, read by position: headers only,
 * data skipped with a seek. GPKG's outer container is such a tar, and its
 * payloads are read later as byte ranges of the file.
 */
import type { FileHandle } from 'node:fs/promises';
import { PackdebugError } from '../errors.js';
import { BLOCK_SIZE, decodeHeader, paddedSize } from '../tar/header.js';
import { TAR_META_LIMIT } from '../tar/parse.js';
import { decodePaxRecords, PAX_KEYS, parsePaxNumber } from '../tar/pax.js';

export interface OuterMember {
  name: string;
  /** Tar type flag ('0' regular file, '5' directory, ...). */
  type: string;
  size: number;
  /** Offset of the member's data in the file. */
  dataOffset: number;
}

/** A GPKG holds a handful of members; more than this is not a binpkg. */
const MAX_MEMBERS = 64;

export async function listOuterTar(fh: FileHandle, fileSize: number, file: string): Promise<OuterMember[]> {
  const members: OuterMember[] = [];
  const header = Buffer.alloc(BLOCK_SIZE);
  const bad = (why: string) => new PackdebugError('E_FORMAT', `${file}: ${why}`, { file });
  let offset = 0;
  let longName: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    if (offset + BLOCK_SIZE > fileSize) {
      // GNU tar accepts a missing end-of-archive marker, but a member cut short is truncation.
      if (offset === fileSize && members.length > 0) return members;
      throw bad(`truncated (the outer tar ends inside a header at offset ${offset})`);
    }
    const { bytesRead } = await fh.read(header, 0, BLOCK_SIZE, offset);
    if (bytesRead !== BLOCK_SIZE) throw bad(`truncated (short read at offset ${offset})`);
    const decoded = decodeHeader(header);
    if ('zero' in decoded) return members;
    if ('error' in decoded) throw bad(`not a tar archive (${decoded.error} at offset ${offset})`);
    const h = decoded.header;
    const dataOffset = offset + BLOCK_SIZE;
    const size = h.type === '5' || h.type === '1' || h.type === '2' ? 0 : h.size;
    if (dataOffset + size > fileSize)
      throw bad(
        `truncated (member '${h.name}' needs ${size} bytes at offset ${dataOffset}, the file has ${fileSize - dataOffset})`,
      );
    offset = dataOffset + paddedSize(size);
    if (h.type === 'x' || h.type === 'L' || h.type === 'g') {
      if (size > TAR_META_LIMIT) throw bad(`extended header of ${size} bytes at offset ${dataOffset - BLOCK_SIZE}`);
      const data = Buffer.alloc(size);
      await fh.read(data, 0, size, dataOffset);
      if (h.type === 'L') {
        const nul = data.indexOf(0);
        longName = data.toString('utf8', 0, nul === -1 ? size : nul);
      } else {
        const parsed = decodePaxRecords(data, PAX_KEYS);
        if ('error' in parsed) throw bad(`${parsed.error} at offset ${dataOffset - BLOCK_SIZE}`);
        // GNU tar applies a global header to what follows, libarchive ignores it: refuse what that changes.
        if (h.type === 'g' && (parsed.records.has('size') || parsed.records.has('path')))
          throw bad(`a global pax header at offset ${dataOffset - BLOCK_SIZE} sets the size or name of every member`);
        if (h.type === 'x') pax = parsed.records;
      }
      continue;
    }
    const paxSize = pax.get('size');
    let realSize = size;
    if (paxSize !== undefined && size === h.size) {
      const n = parsePaxNumber('size', paxSize);
      // GNU tar would ignore the record, libarchive reads a number of its own: no single reading.
      if ('error' in n) throw bad(`pax record ${n.error} in the outer tar at offset ${dataOffset - BLOCK_SIZE}`);
      realSize = n.value;
    }
    if (realSize !== size) {
      if (dataOffset + realSize > fileSize)
        throw bad(`truncated (member needs ${realSize} bytes at offset ${dataOffset})`);
      offset = dataOffset + paddedSize(realSize);
    }
    members.push({ name: pax.get('path') ?? longName ?? h.name, type: h.type, size: realSize, dataOffset });
    longName = undefined;
    pax = new Map();
    if (members.length > MAX_MEMBERS)
      throw bad(`more than ${MAX_MEMBERS} members in the outer tar; not a binary package`);
  }
}
