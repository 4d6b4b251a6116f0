import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeHeader, encodeHeader, type HeaderFields, paxNeeds, splitUstarName } from '../src/tar/header.js';
import { TarParser, type TarEntry } from '../src/tar/parse.js';
import { decodePaxRecords, encodePaxRecords } from '../src/tar/pax.js';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const hasTar = requireTool('tar');

const fields = (over: Partial<HeaderFields> = {}): HeaderFields => ({
  name: './usr/lib/debug/x.debug',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 5,
  mtime: 1700000000,
  type: '0',
  linkname: '',
  uname: 'root',
  gname: 'root',
  devmajor: 0,
  devminor: 0,
  ...over,
});

function parseAll(buf: Buffer, chunk = 100): { entries: (TarEntry & { data: string })[]; parser: TarParser } {
  const entries: (TarEntry & { data: string })[] = [];
  const parser = new TarParser({
    entry: (e) => entries.push({ ...e, data: '' }),
    data: (_e, c) => {
      entries[entries.length - 1]!.data += c.toString('latin1');
    },
  });
  for (let i = 0; i < buf.length; i += chunk) parser.write(buf.subarray(i, i + chunk));
  parser.end();
  return { entries, parser };
}

describe('ustar header', () => {
  it('round-trips and carries a valid checksum', () => {
    const h = fields();
    const d = decodeHeader(encodeHeader(h));
    expect(d).toEqual({ header: h });
  });
  it('splits long names into prefix and name, and asks for pax when it cannot', () => {
    const long = `./usr/src/debug/${'d/'.repeat(60)}file.c`;
    expect(splitUstarName(long)).not.toBeNull();
    expect(paxNeeds(fields({ name: long }))).toEqual({});
    expect(decodeHeader(encodeHeader(fields({ name: long })))).toMatchObject({ header: { name: long } });
    const oneLongComponent = `./usr/src/debug/${'x'.repeat(120)}`;
    expect(paxNeeds(fields({ name: oneLongComponent }))).toEqual({ path: oneLongComponent });
    expect(paxNeeds(fields({ name: './usr/src/debug/caf\u00e9.c' }))).toHaveProperty('path');
    expect(paxNeeds(fields({ size: 2 ** 34 }))).toEqual({ size: String(2 ** 34) });
    expect(paxNeeds(fields({ linkname: 'l'.repeat(101), type: '2', size: 0 }))).toHaveProperty('linkpath');
  });
  it('rejects a bad checksum and reads zero blocks as such', () => {
    const b = encodeHeader(fields());
    b[0] ^= 1;
    expect(decodeHeader(b)).toEqual({ error: 'tar header checksum mismatch' });
    expect(decodeHeader(Buffer.alloc(512))).toEqual({ zero: true });
  });
});

describe('pax records', () => {
  it('computes lengths that count their own digits', () => {
    for (const n of [1, 80, 88, 89, 90, 991, 995, 1000]) {
      const rec = encodePaxRecords({ path: 'p'.repeat(n) });
      expect(Number(rec.toString().split(' ')[0])).toBe(rec.length);
      expect(decodePaxRecords(rec)).toEqual({ records: new Map([['path', 'p'.repeat(n)]]) });
    }
  });
  it('rejects malformed records', () => {
    expect(decodePaxRecords(Buffer.from('99 path=x\n'))).toHaveProperty('error');
    expect(decodePaxRecords(Buffer.from('abc path=x\n'))).toHaveProperty('error');
    expect(decodePaxRecords(Buffer.from('11 path=xy'))).toHaveProperty('error');
  });
});

describe('TarParser', () => {
  it.skipIf(!hasTar)('reads GNU tar output in gnu, pax and ustar formats, in chunks of any size', async () => {
    const dir = await tmpdir('tar-parse');
    const src = path.join(dir, 'src');
    const longName = `${'n'.repeat(150)}.c`;
    await fs.mkdir(path.join(src, 'sub'), { recursive: true });
    await fs.writeFile(path.join(src, 'sub', longName), 'long\n');
    await fs.writeFile(path.join(src, 'a.txt'), 'hello');
    await fs.symlink('a.txt', path.join(src, 'link'));
    await fs.link(path.join(src, 'a.txt'), path.join(src, 'hard'));
    for (const format of ['gnu', 'pax']) {
      const { stdout } = await execa('tar', [`--format=${format}`, '--sort=name', '-C', src, '-cf', '-', '.'], {
        encoding: 'buffer',
      });
      const buf = Buffer.from(stdout);
      for (const chunk of [1, 511, 512, 4096]) {
        const { entries, parser } = parseAll(buf, chunk);
        expect(parser.ended).toBe(true);
        const byName = new Map(entries.map((e) => [e.path, e]));
        expect(byName.get(`./sub/${longName}`)?.data).toBe('long\n');
        expect(byName.get('./link')).toMatchObject({ type: '2', linkpath: 'a.txt' });
        const hard = [byName.get('./hard'), byName.get('./a.txt')].find((e) => e?.type === '1');
        expect(hard?.linkpath).toMatch(/^\.\/(a\.txt|hard)$/);
        // Offsets point at the first header of each entry, data after its last one.
        for (const e of entries) {
          expect(e.headerOffset % 512).toBe(0);
          expect(buf.subarray(e.dataOffset, e.dataOffset + e.data.length).toString('latin1')).toBe(e.data);
        }
      }
    }
  });

  it('fails cleanly on truncated and hostile input', () => {
    const header = encodeHeader(fields({ size: 2000 }));
    const truncated = Buffer.concat([header, Buffer.alloc(100)]);
    expect(() => parseAll(truncated)).toThrow(/truncated/);
    const bad = Buffer.from(header);
    bad[10] ^= 0x40;
    expect(() => parseAll(Buffer.concat([bad, Buffer.alloc(1024)]))).toThrow(/checksum/);
    const hugePax = encodeHeader(fields({ type: 'x', size: 2 ** 30 }));
    expect(() => parseAll(hugePax)).toThrow(/too large/);
    const lone = Buffer.concat([Buffer.alloc(512), encodeHeader(fields({ size: 0 })), Buffer.alloc(1024)]);
    expect(() => parseAll(lone)).toThrow(/lone zero block/);
  });
});
