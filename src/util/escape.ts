/**
 * Names from tarballs, trees, binpkgs and servers as they may be shown on a
 * terminal. A member named `a\e[31m...\nFAKE` must neither run escape
 * sequences nor forge a line: human output passes every such name (or the
 * whole line it is in) through `printable`, which escapes as GNU tar's and
 * ls's `escape` quoting style does. `--json` output is exact and needs none
 * of this (JSON escapes control characters itself).
 *
 * Escaped: the backslash itself (`\\`, so that the output is unambiguous),
 * C0 controls (`\a \b \t \n \v \f \r`, the rest as octal: ESC is `\033`),
 * DEL (`\177`), C1 controls U+0080-U+009F, the line and paragraph
 * separators and the bidirectional overrides and isolates (U+2028-U+2029,
 * U+202A-U+202E, U+2066-U+2069: they reorder what is shown), each as the
 * octal of its UTF-8 bytes (`\302\233` for U+009B, as ls prints it). Bytes
 * that are not valid UTF-8 (given as a Uint8Array) are octal escapes too; a
 * lone surrogate in a string is `\uD800`-style.
 *
 * Apply it once, at the place where text is printed: escaping twice doubles
 * the backslashes.
 */

const NAMED: Readonly<Record<number, string>> = {
  0x07: '\\a',
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0b: '\\v',
  0x0c: '\\f',
  0x0d: '\\r',
  0x5c: '\\\\',
};

/** Matches every code unit that needs an escape (a fast path for the usual clean name). */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f\\\u007f-\u009f\u2028-\u202e\u2066-\u2069\ud800-\udfff]/;

function octal(byte: number): string {
  return `\\${byte.toString(8).padStart(3, '0')}`;
}

function escapeCodePoint(cp: number): string {
  const named = NAMED[cp];
  if (named !== undefined) return named;
  if (cp < 0x20 || cp === 0x7f) return octal(cp);
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return [...Buffer.from(String.fromCodePoint(cp), 'utf8')].map(octal).join('');
}

function isControl(cp: number): boolean {
  return (
    cp < 0x20 ||
    cp === 0x5c ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069) ||
    (cp >= 0xd800 && cp <= 0xdfff)
  );
}

function escapeString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  let out = '';
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i)!;
    // codePointAt pairs a valid surrogate pair; a lone surrogate comes back as itself.
    const width = cp > 0xffff ? 2 : 1;
    out += isControl(cp) ? escapeCodePoint(cp) : text.slice(i, i + width);
    i += width;
  }
  return out;
}

/** Length of the valid UTF-8 sequence at `i`, or 0 when the byte there does not start one. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 >= 0x90) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

function escapeBytes(bytes: Uint8Array): string {
  let out = '';
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const n = utf8SequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += escapeString(Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('utf8'));
    out += octal(bytes[i]!);
    start = ++i;
  }
  return out + escapeString(Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('utf8'));
}

/** `text` (or raw bytes, which may not be valid UTF-8) with control characters escaped, safe for a terminal. */
export function printable(text: string | Uint8Array): string {
  return typeof text === 'string' ? escapeString(text) : escapeBytes(text);
}

/** True when `text` holds a character `printable` would escape other than the backslash (audit's control-char-name). */
export function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const cu = text.charCodeAt(i);
    if (cu !== 0x5c && isControl(cu)) {
      // A valid surrogate pair is an ordinary astral character.
      if (cu >= 0xd800 && cu <= 0xdbff && i + 1 < text.length) {
        const next = text.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++;
          continue;
        }
      }
      return true;
    }
  }
  return false;
}

/**
 * An error message as one printable line: the line breaks a message may carry (and the blanks around them)
 * fold to one space, as they always have; every other control character is escaped.
 */
export function printableLine(message: string): string {
  return printable(message.replace(/\s*\n\s*/g, ' '));
}
