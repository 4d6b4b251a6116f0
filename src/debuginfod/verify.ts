/**
 * Whether debuginfod servers serve every build-id of a set of tarballs: the
 * tarballs are read for their (build-id, kind) pairs, every server is asked
 * for each, and the answers are gathered per server.
 */
import { availableParallelism } from 'node:os';
import { PackdebugError } from '../errors.js';
import { artifactKey, collectArtifactsCached, type ExpectedArtifact } from '../tarball/build-ids.js';
import { tarballsFromTargets } from '../tarball/tree.js';
import { limiter } from '../util/limit.js';
import { DEFAULT_BODY_TIMEOUT_MS, type ProbeResult, probeArtifact } from './probe.js';
import { serverUrls } from './urls.js';

export interface VerifyOptions {
  /** Tarballs, or trees of them; default `${EPREFIX}/usr/lib/debug/.tarball`. */
  targets: string[];
  /** Server URLs; default DEBUGINFOD_URLS. */
  servers?: string[];
  /** Requests in flight at once, over all servers (default 8). */
  jobs?: number;
  /** Download what is served and compare it with the tarball's member. */
  deep?: boolean;
  /** Every server must serve every build-id (default: any server will do, as for a client). */
  everyServer?: boolean;
  /** Retries of one request after 5xx, 429 or a transport error (default 4). */
  retries?: number;
  /** Total deadline in seconds (default 600). */
  deadline?: number;
  /** Seconds one attempt may wait for response headers (default 60). */
  attemptTimeout?: number;
  /** With deep: seconds in which a body must bring 1 KiB (or end), else the attempt is abandoned (default 30). */
  bodyTimeout?: number;
  /** Backoff in ms (tests shorten it): first ceiling and cap. Default 1000 and 30000. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** For DEBUGINFOD_URLS, the default tree and the caches. */
  env: NodeJS.ProcessEnv;
}

export interface VerifyLog {
  /** A tarball that could not be read (its error message); the others are still verified. */
  error(message: string): void;
  notice(message: string): void;
  /** A transient progress line. */
  progress(message: string): void;
}

export interface ArtifactReport {
  buildId: string;
  kind: ExpectedArtifact['kind'];
  /** Where it is in the tarballs (first member that carries it). */
  tarball: string;
  member: string;
  status?: number;
  detail?: string;
}

export interface ServerReport {
  url: string;
  served: number;
  missing: ArtifactReport[];
  mismatched: ArtifactReport[];
  /** 401/403: the server wants credentials. */
  unauthorized: ArtifactReport[];
  /** No answer after the retries or before the deadline. */
  errors: ArtifactReport[];
}

export interface VerifyReport {
  ok: boolean;
  deep: boolean;
  tarballs: number;
  /** Tarballs that could not be read (each with its error). */
  unreadable: { tarball: string; error: string }[];
  /** Distinct (build-id, kind) pairs asked for. */
  artifacts: number;
  /** Artifacts served (by any server, or by every server with --every-server) and not mismatched anywhere. */
  served: number;
  servers: ServerReport[];
}

export async function verifyTarballs(args: VerifyOptions, log: VerifyLog): Promise<VerifyReport> {
  const servers = serverUrls(args.servers, args.env);
  const jobs = args.jobs ?? 8;
  if (!Number.isInteger(jobs) || jobs < 1) throw new PackdebugError('E_USAGE', `invalid --jobs '${args.jobs}'`);
  const retries = args.retries ?? 4;
  if (!Number.isInteger(retries) || retries < 0)
    throw new PackdebugError('E_USAGE', `invalid --retries '${args.retries}'`);
  const deadline = args.deadline ?? 600;
  const attemptTimeout = args.attemptTimeout ?? 60;
  const bodyTimeout = args.bodyTimeout ?? DEFAULT_BODY_TIMEOUT_MS / 1000;
  if (!(deadline > 0) || !(attemptTimeout > 0) || !(bodyTimeout > 0))
    throw new PackdebugError(
      'E_USAGE',
      'deadline, attempt timeout and body timeout must be positive numbers of seconds',
    );

  // The deadline covers everything, reading the tarballs included.
  const signal = AbortSignal.timeout(deadline * 1000);
  const tarballs = await tarballsFromTargets(args.targets, args.env);
  if (tarballs.length === 0)
    log.notice(`no *-debug.tar.xz tarballs in ${args.targets.join(', ') || 'the default tree'}: nothing to verify`);
  const artifacts = new Map<string, ExpectedArtifact>();
  const unreadable: VerifyReport['unreadable'] = [];
  // Tarballs are read in parallel (each through its own xz), merged in their order.
  const readers = limiter(Math.min(jobs, availableParallelism()));
  let read = 0;
  const perTarball = await Promise.all(
    tarballs.map((t) =>
      readers(async () => {
        const found = new Map<string, ExpectedArtifact>();
        try {
          await collectArtifactsCached(t, found, args.env);
        } catch (err) {
          if (!(err instanceof PackdebugError)) throw err;
          unreadable.push({ tarball: t, error: err.message });
          log.error(err.message);
        }
        log.progress(`reading tarballs: ${++read}/${tarballs.length}`);
        return found;
      }),
    ),
  );
  unreadable.sort((a, b) => tarballs.indexOf(a.tarball) - tarballs.indexOf(b.tarball));
  for (const found of perTarball) {
    for (const [key, a] of found) {
      const known = artifacts.get(key);
      if (known) known.sources.push(...a.sources);
      else artifacts.set(key, a);
    }
  }

  const limit = limiter(jobs);
  const list = [...artifacts.values()];
  const results = new Map<string, ProbeResult[]>(); // by artifact key, one per server
  let done = 0;
  const total = list.length * servers.length;
  await Promise.all(
    list.flatMap((a) =>
      servers.map((server, s) =>
        limit(async () => {
          const r = await probeArtifact(server, a.buildId, a.kind, {
            retries,
            backoff: { baseMs: args.backoffBaseMs ?? 1000, capMs: args.backoffCapMs ?? 30_000 },
            attemptTimeoutMs: attemptTimeout * 1000,
            signal,
            expectSha256: args.deep ? new Set(a.sources.map((x) => x.sha256)) : undefined,
            expectMaxSize: args.deep ? Math.max(...a.sources.map((x) => x.size)) : undefined,
            bodyTimeoutMs: bodyTimeout * 1000,
          });
          const key = artifactKey(a.buildId, a.kind);
          let row = results.get(key);
          if (!row) results.set(key, (row = []));
          row[s] = r;
          log.progress(`asking ${servers.length === 1 ? servers[0] : `${servers.length} servers`}: ${++done}/${total}`);
        }),
      ),
    ),
  );

  const reports: ServerReport[] = servers.map((url) => ({
    url,
    served: 0,
    missing: [],
    mismatched: [],
    unauthorized: [],
    errors: [],
  }));
  let served = 0;
  for (const a of list) {
    const row = results.get(artifactKey(a.buildId, a.kind))!;
    const first = a.sources[0]!;
    row.forEach((r, s) => {
      const rep = reports[s]!;
      const item: ArtifactReport = {
        buildId: a.buildId,
        kind: a.kind,
        tarball: first.tarball,
        member: first.member,
        status: r.status,
        detail: r.detail,
      };
      if (r.outcome === 'served') rep.served++;
      else if (r.outcome === 'missing') rep.missing.push(item);
      else if (r.outcome === 'mismatch') rep.mismatched.push(item);
      else if (r.outcome === 'auth') rep.unauthorized.push(item);
      else rep.errors.push(item);
    });
    const anyMismatch = row.some((r) => r.outcome === 'mismatch');
    const ok = args.everyServer ? row.every((r) => r.outcome === 'served') : row.some((r) => r.outcome === 'served');
    if (ok && !anyMismatch) served++;
  }
  const report: VerifyReport = {
    ok: served === list.length && unreadable.length === 0,
    deep: !!args.deep,
    tarballs: tarballs.length,
    unreadable,
    artifacts: list.length,
    served,
    servers: reports,
  };

  return report;
}
