import { BLOCK_SIZE, encodeHeader, paddedSize } from './header.js';
import { TarType } from './types.js';

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

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;
const isBlank = (c: number | undefined): boolean => c === 0x20 || c === 0x09;

/**
 * Reads records as GNU tar 1.34 does (decode_record): optional blanks, a
 * decimal length, blanks, `key=value`, a newline; a NUL where a record
 * would start ends them. Values end at their first NUL, as GNU tar's C
 * strings do. A later record with the same key wins. With `keep`, only
 * those keys are returned (a header of 1 MiB can hold 200,000 records).
 */
export function decodePaxRecords(data: Buffer, keep?: ReadonlySet<string>): PaxResult {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    let p = pos;
    while (isBlank(data[p])) p++;
    if (p >= data.length || data[p] === 0) break; // trailing NUL padding written by some tools
    if (!isDigit(data[p])) return { error: 'malformed pax record length' };
    let len = 0;
    for (; isDigit(data[p]); p++) {
      len = len * 10 + (data[p]! - 0x30);
      if (len > data.length - pos) return { error: 'malformed pax record length' };
    }
    const next = pos + len;
    const lengthEnd = p;
    while (isBlank(data[p])) p++;
    if (p === lengthEnd) return { error: 'malformed pax record length' };
    let eq = p;
    while (eq < next && data[eq] !== 0x3d && data[eq] !== 0) eq++;
    if (eq >= next || data[eq] !== 0x3d) return { error: 'pax record without a key' };
    if (data[next - 1] !== 0x0a) return { error: 'pax record does not end with a newline' };
    if (eq === p) return { error: 'pax record without a key' };
    const key = data.toString('utf8', p, eq);
    if (keep === undefined || keep.has(key)) {
      const nul = data.indexOf(0, eq + 1);
      const end = nul === -1 || nul > next - 1 ? next - 1 : nul;
      records.set(key, data.toString('utf8', eq + 1, end));
    }
    pos = next;
  }
  return { records };
}

/** The pax keys packdebug interprets; the parsers keep no other record. */
export const PAX_KEYS: ReadonlySet<string> = new Set([
  'path',
  'linkpath',
  'size',
  'mtime',
  'uid',
  'gid',
  'uname',
  'gname',
]);

const TIME_KEYS = new Set(['mtime', 'atime', 'ctime']);
const ID_MAX = 0xffffffff; // uid_t and gid_t

export type PaxNumber = { value: number } | { error: string };

/**
 * A numeric pax value as GNU tar 1.34 decodes it (decode_num, decode_time):
 * decimal digits only, a `-` only before a time (or before zeros), a
 * fraction only in a time (cut towards minus infinity to whole seconds); no
 * `+`, hex, blanks or empty value. GNU tar ignores a record it rejects (it
 * warns and keeps the value of the ustar header); libarchive reads `0x400`
 * as 0. Values beyond 2^53 are refused too (packdebug cannot hold them).
 */
export function parsePaxNumber(key: string, text: string): PaxNumber {
  const time = TIME_KEYS.has(key);
  const m = (time ? /^(-?)([0-9]+)(?:\.([0-9]*))?$/ : /^(-?)([0-9]+)$/).exec(text);
  if (m === null) return { error: `${key}=${text} is not a decimal number` };
  let value = Number(m[2]!);
  const max = key === 'uid' || key === 'gid' ? ID_MAX : Number.MAX_SAFE_INTEGER;
  if (value > max) return { error: `${key}=${text} is out of range` };
  if (m[1] === '-') {
    if (!time && value !== 0) return { error: `${key}=${text} is out of range` };
    if (time) value = -value - (/[1-9]/.test(m[3] ?? '') ? 1 : 0);
  }
  return { value: value === 0 ? 0 : value }; // no -0
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
  // eslint-disable-next-line no-control-regex -- keeps the ASCII range without NUL, as a ustar name field needs
  const name = `${dir}/PaxHeaders/${base}`.replace(/[^\x01-\x7f]/g, '_').slice(0, 100);
  const header = encodeHeader({
    name,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: Math.max(0, Math.min(mtime, 0o77777777777)),
    type: TarType.pax,
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
