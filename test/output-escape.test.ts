/**
 * Issue 12 item 7: names from tarballs reach the terminal escaped in every
 * human output (list, audit, errors), exact in --json.
 */
import { execa } from 'execa';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../src/commands/audit.js';
import { memoryIO } from './helpers/io.js';
import { runList } from '../src/commands/list.js';
import { hasControlChars, printable, printableLine } from '../src/util/escape.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';
import { rawTar, tarballPath, xzInto } from './helpers/trees.js';

const hasXz = requireTool('xz');
const CLI = path.resolve(__dirname, '../dist/cli.js');

const EVIL_NAME = './usr/lib/debug/a\x1b[31mRED\x1b]0;pwned\x07\nFAKE LINE ok';
const EVIL_TARGET = 'x\x1b[2J\r';
/** What a terminal must never receive from a name: C0 controls but \n (lines are ours), DEL, C1. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('printable', () => {
  it('escapes C0, DEL, C1 and the backslash as GNU tar does; leaves other text alone', () => {
    expect(printable('plain/ünïcode/名前.debug')).toBe('plain/ünïcode/名前.debug');
    expect(printable(EVIL_NAME)).toBe('./usr/lib/debug/a\\033[31mRED\\033]0;pwned\\a\\nFAKE LINE ok');
    expect(printable(EVIL_TARGET)).toBe('x\\033[2J\\r');
    expect(printable('\t\b\v\f\x00\x7f\\')).toBe('\\t\\b\\v\\f\\000\\177\\\\');
    // C1 CSI and a bidi override: the octal of their UTF-8 bytes, as ls prints them.
    expect(printable('a\u009b2Jb\u202e')).toBe('a\\302\\2332Jb\\342\\200\\256');
    expect(printable('\ud800x\u{1f600}')).toBe('\\uD800x\u{1f600}');
  });

  it('shows bytes that are not UTF-8 as octal escapes', () => {
    expect(printable(Buffer.from([0x61, 0xff, 0x62, 0xc3, 0xa9, 0xc3, 0x1b, 0xe2, 0x82]))).toBe(
      'a\\377bé\\303\\033\\342\\202',
    );
    expect(printable(Buffer.from([0xed, 0xa0, 0x80, 0xc0, 0xaf]))).toBe('\\355\\240\\200\\300\\257');
  });

  it('printableLine: one line, line breaks folded to a space as before', () => {
    expect(printableLine('x: not a regular file,\n  directory \x1b[2J\r\n\nor symlink')).toBe(
      'x: not a regular file, directory \\033[2J or symlink',
    );
  });

  it('hasControlChars: what audit flags', () => {
    expect(hasControlChars('./usr/lib/debug/ok\\name')).toBe(false);
    expect(hasControlChars('\u{1f600}')).toBe(false);
    expect(hasControlChars(EVIL_NAME)).toBe(true);
    expect(hasControlChars('x\u0085')).toBe(true);
    expect(hasControlChars('x\u007f')).toBe(true);
  });
});

describe.skipIf(!hasXz)('hostile names in list, audit and error messages', () => {
  let tree: string;
  let tarball: string;
  beforeAll(async () => {
    tree = path.join(await tmpdir('escape-tree'), 'tree');
    tarball = tarballPath(tree, { category: 'dev-util', pn: 'evil', pf: 'evil-1', buildNumber: '1' });
    await xzInto(
      rawTar([
        { name: './usr/lib/debug/', type: '5', mode: 0o755 },
        { name: EVIL_NAME, data: Buffer.from('x') },
        { name: './usr/lib/debug/link', type: '2', linkname: EVIL_TARGET },
      ]),
      tarball,
    );
  });

  it('list: escaped in the table (one line per member), exact in --json', async () => {
    const io = memoryIO();
    expect(await runList({ tarball }, io)).toBe(0);
    const out = io.out();
    expect(out).not.toMatch(RAW_CONTROL);
    expect(out).toContain('./usr/lib/debug/a\\033[31mRED\\033]0;pwned\\a\\nFAKE LINE ok\n');
    expect(out).toContain('./usr/lib/debug/link -> x\\033[2J\\r\n');
    expect(out.split('\n').filter((l) => l.startsWith('FAKE'))).toEqual([]);

    const json = memoryIO();
    await runList({ tarball, json: true }, json);
    const r = JSON.parse(json.out()) as { entries: { path: string; linkpath?: string }[] };
    expect(r.entries.map((e) => e.path)).toContain(EVIL_NAME);
    expect(r.entries.find((e) => e.path === './usr/lib/debug/link')?.linkpath).toBe(EVIL_TARGET);
  });

  it('audit: control-char-name for the member and the link target; escaped lines, exact --json', async () => {
    const io = memoryIO();
    await runAudit({ tree }, io);
    const out = io.out();
    expect(out).not.toMatch(RAW_CONTROL);
    const lines = out.split('\n').filter((l) => l.startsWith('warning control-char-name '));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('[./usr/lib/debug/a\\033[31mRED\\033]0;pwned\\a\\nFAKE LINE ok]');
    expect(lines[1]).toContain("points to 'x\\033[2J\\r'");
    expect(out).toMatch(/^control-char-name\s+warning\s+2\s/m);

    const json = memoryIO();
    await runAudit({ tree, json: true }, json);
    const r = JSON.parse(json.out()) as { tarballs: { findings: { code: string; member?: string }[] }[] };
    const members = r.tarballs[0]!.findings.filter((f) => f.code === 'control-char-name').map((f) => f.member);
    expect(members).toEqual([EVIL_NAME, './usr/lib/debug/link']);
  });

  it('the CLI error line escapes names in the message and stays one line (line breaks fold to a space)', async () => {
    const missing = path.join(tree, 'no\x1b[2Jsuch\nFAKE-debug.tar.xz');
    const r = await execa('node', [CLI, 'list', missing], { reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('no\\033[2Jsuch FAKE-debug.tar.xz');
  });
});
