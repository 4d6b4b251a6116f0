import { BLOCK_SIZE, encodeHeader, paddedSize } from './header.js';

/**
 * pax extended headers (POSIX.1-2001): records "LEN key=value\n" where LEN
 * counts the whole record, its own digits included.
 */

export function encodePaxRecords(records: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    const bodyLen = Buffer.byteLength(body);
    let len = bodyLen + String(bodyLen).length;
    if (String(len).length !== String(bodyLen).length) len += 1;
    parts.push(Buffer.from(`${len}${body}`, 'utf8'));
  }
  return Buffer.concat(parts);
}

export type PaxResult = { records: Map<string, string> } | { error: string };

export function decodePaxRecords(data: Buffer): PaxResult {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // trailing NUL padding written by some tools
    const space = data.indexOf(0x20, pos);
    if (space === -1 || space - pos > 20) return { error: 'malformed pax record length' };
    const len = Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos + 1 || pos + len > data.length) {
      return { error: 'malformed pax record length' };
    }
    const record = data.subarray(space + 1, pos + len);
    if (record[record.length - 1] !== 0x0a) return { error: 'pax record does not end with a newline' };
    const eq = record.indexOf(0x3d);
    if (eq <= 0) return { error: 'pax record without a key' };
    records.set(record.toString('utf8', 0, eq), record.toString('utf8', eq + 1, record.length - 1));
    pos += len;
  }
  return { records };
}

/**
 * The pax header member (header + padded records) that precedes an entry,
 * named like GNU tar names it (DIR/PaxHeaders/BASE).
 */
export function encodePaxMember(entryName: string, records: Record<string, string>, mtime: number): Buffer {
  const data = encodePaxRecords(records);
  const trimmed = entryName.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const dir = slash === -1 ? '.' : trimmed.slice(0, slash);
  const base = trimmed.slice(slash + 1);
  // The header's own name is informative only; keep it ASCII and short enough.
  const name = `${dir}/PaxHeaders/${base}`.replace(/[^\x01-\x7f]/g, '_').slice(0, 100);
  const header = encodeHeader({
    name,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: Math.max(0, Math.min(mtime, 0o77777777777)),
    type: 'x',
    linkname: '',
    uname: 'root',
    gname: 'root',
    devmajor: 0,
    devminor: 0,
  });
  const out = Buffer.alloc(BLOCK_SIZE + paddedSize(data.length));
  header.copy(out, 0);
  data.copy(out, BLOCK_SIZE);
  return out;
}
