/**
 * xz variable-length integers (spec 1.2): 7 bits a byte, little endian, at
 * most 9 bytes, no superfluous trailing zero byte. Values are kept as JS
 * numbers: anything above 2^53 is refused as unsupported rather than
 * silently rounded.
 */

export const VLI_MAX_BYTES = 9;

export function encodeVli(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not an xz VLI: ${value}`);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

export type VliResult = { value: number; size: number } | { error: string };

/** Decodes a VLI at `offset`; `limit` is where the enclosing field ends. */
export function decodeVli(buf: Uint8Array, offset: number, limit = buf.length): VliResult {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < VLI_MAX_BYTES; i++) {
    if (offset + i >= limit) return { error: 'truncated variable-length integer' };
    const byte = buf[offset + i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) return { error: 'variable-length integer with a superfluous zero byte' };
      if (!Number.isSafeInteger(value)) return { error: 'integer larger than 2^53 (unsupported)' };
      return { value, size: i + 1 };
    }
    scale *= 0x80;
  }
  return { error: 'variable-length integer longer than 9 bytes' };
}
