/**
 * Whether a source names a URL packdebug reads remotely (http, https, file)
 * rather than a local path. Its own module, free of the HTTP code, so that
 * extract's start-up can ask without loading it.
 */
export function isUrl(source: string): boolean {
  return /^(https?|file):\/\//i.test(source);
}
