import os from 'node:os';
import path from 'node:path';
import { PackdebugError } from '../errors.js';
import { httpOptionsFromFlags } from '../http/client.js';
import { DiskCache } from '../serve/cache.js';
import { DebuginfodServer } from '../serve/server.js';
import { openSources } from '../serve/sources.js';
import { printableLine } from '../util/escape.js';
import type { CommandIO } from '../util/io.js';
import { parseNumberOption, parseSize } from '../util/size.js';
import type { ServeArgs } from './serve.args.js';

function listenAddress(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new PackdebugError('E_USAGE', `--listen: '${value}' is not HOST:PORT`);
  return { host: m[1] ?? m[2]!, port };
}

export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'packdebug', 'serve');
}

/** Runs until SIGTERM or SIGINT; `ready` (tests) gets the server once it listens. */
export async function runServe(
  args: ServeArgs,
  io: CommandIO,
  ready?: (server: DebuginfodServer, url: string) => void,
): Promise<number> {
  const { host, port } = listenAddress(args.listen ?? '127.0.0.1:8002');
  const cacheSize = parseSize(args.cacheSize ?? '1GiB', '--cache-size');
  const cacheDir = path.resolve(args.cache ?? defaultCacheDir(io.env));
  const log = (m: string) => io.stderr.write(`packdebug: ${printableLine(m)}\n`);
  const http = httpOptionsFromFlags(args, log);
  const sources = await openSources(args.sources ?? [], args.upstream ?? [], {
    cacheDir,
    http,
    env: io.env,
    log: { warn: (m) => log(`warning: ${m}`) },
  });
  if (sources.length === 0) throw new PackdebugError('E_USAGE', 'give at least one tree, mirror URL or --upstream');
  const server = new DebuginfodServer({ sources, cache: new DiskCache(cacheDir, cacheSize), log });
  await server.listen(port, host).catch((err: NodeJS.ErrnoException) => {
    const why =
      err.code === 'EADDRINUSE'
        ? 'address already in use'
        : err.code === 'EACCES'
          ? 'permission denied'
          : (err.code ?? err.message);
    throw new PackdebugError('E_IO', `--listen ${args.listen}: ${why}`);
  });
  const address = server.http.address();
  const url =
    typeof address === 'object' && address ? `http://${host.includes(':') ? `[${host}]` : host}:${address.port}` : '';
  log(`serving ${sources.length} source${sources.length === 1 ? '' : 's'} on ${url} (cache ${cacheDir})`);
  const rescan = parseNumberOption('rescan', args.rescan, 60, { max: 86400 * 365 });
  const timer =
    rescan > 0
      ? setInterval(() => {
          for (const s of sources) void s.refresh?.().catch((err: unknown) => log(`rescan: ${(err as Error).message}`));
        }, rescan * 1000)
      : undefined;
  timer?.unref();
  ready?.(server, url);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      if (timer) clearInterval(timer);
      void server.close().then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    server.http.once('close', () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      if (timer) clearInterval(timer);
      resolve();
    });
  });
  return 0;
}
