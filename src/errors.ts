/**
 * Typed errors. Every failure that a user can cause or meet carries a stable
 * code; the CLI maps codes to exit statuses and prints `message` on one line.
 */
export type ErrorCode =
  | 'E_USAGE' // bad command line or settings
  | 'E_INPUT' // an input file or directory is unusable (missing, wrong type)
  | 'E_UNSAFE' // input that packdebug refuses to store or follow (symlink escape, odd file type, unstorable name)
  | 'E_CHANGED' // an input changed while being read (an image being packed, a binpkg converted, a tarball repacked)
  | 'E_FORMAT' // malformed xz or tar data
  | 'E_UNSUPPORTED' // valid but unsupported data (xz filter, check type)
  | 'E_VERIFY' // a written tarball did not read back identical to its source
  | 'E_NOSPC' // no space left on the destination
  | 'E_IO' // any other I/O failure
  | 'E_AUTH' // a server wants credentials (HTTP 401 or 403)
  | 'E_NETWORK' // a server could not be reached, or kept failing (network errors, timeouts, 5xx, 429)
  | 'E_NOT_FOUND'; // a requested member or build-id is not there

export class PackdebugError extends Error {
  readonly code: ErrorCode;
  /** The file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(code: ErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PackdebugError';
    this.code = code;
    this.file = options.file;
  }
}

/**
 * Exit statuses: 1 = the job failed, 2 = usage or input problem. A signal
 * is no error: AtomicFile cleans up and the process dies of it (128+N).
 */
export function exitStatusFor(code: ErrorCode): number {
  switch (code) {
    case 'E_USAGE':
    case 'E_INPUT':
      return 2;
    default:
      return 1;
  }
}

/** Wraps a Node.js system error into a PackdebugError naming the file. */
export function fromSystemError(err: unknown, file: string, doing: string): PackdebugError {
  if (err instanceof PackdebugError) return err;
  const e = err as NodeJS.ErrnoException;
  const errno = e?.code ?? '';
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new PackdebugError('E_NOSPC', `${file}: no space left on device while ${doing}`, { file, cause: err });
  }
  const reason = e?.message ? e.message.replace(/^[A-Z]+: /, '').replace(/, [a-z]+ '.*'$/, '') : String(err);
  return new PackdebugError('E_IO', `${file}: ${doing} failed: ${reason}`, { file, cause: err });
}
