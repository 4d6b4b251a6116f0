/**
 * Unit tests: reading Portage's phase environment (src/portage/environment.ts),
 * sizes (src/util/size.ts) and Portage-style messages (src/portage/messages.ts).
 */
import { describe, expect, it } from 'vitest';
import { memoryIO } from './helpers/io.js';
import { PackdebugError } from '../src/errors.js';
import { readHookSettings, type ReadFile } from '../src/portage/environment.js';
import {
  DEFAULT_COLORS,
  messageColors,
  parseColorMap,
  portageLogger,
  portageMessages,
  useColor,
} from '../src/portage/messages.js';
import { formatSize, parseSize } from '../src/util/size.js';

const BASE = {
  D: '/var/tmp/portage/app-misc/hello-1.0/image/',
  ED: '/var/tmp/portage/app-misc/hello-1.0/image',
  EPREFIX: '',
  T: '/var/tmp/portage/app-misc/hello-1.0/temp',
  CATEGORY: 'app-misc',
  PN: 'hello',
  PF: 'hello-1.0',
  BUILD_ID: '3',
  FEATURES: 'splitdebug  installsources\tbinpkg-multi-instance buildpkg',
  PORTAGE_BUILDDIR: '/var/tmp/portage/app-misc/hello-1.0',
  EBUILD_PHASE: 'preinst',
} satisfies NodeJS.ProcessEnv;

/** A ReadFile over an in-memory map that records what was asked for. */
function files(map: Record<string, string> = {}): ReadFile & { asked: string[] } {
  const asked: string[] = [];
  const fn = ((file: string) => {
    asked.push(file);
    return map[file];
  }) as ReadFile & { asked: string[] };
  fn.asked = asked;
  return fn;
}

function usageError(fn: () => unknown): PackdebugError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PackdebugError);
    expect((err as PackdebugError).code).toBe('E_USAGE');
    return err as PackdebugError;
  }
  throw new Error('expected a PackdebugError');
}

describe('readHookSettings', () => {
  it('reads a source build of pre_pkg_preinst', () => {
    const s = readHookSettings(BASE, files());
    expect(s).toMatchObject({
      d: '/var/tmp/portage/app-misc/hello-1.0/image',
      ed: '/var/tmp/portage/app-misc/hello-1.0/image',
      eprefix: '',
      category: 'app-misc',
      pn: 'hello',
      pf: 'hello-1.0',
      buildNumber: '3',
      buildNumberSource: 'env',
      features: ['splitdebug', 'installsources', 'binpkg-multi-instance', 'buildpkg'],
      t: BASE.T,
      portageBuilddir: BASE.PORTAGE_BUILDDIR,
      ebuildPhase: 'preinst',
      sourceDateEpoch: undefined,
      preset: undefined,
      threads: undefined,
      blockSize: undefined,
      removePacked: false,
      strict: false,
    });
  });

  it('strips trailing slashes from D and ED', () => {
    const s = readHookSettings({ ...BASE, D: '/b/image//', ED: '/b/image/' }, files());
    expect(s.d).toBe('/b/image');
    expect(s.ed).toBe('/b/image');
  });

  it('derives ED from D and EPREFIX when ED is missing', () => {
    const env = { ...BASE, ED: undefined, D: '/b/image/', EPREFIX: '/home/me/gentoo/' };
    const s = readHookSettings(env, files());
    expect(s.ed).toBe('/b/image/home/me/gentoo');
    expect(s.eprefix).toBe('/home/me/gentoo');
    expect(readHookSettings({ ...env, EPREFIX: '' }, files()).ed).toBe('/b/image');
    expect(readHookSettings({ ...env, ED: '' }, files()).ed).toBe('/b/image/home/me/gentoo');
  });

  it('keeps a Prefix ED as given', () => {
    const s = readHookSettings({ ...BASE, D: '/b/image/', ED: '/b/image/opt/gentoo', EPREFIX: '/opt/gentoo' }, files());
    expect(s.ed).toBe('/b/image/opt/gentoo');
  });

  it('needs an image and a package identity', () => {
    expect(usageError(() => readHookSettings({ ...BASE, ED: undefined, D: undefined }, files())).message).toMatch(
      /ED \(or D\) is not set/,
    );
    for (const name of ['CATEGORY', 'PN', 'PF'] as const) {
      expect(usageError(() => readHookSettings({ ...BASE, [name]: '' }, files())).message).toContain(
        `${name} is not set`,
      );
    }
    expect(usageError(() => readHookSettings({ ...BASE, ED: 'image' }, files())).message).toBe(
      'ED=image: not an absolute path',
    );
  });

  it('falls back to build-info/BUILD_ID (binpkg merges), trimming whitespace', () => {
    const read = files({ '/var/tmp/portage/app-misc/hello-1.0/build-info/BUILD_ID': ' 17\n' });
    const s = readHookSettings({ ...BASE, BUILD_ID: undefined }, read);
    expect(s.buildNumber).toBe('17');
    expect(s.buildNumberSource).toBe('build-info');
    expect(read.asked).toEqual(['/var/tmp/portage/app-misc/hello-1.0/build-info/BUILD_ID']);
    // An empty BUILD_ID counts as missing.
    expect(readHookSettings({ ...BASE, BUILD_ID: '' }, read).buildNumber).toBe('17');
    expect(readHookSettings({ ...BASE, BUILD_ID: '  ' }, read).buildNumber).toBe('17');
  });

  it('prefers BUILD_ID from the environment and does not read build-info then', () => {
    const read = files({ '/var/tmp/portage/app-misc/hello-1.0/build-info/BUILD_ID': '17\n' });
    expect(readHookSettings(BASE, read).buildNumber).toBe('3');
    expect(read.asked).toEqual([]);
  });

  it('has no BUILD_ID when neither the environment nor build-info has one', () => {
    const env = { ...BASE, BUILD_ID: undefined };
    expect(readHookSettings(env, files()).buildNumber).toBeUndefined();
    expect(
      readHookSettings(env, files({ '/var/tmp/portage/app-misc/hello-1.0/build-info/BUILD_ID': '\n' })).buildNumber,
    ).toBeUndefined();
    const noBuilddir = files();
    expect(readHookSettings({ ...env, PORTAGE_BUILDDIR: undefined }, noBuilddir).buildNumberSource).toBeUndefined();
    expect(noBuilddir.asked).toEqual([]);
  });

  it('reads the PACKDEBUG_* settings', () => {
    const s = readHookSettings(
      {
        ...BASE,
        PACKDEBUG_PRESET: '9e',
        PACKDEBUG_THREADS: '4',
        PACKDEBUG_BLOCK_SIZE: '16MiB',
        PACKDEBUG_REMOVE_PACKED: 'yes',
        PACKDEBUG_STRICT: 'TRUE',
        SOURCE_DATE_EPOCH: '1700000000',
      },
      files(),
    );
    expect(s).toMatchObject({
      preset: '9e',
      threads: 4,
      blockSize: 16 * 1024 * 1024,
      removePacked: true,
      strict: true,
      sourceDateEpoch: 1700000000,
    });
    for (const [value, expected] of [
      ['1', true],
      ['true', true],
      ['0', false],
      ['no', false],
      ['false', false],
      ['', false],
    ] as const) {
      expect(readHookSettings({ ...BASE, PACKDEBUG_REMOVE_PACKED: value }, files()).removePacked).toBe(expected);
    }
    expect(readHookSettings({ ...BASE, PACKDEBUG_PRESET: '0' }, files()).preset).toBe('0');
  });

  it('rejects invalid PACKDEBUG_* values with E_USAGE naming the variable', () => {
    const bad: [Record<string, string>, string][] = [
      [{ PACKDEBUG_THREADS: 'abc' }, 'PACKDEBUG_THREADS=abc: not a positive integer'],
      [{ PACKDEBUG_THREADS: '0' }, 'PACKDEBUG_THREADS=0: not a positive integer'],
      [{ PACKDEBUG_THREADS: '-2' }, 'PACKDEBUG_THREADS=-2: not a positive integer'],
      [{ PACKDEBUG_THREADS: '1.5' }, 'PACKDEBUG_THREADS=1.5: not a positive integer'],
      [{ PACKDEBUG_PRESET: '10' }, 'PACKDEBUG_PRESET=10: not an xz preset'],
      [{ PACKDEBUG_PRESET: 'e' }, 'PACKDEBUG_PRESET=e: not an xz preset'],
      [{ PACKDEBUG_PRESET: '6x' }, 'PACKDEBUG_PRESET=6x: not an xz preset'],
      [{ PACKDEBUG_BLOCK_SIZE: '16 furlongs' }, 'PACKDEBUG_BLOCK_SIZE=16 furlongs: unknown size suffix'],
      [{ PACKDEBUG_BLOCK_SIZE: 'big' }, 'PACKDEBUG_BLOCK_SIZE=big: not a size'],
      [{ PACKDEBUG_BLOCK_SIZE: '0' }, 'PACKDEBUG_BLOCK_SIZE=0: must be at least 4KiB'],
      [{ PACKDEBUG_REMOVE_PACKED: 'maybe' }, 'PACKDEBUG_REMOVE_PACKED=maybe: not a boolean'],
      [{ PACKDEBUG_STRICT: '2' }, 'PACKDEBUG_STRICT=2: not a boolean'],
      [{ SOURCE_DATE_EPOCH: 'yesterday' }, 'SOURCE_DATE_EPOCH=yesterday: not a non-negative integer'],
    ];
    for (const [vars, message] of bad) {
      const err = usageError(() => readHookSettings({ ...BASE, ...vars }, files()));
      expect(err.message.startsWith(message), `${err.message} starts with ${message}`).toBe(true);
      expect(err.message).not.toContain('\n');
    }
  });
});

describe('parseSize', () => {
  it('reads bytes and binary suffixes, case-insensitively', () => {
    const cases: [string, number][] = [
      ['0', 0],
      ['65536', 65536],
      ['512B', 512],
      ['64K', 65536],
      ['64k', 65536],
      ['64KB', 65536],
      ['64Ki', 65536],
      ['64KiB', 65536],
      ['64kib', 65536],
      ['64 KiB', 65536],
      [' 16MiB ', 16 * 2 ** 20],
      ['16m', 16 * 2 ** 20],
      ['16MB', 16 * 2 ** 20],
      ['1G', 2 ** 30],
      ['2GiB', 2 ** 31],
      ['1.5M', 1.5 * 2 ** 20],
      ['0.5K', 512],
      ['.5K', 512],
    ];
    for (const [text, bytes] of cases) expect(parseSize(text), text).toBe(bytes);
  });

  it('rejects what is not a whole number of bytes, with E_USAGE and the label', () => {
    for (const text of ['', 'K', 'abc', '-1', '1e6', '1.5', '0.3K', '1,5M', '1 2', '1TiB', '1KiBB', '0x10']) {
      const err = usageError(() => parseSize(text, `--block-size ${text}`));
      expect(err.message.startsWith(`--block-size ${text}: `)).toBe(true);
    }
    expect(usageError(() => parseSize('99999999999G')).message).toBe('99999999999G: too large');
  });
});

describe('formatSize', () => {
  it('uses binary units with one decimal below 100', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(1023)).toBe('1023 B');
    expect(formatSize(1024)).toBe('1 KiB');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(65536)).toBe('64 KiB');
    expect(formatSize(200 * 1024)).toBe('200 KiB');
    expect(formatSize(1024 * 1024 - 1)).toBe('1 MiB');
    expect(formatSize(16 * 2 ** 20)).toBe('16 MiB');
    expect(formatSize(1.25 * 2 ** 30)).toBe('1.3 GiB');
    expect(parseSize(formatSize(16 * 2 ** 20).replace(' ', ''))).toBe(16 * 2 ** 20);
  });
});

describe('Portage-style messages', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };

  it('colours like Portage: NOCOLOR=yes/true off, no/false on, NO_COLOR wins', () => {
    expect(useColor({}, tty)).toBe(true);
    expect(useColor({}, pipe)).toBe(false);
    expect(useColor({ NOCOLOR: 'true' }, tty)).toBe(false);
    expect(useColor({ NOCOLOR: 'yes' }, tty)).toBe(false);
    expect(useColor({ NOCOLOR: 'YES' }, tty)).toBe(false);
    expect(useColor({ NOCOLOR: 'anything' }, tty)).toBe(false);
    expect(useColor({ NOCOLOR: '' }, tty)).toBe(true);
    expect(useColor({ NOCOLOR: 'false' }, pipe)).toBe(true);
    expect(useColor({ NOCOLOR: 'no' }, pipe)).toBe(true);
    expect(useColor({ NO_COLOR: '1' }, tty)).toBe(false);
    expect(useColor({ NO_COLOR: '1', NOCOLOR: 'false' }, tty)).toBe(false);
    expect(useColor({ NO_COLOR: '' }, tty)).toBe(true);
  });

  it('colours inside a Portage phase although the log pipe is no TTY', () => {
    expect(useColor({ EBUILD_PHASE: 'preinst' }, pipe)).toBe(true);
    expect(useColor({ EBUILD_PHASE: 'preinst', NOCOLOR: 'true' }, pipe)).toBe(false);
  });

  it('writes " * msg" lines with a green, yellow or red star', () => {
    const io = memoryIO({ NOCOLOR: 'false' });
    const msg = portageMessages(io.stderr, messageColors(io.env, io.stderr));
    msg.einfo('packed');
    msg.ewarn('careful');
    msg.eerror('failed');
    expect(io.err()).toBe(
      ' \x1b[32m*\x1b[0m packed\n' + ' \x1b[33;01m*\x1b[0m careful\n' + ' \x1b[31;01m*\x1b[0m failed\n',
    );
    expect(io.out()).toBe('');
  });

  it('writes plain " * " lines without colours, one per message line', () => {
    const io = memoryIO({ NOCOLOR: 'true' });
    const log = portageLogger(io);
    log.info('one\ntwo');
    log.warn('three');
    expect(io.err()).toBe(' * one\n * two\n * three\n');
    expect(log.progress).toBeUndefined();
  });

  it('takes colours from PORTAGE_COLORMAP', () => {
    const colormap = [
      "PORTAGE_COLOR_BAD=$'\\e[31;01m'",
      "PORTAGE_COLOR_INFO=$'\x1b[36m'",
      "PORTAGE_COLOR_WARN=$'\\033[35;01m'",
      "PORTAGE_COLOR_ERR='rm -rf /'",
    ].join('\n');
    expect(parseColorMap(colormap)).toEqual({ BAD: '\x1b[31;01m', INFO: '\x1b[36m', WARN: '\x1b[35;01m' });
    const colors = messageColors({ NOCOLOR: 'false', PORTAGE_COLORMAP: colormap }, pipe);
    expect(colors).toEqual({ info: '\x1b[36m', warn: '\x1b[35;01m', error: DEFAULT_COLORS.error, normal: '\x1b[0m' });
  });
});
