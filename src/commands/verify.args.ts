import type { Argv } from 'yargs';
import type { VerifyOptions } from '../debuginfod/verify.js';
import { jobsOption, jsonOption, withTargets } from './options.js';

export interface VerifyArgs extends Omit<VerifyOptions, 'env'> {
  json?: boolean;
}

export const verifyCommand = {
  command: 'verify [targets..]',
  describe: 'check that debuginfod servers serve every build-id of the tarballs (after publishing, in CI)',
  builder: (y: Argv) =>
    withTargets(y, 'tarballs, or trees of them')
      .options({
        server: {
          // `servers`: the name of the list in VerifyArgs.
          alias: ['s', 'servers'],
          type: 'string',
          array: true,
          describe: 'debuginfod server URL, repeatable (default: DEBUGINFOD_URLS)',
        },
        jobs: { ...jobsOption('requests in flight at once, over all servers').jobs, default: 8 },
        deep: {
          type: 'boolean',
          default: false,
          describe: 'download what is served and compare it with the tarball member (SHA-256)',
        },
        'every-server': {
          type: 'boolean',
          default: false,
          describe: 'every server must serve every build-id (default: one is enough, as for a client)',
        },
        retries: {
          type: 'number',
          default: 4,
          describe: 'retries of a request after 5xx, 429 or a transport error (capped exponential backoff with jitter)',
        },
        deadline: { type: 'number', default: 600, describe: 'total time allowed, in seconds' },
        'attempt-timeout': {
          type: 'number',
          default: 60,
          describe: 'seconds one request may wait for its response headers',
        },
        'body-timeout': {
          type: 'number',
          default: 30,
          describe: 'with --deep: seconds in which a body must bring 1 KiB (or end); slower bodies are retried',
        },
        ...jsonOption(
          'print {ok, deep, tarballs, unreadable, artifacts, served, servers[{url, ' +
            'served, missing, mismatched, unauthorized, errors}]} as JSON',
        ),
      } as const)
      .example('$0 verify /srv/debug/.tarball --server http://binhost:8002', '')
      .epilog(
        '404/410 from a server: not there; 401/403: credentials needed; 5xx, 429 and network errors are retried. ' +
          'Exit status: 0 every build-id served, ' +
          '1 some missing, mismatched or unanswered, 2 usage or input error.',
      ),
};
