import type { Argv } from 'yargs';
import { httpFlagOptions } from './options.js';

export interface ServeArgs {
  /** Local trees and URLs of static mirrors of trees. */
  sources: string[];
  listen?: string;
  cache?: string;
  cacheSize?: string;
  upstream?: string[];
  /** Seconds between looks for new tarballs in local trees (0: never). */
  rescan?: string;
  timeout?: string;
  retries?: string;
}

export const serveCommand = {
  command: 'serve [sources..]',
  describe: "answer debuginfod's HTTP API from tarball trees, static mirrors of them and upstream servers",
  builder: (y: Argv) =>
    y
      .positional('sources', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe:
          'local tarball trees (read through their index, or one kept in the cache) and http(s):// URLs of mirrors',
      })
      .options({
        listen: { type: 'string', default: '127.0.0.1:8002', describe: 'HOST:PORT to listen on' },
        cache: {
          type: 'string',
          describe: 'cache directory (default: $XDG_CACHE_HOME/packdebug/serve, or ~/.cache/packdebug/serve)',
        },
        'cache-size': {
          type: 'string',
          default: '1GiB',
          describe: 'most bytes the cache holds (least recently used go first)',
        },
        upstream: {
          type: 'string',
          array: true,
          describe: 'debuginfod servers asked too (as DEBUGINFOD_URLS would be)',
        },
        rescan: {
          type: 'string',
          default: '60',
          describe: 'seconds between looks for new tarballs in local trees; 0: never',
        },
        ...httpFlagOptions('to a mirror or upstream: '),
      } as const)
      .epilog(
        'Listening on anything but 127.0.0.1 is an explicit choice (--listen 0.0.0.0:8002). SIGTERM finishes the ' +
          'requests in flight and exits 0. Metrics: /metrics (Prometheus text).',
      ),
};
