import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileStamp, sameStamp } from '../src/util/file-stamp.js';
import { cacheDir, JsonCache } from '../src/util/json-cache.js';
import { tmpdir } from './helpers/images.js';

describe('cacheDir', () => {
  it('is PACKDEBUG_CACHE_DIR, else XDG_CACHE_HOME/packdebug, else ~/.cache/packdebug; empty turns it off', () => {
    expect(cacheDir({ PACKDEBUG_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(cacheDir({ PACKDEBUG_CACHE_DIR: '' })).toBeUndefined();
    expect(cacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/packdebug');
    expect(cacheDir({ HOME: '/h' })).toBe('/h/.cache/packdebug');
    expect(JsonCache.open('t', 1, { PACKDEBUG_CACHE_DIR: '' })).toBeUndefined();
  });
});

describe('sameStamp', () => {
  it('is the same file (device, inode) unchanged (size, mtime), whatever path reaches it', async () => {
    const dir = await tmpdir('stamp');
    const a = path.join(dir, 'a');
    await fs.writeFile(a, 'one');
    await fs.symlink('a', path.join(dir, 'link'));
    const before = await fileStamp(a);
    expect(sameStamp(before, await fileStamp(path.join(dir, 'link')))).toBe(true);
    expect(sameStamp(before, await fs.lstat(a))).toBe(true);
    expect(await fileStamp(path.join(dir, 'missing'))).toBeUndefined();
    expect(sameStamp(undefined, undefined)).toBe(false);
    await fs.copyFile(a, path.join(dir, 'b'));
    await fs.rename(path.join(dir, 'b'), a); // same size and contents, another inode
    const after = await fileStamp(a);
    expect(after!.ino === before!.ino && after!.mtimeMs === before!.mtimeMs).toBe(false);
    expect(sameStamp(before, after)).toBe(false);
  });
});

describe('JsonCache', () => {
  it('trusts a record while each file keeps its stamp, or stays absent', async () => {
    const dir = await tmpdir('json-cache');
    const env = { PACKDEBUG_CACHE_DIR: path.join(dir, 'cache') };
    const file = path.join(dir, 'file');
    const absent = path.join(dir, 'absent');
    await fs.writeFile(file, 'data');
    const cache = JsonCache.open<{ n: number }>('test', 1, env)!;
    await cache.write([file, absent], { n: 1 });
    expect(await cache.read([file, absent])).toEqual({ n: 1 });
    // Another version, or other files: no record.
    expect(await JsonCache.open<{ n: number }>('test', 2, env)!.read([file, absent])).toBeUndefined();
    expect(await cache.read([file])).toBeUndefined();
    // The absent file appearing, or the file touched: not trusted.
    await fs.writeFile(absent, '');
    expect(await cache.read([file, absent])).toBeUndefined();
    await fs.rm(absent);
    expect(await cache.read([file, absent])).toEqual({ n: 1 });
    await fs.utimes(file, new Date(), new Date(Date.now() + 5000));
    expect(await cache.read([file, absent])).toBeUndefined();
    const names = await fs.readdir(env.PACKDEBUG_CACHE_DIR);
    expect(names).toEqual([expect.stringMatching(/^test-v1-[0-9a-f]{32}\.json$/)]);
    expect((await fs.stat(path.join(env.PACKDEBUG_CACHE_DIR, names[0]!))).mode & 0o777).toBe(0o600);
  });

  it('computes once, and records nothing about a file that changed while it was computed', async () => {
    const dir = await tmpdir('json-cache-through');
    const env = { PACKDEBUG_CACHE_DIR: path.join(dir, 'cache') };
    const file = path.join(dir, 'file');
    await fs.writeFile(file, 'data');
    const cache = JsonCache.open<{ n: number }>('test', 1, env)!;
    let runs = 0;
    const compute = async () => ({ n: ++runs });
    expect(await cache.through([file], compute)).toEqual({ value: { n: 1 }, cached: false });
    expect(await cache.through([file], compute)).toEqual({ value: { n: 1 }, cached: true });
    await fs.appendFile(file, 'more');
    const changing = async () => {
      await fs.appendFile(file, 'even more');
      return compute();
    };
    expect(await cache.through([file], changing)).toEqual({ value: { n: 2 }, cached: false });
    expect(await cache.read([file])).toBeUndefined();
  });

  it('refuses a record of the layout before it (one path and stamp fields, no `files`)', async () => {
    const dir = await tmpdir('json-cache-old');
    const env = { PACKDEBUG_CACHE_DIR: path.join(dir, 'cache') };
    const file = path.join(dir, 'file');
    await fs.writeFile(file, 'data');
    const cache = JsonCache.open<{ members: unknown[] }>('index', 2, env)!;
    await cache.write([file], { members: [1] });
    const [name] = await fs.readdir(env.PACKDEBUG_CACHE_DIR);
    const record = path.join(env.PACKDEBUG_CACHE_DIR, name!);
    const st = await fs.stat(file);
    const old = { version: 2, path: await fs.realpath(file), size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    await fs.writeFile(record, JSON.stringify({ ...old, members: [1] }));
    expect(await cache.read([file])).toBeUndefined();
  });
});
