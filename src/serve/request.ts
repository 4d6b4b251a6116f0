/**
 * debuginfod's HTTP API as elfutils documents it (debuginfod(8), "WEBAPI"):
 * what a request path asks for, or why it is refused. Pure.
 */
import { isBuildId } from '../mirror/format.js';

export type ArtifactKind = 'debuginfo' | 'executable' | 'source' | 'section';

export type ParsedRequest =
  | { what: 'artifact'; kind: ArtifactKind; buildId: string; path?: string; section?: string }
  | { what: 'metrics' }
  | { what: 'refused'; status: number; reason: string };

/** Longest request target accepted (debuginfod's own limit is MHD's 8 KiB buffer). */
export const MAX_TARGET = 8192;

/**
 * A source path as debuginfod canonicalizes it: percent-decoded, `//` and
 * `/./` collapsed, `..` resolved; absolute. Undefined when `..` would climb
 * above `/` or the path holds a NUL.
 */
export function canonicalSourcePath(raw: string): string | undefined {
  if (raw.includes('\0')) return undefined;
  const out: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(part);
  }
  return `/${out.join('/')}`;
}

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/** Parses a request target (`/buildid/ID/KIND[/...]`, `/metrics`); the query string is ignored. */
export function parseRequest(target: string): ParsedRequest {
  if (target.length > MAX_TARGET) return { what: 'refused', status: 414, reason: 'request target too long' };
  const pathname = target.split('?')[0]!;
  if (pathname === '/metrics') return { what: 'metrics' };
  const m = /^\/buildid\/([^/]+)\/(debuginfo|executable|source|section)(\/.*)?$/.exec(pathname);
  if (!m) return { what: 'refused', status: 404, reason: 'not a debuginfod request' };
  const buildId = decode(m[1]!)?.toLowerCase();
  if (buildId === undefined || !isBuildId(buildId))
    return { what: 'refused', status: 400, reason: 'the build-id is not an even number of hex digits' };
  const kind = m[2] as ArtifactKind;
  const rest = m[3];
  if (kind === 'debuginfo' || kind === 'executable') {
    return rest === undefined
      ? { what: 'artifact', kind, buildId }
      : { what: 'refused', status: 404, reason: 'no such file' };
  }
  if (rest === undefined || rest === '/') return { what: 'refused', status: 400, reason: `${kind} needs a name` };
  const decoded = decode(rest);
  if (decoded === undefined) return { what: 'refused', status: 400, reason: 'bad percent-encoding' };
  if (kind === 'section') {
    const name = decoded.slice(1);
    if (name === '' || name.includes('/') || name.includes('\0') || name.length > 256)
      return { what: 'refused', status: 400, reason: 'bad section name' };
    return { what: 'artifact', kind, buildId, section: name };
  }
  const path = canonicalSourcePath(decoded);
  if (path === undefined || path === '/') return { what: 'refused', status: 400, reason: 'bad source path' };
  return { what: 'artifact', kind, buildId, path };
}
