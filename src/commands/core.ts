import { checkCores, type ModuleReport, type SubjectReport } from '../crash/check.js';
import { shellLine } from '../crash/gdb.js';
import { httpOptionsFromFlags } from '../http/client.js';
import { printable, printableLine } from '../util/escape.js';
import type { CommandIO } from '../util/io.js';
import type { CoreArgs } from './core.args.js';
import { progressLine } from './progress.js';

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  5: 'SIGTRAP',
  6: 'SIGABRT',
  7: 'SIGBUS',
  8: 'SIGFPE',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  15: 'SIGTERM',
  19: 'SIGSTOP',
  24: 'SIGXCPU',
  25: 'SIGXFSZ',
  31: 'SIGSYS',
};

export async function runCore(args: CoreArgs, io: CommandIO): Promise<number> {
  const progress = progressLine(io);
  const say = (m: string) => {
    progress.clear();
    io.stderr.write(`packdebug: ${printableLine(m)}\n`);
  };
  const reports = await checkCores({
    files: args.files,
    sources: args.source ?? [],
    servers: args.server ?? [],
    ...(args.fetch !== undefined ? { fetch: args.fetch } : {}),
    ...(args.cache !== undefined ? { cacheDir: args.cache } : {}),
    http: httpOptionsFromFlags(args, (m) => say(m)),
    env: io.env,
    log: { warn: (m) => say(`warning: ${m}`), notice: say, progress: (m) => progress.update(m) },
  });
  progress.clear();
  const asked = (args.source?.length ?? 0) + (args.server?.length ?? 0) > 0;
  let missing = false;
  for (const r of reports) {
    if (r.modules.some((m) => m.status === 'missing')) missing = true;
    // Addresses are plain numbers: user-space addresses stay below 2^53.
    if (args.json) io.stdout.write(`${JSON.stringify(r)}\n`);
    else io.stdout.write(`${render(r, asked).map(printable).join('\n')}\n`);
    const errors = new Set(r.modules.flatMap((m) => m.coverage?.errors ?? []));
    for (const e of errors) say(`warning: ${e}`);
    for (const f of r.fetched?.failures ?? []) say(`warning: --fetch: ${f}`);
  }
  return missing ? 1 : 0;
}

function hex(n: number | undefined): string {
  return n === undefined ? '-' : `0x${n.toString(16)}`;
}

function signalName(n: number): string {
  return SIGNALS[n] ? `${n} (${SIGNALS[n]})` : String(n);
}

function headline(r: SubjectReport): string {
  const n = `${r.modules.length} module${r.modules.length === 1 ? '' : 's'}`;
  if (r.type !== 'core') return `${r.file}: ${r.type}, ${n} (itself and the libraries it needs)`;
  const p = r.process ?? {};
  const what = [
    p.args ? `of '${p.args}'` : p.command ? `of ${p.command}` : undefined,
    p.pid !== undefined ? `pid ${p.pid}` : undefined,
    p.signal ? `signal ${signalName(p.signal)}` : undefined,
    r.compression ? `${r.compression}-compressed` : undefined,
  ].filter(Boolean);
  return `${r.file}: core${what.length ? ` ${what.join(', ')}` : ''}; ${n}`;
}

function status(m: ModuleReport): string {
  const c = m.coverage;
  switch (m.status) {
    case 'no-build-id':
      return `no build-id${m.problem ? ` (${m.problem})` : ''}`;
    case 'unchecked':
      return '';
    case 'vdso':
      return 'vDSO (symbols in the core)';
    case 'missing':
      return c?.executable ? `missing debug info (executable in ${c.executable.source})` : 'missing';
    case 'covered': {
      const d = c!.debuginfo!;
      const where = d.package ? `${d.package}${d.buildNumber ? ` build ${d.buildNumber}` : ''}` : d.source;
      const src = c!.sources ? `, ${c!.sources.count} source${c!.sources.count === 1 ? '' : 's'}` : '';
      return `debuginfo${src}: ${where}`;
    }
  }
}

function render(r: SubjectReport, asked: boolean): string[] {
  const lines = [headline(r)];
  for (const p of r.problems) lines.push(`  note: ${p}`);
  for (const m of r.modules) {
    const range = m.start !== undefined ? `${hex(m.start)}-${hex(m.end)}` : m.kind === 'main' ? 'file' : 'needed';
    const name = m.kind === 'vdso' ? '[vdso]' : (m.path ?? m.needed?.name ?? '?');
    const fromFile = r.type === 'core' && m.buildIdFrom === 'file' ? ' (from the file)' : '';
    const id = m.buildId ? `${m.buildId}${fromFile}` : '-';
    const st = status(m);
    const pkg = m.package ? `  [.note.package: ${[m.package.name, m.package.version].filter(Boolean).join(' ')}]` : '';
    lines.push(`  ${range} ${id} ${name}${st ? `  ${st}` : ''}${pkg}`);
  }
  const s = r.summary;
  lines.push(
    asked
      ? `summary: ${s.modules} modules, ${s.withDebuginfo} with debug info, ${s.without} without` +
          (s.withoutBuildId ? ` (${s.withoutBuildId} without a build-id)` : '')
      : `summary: ${s.modules} modules (not checked: no --source or --server)`,
  );
  if (r.fetched) {
    const f = r.fetched;
    lines.push(
      `fetched: ${f.files} files, ${f.bytesWritten} bytes (${f.bytesDecoded} bytes decoded)` +
        (f.reused ? `; ${f.reused} already there` : ''),
    );
    lines.push(`gdb: ${shellLine(f.gdb)}`);
  }
  return lines;
}
