/**
 * The CLI's light path for plain extract lines reads extract's own option
 * table: what it accepts, it must parse as yargs does; what it does not
 * accept goes to yargs (help, mistakes, anything unusual).
 */
import yargs from 'yargs';
import { describe, expect, it } from 'vitest';
import { extractArgsProblem, extractCommand, extractOptions } from '../src/commands/extract.args.js';
import { parsePlainLine } from '../src/commands/plain-line.js';
import { coreArgsProblem, coreCommand, coreOptions } from '../src/commands/core.args.js';

const spec = { options: extractOptions, positionals: ['source..'], problem: extractArgsProblem };

/** What yargs gives the handler for `extract ARGS`, restricted to the keys the light path fills. */
async function viaYargs(args: string[]): Promise<Record<string, unknown>> {
  const cli = yargs(['extract', ...args])
    .command(extractCommand.command, '', extractCommand.builder)
    .strict();
  const parsed = (await cli.parseAsync()) as Record<string, unknown>;
  const keep = ['buildId', 'kind', 'path', 'output', 'verbose', 'source', 'timeout', 'retries'];
  return Object.fromEntries(keep.filter((k) => parsed[k] !== undefined).map((k) => [k, parsed[k]]));
}

describe('plain extract lines', () => {
  const plain = [
    ['t.tar.xz', '--path', './usr/lib/debug/x.debug'],
    ['--build-id', 'abcdef', '--kind', 'executable'],
    ['tree', '--build-id=abcdef', '-o', '/tmp/out', '-v'],
    ['--path', 'a b', '--output', 'out.debug', '--verbose'],
    ['t.tar.xz', '--build-id', '00', '--kind=debuginfo'],
    // Several sources (URLs, asked at once), and a source file of a build.
    ['http://a/', 'https://b/tree/', '--build-id', 'ab', '--timeout', '5', '--retries', '1'],
    ['t', '--path', 'a', '--build-id', 'ab'],
  ];
  it.each(plain)('parses %j exactly as yargs does', async (...line) => {
    const light = parsePlainLine(line, spec);
    expect(light).toBeDefined();
    expect(light).toEqual(await viaYargs(line));
  });

  const notPlain = [
    ['--help'],
    ['--version'],
    ['t', '--path', 'a', '--path', 'b'],
    ['t'],
    ['t', '--kind', 'foo', '--build-id', 'ab'],
    ['t', '--no-verbose', '--path', 'a'],
    ['t', '--pat', 'a'],
    ['t', '--path'],
  ];
  it.each(notPlain)('leaves %j to yargs', (...line) => {
    expect(parsePlainLine(line, spec)).toBeUndefined();
  });
});

describe('plain core lines (array options)', () => {
  const coreSpec = { options: coreOptions, positionals: ['files..'], problem: coreArgsProblem };
  async function coreViaYargs(args: string[]): Promise<Record<string, unknown>> {
    const parsed = (await yargs(['core', ...args])
      .command(coreCommand.command, '', coreCommand.builder)
      .strict()
      .parseAsync()) as Record<string, unknown>;
    const keep = ['files', 'source', 'server', 'json', 'fetch', 'cache', 'timeout', 'retries'];
    return Object.fromEntries(keep.filter((k) => parsed[k] !== undefined).map((k) => [k, parsed[k]]));
  }
  it.each([
    ['core.1'],
    ['a', 'b.zst', '--source', 't1', '--source', 'http://m/', '--server', 'http://d:8002 http://e', '--json'],
    ['c', '--fetch', 'out', '--cache', 'cache', '--timeout', '3', '--retries', '0', '--server=http://x'],
  ])('parses %j exactly as yargs does', async (...line) => {
    const light = parsePlainLine(line, coreSpec);
    expect(light).toBeDefined();
    expect(light).toEqual(await coreViaYargs(line));
  });
  it('leaves a line without a file to yargs', () => {
    expect(parsePlainLine(['--source', 't'], coreSpec)).toBeUndefined();
  });
});
