/**
 * The index objects (src/mirror/format.ts) as a reader meets them: round
 * trips, and every hostile or damaged form refused with a reason.
 */
import { describe, expect, it } from 'vitest';
import {
  compressedSpan,
  decodeManifest,
  decodeShard,
  decodeTarballObject,
  encodeShard,
  encodeTarballObject,
  isSafeTarballPath,
  type Shard,
  shardPath,
  type TarballObject,
} from '../src/mirror/format.js';
import { isSafeRelative } from '../src/http/location.js';

const ID = '93ac61ec5a8eb1396f9fbd350e3169a558528a40';
const STAMP = '97823d100c2e27b495b25b5f8a138a08';

function shard(): Shard {
  return {
    format: 'packdebug-index-shard',
    version: 1,
    generation: 'g1',
    prefix: '93',
    tarballs: [
      {
        path: 'sys-libs/glibc/glibc-2.36-1-debug.tar.xz',
        size: 5076044,
        stamp: STAMP,
        buildNumber: 1,
        mtimeMs: 1.5,
        key: STAMP,
      },
    ],
    entries: [
      {
        buildId: ID,
        kinds: 1,
        tarball: 0,
        member: './usr/lib/debug/usr/lib64/libc.so.6.debug',
        size: 10395400,
        headerOffset: 9275392,
        dataOffset: 9275904,
        blocks: {
          fileOffset: 1377144,
          uncompressedOffset: 9275392,
          check: 4,
          sizes: [694279, 3465387, 791676, 3465387, 1061623, 3465386],
        },
      },
    ],
  };
}

/** The shard's JSON with one change made to the parsed object. */
function edited(edit: (o: { tarballs: unknown[][]; entries: unknown[][]; [k: string]: unknown }) => void): string {
  const o = JSON.parse(encodeShard(shard()));
  edit(o);
  return JSON.stringify(o);
}

describe('index format', () => {
  it('round-trips a shard and a tarball object', () => {
    expect(decodeShard(encodeShard(shard()), '93')).toEqual(shard());
    const obj: TarballObject = {
      format: 'packdebug-index-tarball',
      version: 1,
      path: 'dev-libs/foo/foo-1-3-debug.tar.xz',
      size: 100000,
      stamp: STAMP,
      buildNumber: 3,
      mtimeMs: 2,
      members: [
        {
          name: './usr/src/debug/x.c',
          type: '0',
          size: 10,
          headerOffset: 0,
          dataOffset: 512,
          blocks: { fileOffset: 12, uncompressedOffset: 0, check: 4, sizes: [100, 2048] },
        },
        {
          name: './usr/lib/debug/.build-id/93/ac.debug',
          type: '2',
          size: 0,
          headerOffset: 1024,
          dataOffset: 1536,
          linkpath: '../../x.debug',
        },
        { name: './x.debug', type: '0', size: 5, headerOffset: 1536, dataOffset: 2048, buildId: ID, kinds: 3 },
      ],
    };
    expect(decodeTarballObject(encodeTarballObject(obj))).toEqual(obj);
  });

  it('names shard objects by prefix, two hex digits a level', () => {
    expect(shardPath('93')).toBe('buildid/93.json');
    expect(shardPath('93ac')).toBe('buildid/93/ac.json');
  });

  it('computes the compressed bytes of a Block range (Blocks padded to four)', () => {
    expect(compressedSpan({ fileOffset: 12, uncompressedOffset: 0, check: 4, sizes: [101, 1, 7, 1] })).toEqual({
      start: 12,
      end: 12 + 104 + 8,
    });
  });

  it.each([
    ['a path with ..', (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.tarballs[0]![0] = '../x/y.tar.xz')],
    [
      'an absolute path',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.tarballs[0]![0] = '/a/b/c.tar.xz'),
    ],
    [
      'a path with more parts',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.tarballs[0]![0] = 'a/b/c/d.tar.xz'),
    ],
    [
      'a path that is not a tarball',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.tarballs[0]![0] = 'a/b/c.json'),
    ],
    [
      'Blocks past the end of the tarball',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) => void ((o.entries[0]![7] as number[])[0] = 1e12),
    ],
    [
      'Blocks that do not cover the member',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) => void ((o.entries[0]![7] as number[])[1] = 9275904),
    ],
    ['an absurd size', (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.entries[0]![4] = 2 ** 60)],
    ['a negative offset', (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.entries[0]![5] = -512)],
    [
      'a build-id of another prefix',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.entries[0]![0] = 'ff'.repeat(20)),
    ],
    [
      'a build-id that is not hex',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.entries[0]![0] = '93zz'),
    ],
    ['a tarball index out of range', (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.entries[0]![2] = 5)],
    ['a NUL in a member name', (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.entries[0]![3] = 'a\0b')],
    [
      'an unknown check type',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) => void ((o.entries[0]![7] as unknown[])[2] = 7),
    ],
    [
      'millions of Blocks claimed',
      (o: Parameters<Parameters<typeof edited>[0]>[0]) =>
        void ((o.entries[0]![7] as unknown[])[3] = new Array(300000).fill(8)),
    ],
    ['another format version', (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.version = 2)],
    ['another prefix', (o: Parameters<Parameters<typeof edited>[0]>[0]) => void (o.prefix = '94')],
  ])('refuses a shard with %s', (_name, edit) => {
    expect(() => decodeShard(edited(edit), '93')).toThrow();
  });

  it('refuses what is not a JSON object', () => {
    for (const text of ['', 'null', '[]', '{"format":', '"x"']) expect(() => decodeShard(text, '93')).toThrow();
    expect(() => decodeManifest('{"format":"packdebug-index","version":1,"generation":"g","tarballs":-1}')).toThrow();
  });

  it('accepts only CATEGORY/PN/FILE.tar.xz tarball paths and plain relative paths', () => {
    expect(isSafeTarballPath('a/b/c-1-debug.tar.xz')).toBe(true);
    for (const p of [
      '../b/c.tar.xz',
      'a/../c.tar.xz',
      'a/./c.tar.xz',
      'a//c.tar.xz',
      'a/b\\c/d.tar.xz',
      'a/b/c\0.tar.xz',
    ])
      expect(isSafeTarballPath(p), p).toBe(false);
    expect(isSafeRelative('.packdebug-index/buildid/93.json')).toBe(true);
    for (const p of ['', '/etc/passwd', '..', 'a/../../b', 'a//b', './a', 'a\0b', 'a\\b'])
      expect(isSafeRelative(p), p).toBe(false);
  });
});
