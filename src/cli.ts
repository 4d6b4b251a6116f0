#!/usr/bin/env node
/**
 * Command-line entry: a table of commands. Each row joins a command's yargs
 * builder (src/commands/<verb>.args.ts, light: it imports nothing at run time)
 * to its handler (src/commands/<verb>.ts), imported only when the verb runs:
 * extract runs once per file a debugger asks for, so start-up counts. For
 * the same reason yargs itself is loaded only when a line is not plain
 * (commands/plain-line.ts reads extract's own option table).
 */
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { auditCommand } from './commands/audit.args.js';
import { demoCommand } from './commands/demo.args.js';
import { doctorCommand } from './commands/doctor.args.js';
import { extractArgsProblem, extractCommand, extractOptions } from './commands/extract.args.js';
import { fromBinpkgCommand } from './commands/from-binpkg.args.js';
import { hookCommand } from './commands/hook.args.js';
import { indexCommand } from './commands/index.args.js';
import { listCommand } from './commands/list.args.js';
import { type PlainLineSpec, parsePlainLine } from './commands/plain-line.js';
import { packCommand } from './commands/pack.args.js';
import { pruneCommand } from './commands/prune.args.js';
import { repackCommand } from './commands/repack.args.js';
import { serveCommand } from './commands/serve.args.js';
import { coreArgsProblem, coreCommand, coreOptions } from './commands/core.args.js';
import { snippetCommand } from './commands/snippet.args.js';
import { verifyCommand } from './commands/verify.args.js';
import { exitStatusFor, PackdebugError } from './errors.js';
import { versionLine } from './system/installation.js';
import { printableLine } from './util/escape.js';
import { type CommandIO, processIO } from './util/io.js';

// liblzma work runs on libuv's thread pool: leave room for file I/O beside the encoders.
process.env.UV_THREADPOOL_SIZE ??= '8';

// `packdebug audit | head`: a reader that went away ends the run quietly, as SIGPIPE would.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(141);
  throw err;
});

type Handler = () => Promise<number>;

async function run(handler: Handler): Promise<void> {
  try {
    process.exitCode = await handler();
  } catch (err) {
    if (err instanceof PackdebugError) {
      // Names in messages come from tarballs, trees and binpkgs: one line, no control characters.
      process.stderr.write(`packdebug: ${printableLine(err.message)}\n`);
      process.exitCode = exitStatusFor(err.code);
    } else {
      const e = err as Error;
      process.stderr.write(`packdebug: internal error: ${e?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    }
  }
}

interface Command {
  command: string;
  /** For a command run once per file a debugger asks for: its plain lines skip yargs (commands/plain-line.ts). */
  plain?: PlainLineSpec;
  describe: string;
  builder: (y: Argv) => Argv<unknown>;
  run: (args: never, io: CommandIO) => Promise<number>;
}

/** A row of the table: the handler takes what the builder parses (yargs' camelCase keys). */
const command = <T>(
  spec: { command: string; describe: string; builder: (y: Argv) => Argv<T> },
  run: (args: ArgumentsCamelCase<T>, io: CommandIO) => Promise<number>,
  plain?: PlainLineSpec,
): Command => ({ ...spec, run: run as Command['run'], plain });

const COMMANDS: Command[] = [
  command(packCommand, async (a, io) => (await import('./commands/pack.js')).runPack(a, io)),
  command(listCommand, async (a, io) => (await import('./commands/list.js')).runList(a, io)),
  command(extractCommand, async (a, io) => (await import('./commands/extract.js')).runExtract(a, io), {
    options: extractOptions,
    positionals: ['source..'],
    problem: extractArgsProblem,
  }),
  command(repackCommand, async (a, io) => (await import('./commands/repack.js')).runRepack(a, io)),
  command(indexCommand, async (a, io) => (await import('./commands/index.js')).runIndex(a, io)),
  command(serveCommand, async (a, io) => (await import('./commands/serve.js')).runServe(a, io)),
  command(coreCommand, async (a, io) => (await import('./commands/core.js')).runCore(a, io), {
    options: coreOptions,
    positionals: ['files..'],
    problem: coreArgsProblem,
  }),
  command(auditCommand, async (a, io) => (await import('./commands/audit.js')).runAudit(a, io)),
  command(pruneCommand, async (a, io) => (await import('./commands/prune.js')).runPrune(a, io)),
  command(fromBinpkgCommand, async (a, io) => (await import('./commands/from-binpkg.js')).runFromBinpkg(a, io)),
  command(verifyCommand, async (a, io) => (await import('./commands/verify.js')).runVerify(a, io)),
  command(hookCommand, async (_settingsFromEnv, io) => (await import('./commands/hook.js')).runHook({}, io)),
  command(snippetCommand, async (a, io) => (await import('./commands/snippet.js')).runSnippet(a, io)),
  command(demoCommand, async (a, io) => (await import('./commands/demo.js')).runDemo(a, io)),
  command(doctorCommand, async (a, io) => (await import('./commands/doctor.js')).runDoctor(a, io)),
];

const [verbArg, ...rest] = process.argv.slice(2);
const plainRow = COMMANDS.find((c) => c.plain && c.command.split(' ')[0] === verbArg);
const plainArgs = plainRow?.plain ? parsePlainLine(rest, plainRow.plain) : undefined;
if (plainRow && plainArgs) await run(() => plainRow.run(plainArgs as never, processIO()));
else await runWithYargs();

async function runWithYargs(): Promise<void> {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const cli = yargs(hideBin(process.argv))
    .scriptName('packdebug')
    .usage('$0 <command> [options]\n\nBlock-seekable debug tarballs for Gentoo binhosts, served by debuginfod.');
  for (const c of COMMANDS) cli.command(c.command, c.describe, c.builder);
  // yargs renders the command's whole help text after every successful parse,
  // in case a handler calls showHelp() later (none does): with its text-width
  // code that is 30-40 ms of a cold `extract`, which runs once per file a
  // debugger asks for. Help and usage errors render their text as before.
  skipHelpCache(cli);
  const argv = await cli
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    // Not yargs' own: a release has no package.json, and the line names the Node.js that runs it.
    .version('version', 'show the version and the Node.js that runs it', versionLine())
    .wrap(Math.min(100, process.stdout.columns || 100))
    .check((a) => repeatedOption(a, (cli as unknown as DeclaredOptions).getOptions()) ?? true)
    .fail((msg, err, y) => {
      // yargs' own validation failures arrive as YError or as a plain message
      // (yargs 18 hands a .check() message over as both msg and err).
      if (err instanceof Error && err.name !== 'YError') throw err;
      process.stderr.write(`packdebug: ${msg ?? String(err)}\n\n`);
      y.showHelp((s: string) => process.stderr.write(`${s}\n`));
      process.exit(2);
    })
    .parseAsync();
  const verb = String(argv._[0]);
  const chosen = COMMANDS.find((c) => c.command.split(' ')[0] === verb);
  if (chosen) await run(() => chosen.run(argv as never, processIO()));
}

/** yargs' internal usage instance (not in @types/yargs); left alone if yargs changes shape. */
function skipHelpCache(parser: Argv): void {
  type Internals = { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } };
  const usage = (parser as unknown as Internals).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

interface OptionTypes {
  string: string[];
  number: string[];
  array: string[];
}

/** yargs' getOptions(), which @types/yargs does not declare. */
interface DeclaredOptions {
  getOptions(): OptionTypes;
}

/**
 * yargs gathers a repeated option into an array, which a string or number
 * option's reader would take for its value: name the option instead.
 */
function repeatedOption(argv: Record<string, unknown>, options: OptionTypes): string | undefined {
  const single = [...options.string, ...options.number].filter((key) => !options.array.includes(key));
  const repeated = single.find((key) => Array.isArray(argv[key]));
  return repeated === undefined ? undefined : `--${repeated} given more than once`;
}
