import { PackdebugError } from '../errors.js';

/**
 * Server URLs from `--server` options, else DEBUGINFOD_URLS, read as
 * elfutils' client reads it: whitespace-separated; `ima:POLICY` tokens
 * (elfutils 0.190+, they set signature checking for the URLs after them)
 * are not servers and are skipped; a token without a scheme is http, as
 * curl takes it. Trailing slashes are dropped. http, https and file
 * (a local directory laid out as `DIR/buildid/ID/KIND`, which the client
 * reads through curl) are served; anything else is a usage error.
 */
export function serverUrls(explicit: readonly string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  const fromEnv = !(explicit && explicit.length > 0);
  const given = fromEnv
    ? (env['DEBUGINFOD_URLS'] ?? '').split(/\s+/).filter((t) => t !== '' && !/^ima:/i.test(t))
    : explicit;
  if (given.length === 0)
    throw new PackdebugError('E_USAGE', 'no debuginfod server: give --server URL or set DEBUGINFOD_URLS');
  const urls: string[] = [];
  for (const raw of given) {
    let url: URL;
    try {
      url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
    } catch {
      throw new PackdebugError('E_USAGE', `invalid debuginfod server URL '${raw}'`);
    }
    if (!['http:', 'https:', 'file:'].includes(url.protocol))
      throw new PackdebugError('E_USAGE', `debuginfod server URL '${raw}' is not http, https or file`);
    const text = url.toString().replace(/\/+$/, '');
    if (!urls.includes(text)) urls.push(text);
  }
  return urls;
}
