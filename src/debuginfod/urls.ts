import { PackdebugError } from '../errors.js';

/**
 * Server URLs from `--server` options, else DEBUGINFOD_URLS (space-separated,
 * as elfutils reads it). Trailing slashes are dropped; only http and https.
 */
export function serverUrls(explicit: readonly string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  const given = explicit && explicit.length > 0 ? explicit : (env['DEBUGINFOD_URLS'] ?? '').split(/\s+/).filter(Boolean);
  if (given.length === 0) throw new PackdebugError('E_USAGE', 'no debuginfod server: give --server URL or set DEBUGINFOD_URLS');
  const urls: string[] = [];
  for (const raw of given) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new PackdebugError('E_USAGE', `invalid debuginfod server URL '${raw}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PackdebugError('E_USAGE', `debuginfod server URL '${raw}' is not http or https`);
    const text = url.toString().replace(/\/+$/, '');
    if (!urls.includes(text)) urls.push(text);
  }
  return urls;
}
