/**
 * extract -o and special files: a character device, a FIFO or standard
 * output (also through a symlink) is written into, never replaced; a
 * regular file is replaced atomically; a block device or a socket is refused.
 */
import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runExtract } from '../src/commands/extract.js';
import { memoryIO } from './helpers/io.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTools = requireTool('tar') && requireTool('xz') && requireTool('mknod') && requireTool('mkfifo');
const isRoot = process.getuid?.() === 0;
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli.js');
const MEMBER = 'usr/lib/debug/usr/lib64/m.debug';
const CONTENT = 'the member\n'.repeat(1000);

let tarball = '';

beforeAll(async () => {
  if (!hasTools) return;
  const dir = await tmpdir('extract-output');
  await fs.mkdir(path.join(dir, 'image/usr/lib/debug/usr/lib64'), { recursive: true });
  await fs.writeFile(path.join(dir, 'image', MEMBER), CONTENT);
  tarball = path.join(dir, 'portage.tar.xz');
  await execa('tar', ['-C', path.join(dir, 'image'), '-cJf', tarball, './usr/lib/debug']);
});

const extractTo = (output: string) =>
  runExtract({ source: tarball, path: MEMBER, output }, memoryIO({ PACKDEBUG_CACHE_DIR: '' }));

describe.skipIf(!hasTools || !isRoot)('extract -o with special files', () => {
  it('writes into a character device and leaves it one', async () => {
    const dir = await tmpdir('out-chr');
    const node = path.join(dir, 'null');
    await execa('mknod', [node, 'c', '1', '3']);
    expect(await extractTo(node)).toBe(0);
    const st = await fs.lstat(node);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe((await fs.stat('/dev/null')).rdev);
    expect(await fs.readdir(dir)).toEqual(['null']);
  });

  it('writes into a FIFO (for its reader) and leaves it one', async () => {
    const dir = await tmpdir('out-fifo');
    const fifo = path.join(dir, 'fifo');
    await execa('mkfifo', [fifo]);
    const reader = execa('cat', [fifo], { timeout: 10_000 });
    expect(await extractTo(fifo)).toBe(0);
    expect((await reader).stdout).toBe(CONTENT.trimEnd());
    expect((await fs.lstat(fifo)).isFIFO()).toBe(true);
    expect(await fs.readdir(dir)).toEqual(['fifo']);
  });

  it('writes /dev/stdout, or a symlink to it, to standard output', async () => {
    const dir = await tmpdir('out-stdout');
    const link = path.join(dir, 'out');
    await fs.symlink('/dev/stdout', link);
    for (const output of [link, '/dev/stdout']) {
      const r = await execa('node', [CLI, 'extract', tarball, '--path', MEMBER, '-o', output], {
        env: { PACKDEBUG_CACHE_DIR: '' },
      });
      expect(r.stdout, output).toBe(CONTENT.trimEnd());
    }
    expect(await fs.readlink(link)).toBe('/dev/stdout');
    expect((await fs.lstat('/dev/stdout')).isSymbolicLink()).toBe(true);
  });

  it('refuses a block device and a socket, and leaves them alone', async () => {
    const dir = await tmpdir('out-blk');
    const blk = path.join(dir, 'blk');
    await execa('mknod', [blk, 'b', '7', '250']);
    await expect(extractTo(blk)).rejects.toMatchObject({
      code: 'E_INPUT',
      message: expect.stringMatching(/block device/),
    });
    expect((await fs.lstat(blk)).isBlockDevice()).toBe(true);
    const sock = path.join(dir, 'sock');
    const server = (await import('node:net')).createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      await expect(extractTo(sock)).rejects.toMatchObject({
        code: 'E_INPUT',
        message: expect.stringMatching(/socket/),
      });
      expect((await fs.lstat(sock)).isSocket()).toBe(true);
    } finally {
      server.close();
    }
  });

  it('replaces a regular file atomically, and through a symlink the file it names (the link kept)', async () => {
    const dir = await tmpdir('out-file');
    const file = path.join(dir, 'file');
    const link = path.join(dir, 'link');
    await fs.writeFile(file, 'old');
    await fs.symlink('file', link);
    expect(await extractTo(link)).toBe(0);
    expect(await fs.readlink(link)).toBe('file');
    expect(await fs.readFile(file, 'utf8')).toBe(CONTENT);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o644);
    await fs.symlink('nothing', path.join(dir, 'dangling'));
    await expect(extractTo(path.join(dir, 'dangling'))).rejects.toMatchObject({ code: 'E_INPUT' });
    expect((await fs.readdir(dir)).sort()).toEqual(['dangling', 'file', 'link']);
  });
});
