/**
 * The light path of the CLI: a plain command line (known options, each given
 * once, valid choices, at most the positionals the command takes) parsed
 * with node:util's parseArgs from the command's own option table, the one
 * its yargs builder reads. extract runs once per file a debugger asks for,
 * and loading and running yargs costs more than the rest of a small extract
 * (about 60 ms of CPU of 0.3 s here). Anything else (help, --version,
 * mistakes) is undefined here and goes to yargs, which gives the messages.
 */
import { parseArgs } from 'node:util';

/** An option as yargs' `.options({...})` takes it (the parts this reads). */
export interface OptionSpec {
  readonly type?: 'string' | 'boolean' | 'number';
  readonly alias?: string | readonly string[];
  readonly choices?: readonly string[];
  readonly default?: unknown;
  readonly array?: boolean;
}

export interface PlainLineSpec {
  options: Readonly<Record<string, OptionSpec>>;
  /** Names of the positionals, in order (all optional); a last `NAME..` takes the rest, as an array. */
  positionals: readonly string[];
  /** A whole-line check; a message means "not plain". */
  problem?: (args: Record<string, unknown>) => string | undefined;
}

const camel = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The arguments as yargs would give them (camelCase keys, defaults filled), or undefined when not plain. */
export function parsePlainLine(argv: readonly string[], spec: PlainLineSpec): Record<string, unknown> | undefined {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple: true }> = {};
  for (const [key, o] of Object.entries(spec.options)) {
    // Numbers have yargs semantics this does not repeat; an array option is a string given any number of times.
    if (o.type === 'number' || (o.array && o.type !== 'string')) return undefined;
    const aliases = o.alias === undefined ? [] : typeof o.alias === 'string' ? [o.alias] : o.alias;
    const short = aliases.find((a) => a.length === 1);
    if (aliases.some((a) => a.length > 1)) return undefined;
    config[key] = { type: o.type === 'boolean' ? 'boolean' : 'string', multiple: true, ...(short ? { short } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: true });
  } catch {
    return undefined;
  }
  const variadic = spec.positionals.at(-1)?.endsWith('..') ?? false;
  if (!variadic && parsed.positionals.length > spec.positionals.length) return undefined;
  const args: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(spec.options)) {
    const given = (parsed.values as Record<string, unknown[] | undefined>)[key];
    if (o.array) {
      if (given !== undefined) args[camel(key)] = given;
      continue;
    }
    if (given !== undefined && given.length !== 1) return undefined;
    const value = given?.[0] ?? o.default;
    if (value === undefined) continue;
    if (o.choices && !o.choices.includes(String(value))) return undefined;
    args[camel(key)] = value;
  }
  spec.positionals.forEach((name, i) => {
    if (name.endsWith('..')) {
      // As yargs gives a variadic positional: an array, empty when none was given.
      args[name.slice(0, -2)] = parsed.positionals.slice(i);
    } else if (parsed.positionals[i] !== undefined) args[name] = parsed.positionals[i];
  });
  return spec.problem?.(args) === undefined ? args : undefined;
}
