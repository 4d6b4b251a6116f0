import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { LZMA_NATIVE_SWITCH, lzmaNativeDisabled, lzmaNativeLoad } from './lzma-native.js';
import { parseXzVersion } from './xz-process.js';

/**
 * Which xz backends this process has: lzma-native (the optional addon) and
 * the system's xz(1). For `extract -v` and `packdebug doctor`.
 */
export interface XzBackends {
  lzmaNative: {
    loaded: boolean;
    /** lzma-native's own version, e.g. 8.0.6. */
    version?: string;
    /** The liblzma inside it, e.g. 5.2.3. */
    liblzma?: string;
    /** Why it did not load. */
    error?: string;
  };
  xz: {
    /** The xz found on env's PATH. */
    path?: string;
    /** Its XZ Utils version, when it is usable (5.0 or later). */
    version?: string;
    /** Why there is no usable xz. */
    error?: string;
  };
}

export async function xzBackends(env: NodeJS.ProcessEnv = process.env): Promise<XzBackends> {
  return { lzmaNative: lzmaNativeReport(env), xz: await xzReport(env) };
}

/** One line: the backends and what each decodes and encodes. */
export async function describeBackends(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { lzmaNative, xz } = await xzBackends(env);
  const system = xz.version ? `xz(1) ${xz.version} (${xz.path})` : `no xz(1): ${xz.error}`;
  const native = lzmaNative.loaded
    ? `lzma-native ${lzmaNative.version} (liblzma ${lzmaNative.liblzma})`
    : `no lzma-native: ${lzmaNative.error}`;
  const use =
    xz.version && lzmaNative.loaded
      ? 'xz(1) encodes and decodes, lzma-native decodes short reads'
      : xz.version
        ? 'xz(1) encodes and decodes'
        : lzmaNative.loaded
          ? 'lzma-native encodes and decodes'
          : 'nothing can decode or encode (install app-arch/xz-utils)';
  return `xz backends: ${system}; ${native}; ${use}`;
}

function lzmaNativeReport(env: NodeJS.ProcessEnv): XzBackends['lzmaNative'] {
  if (lzmaNativeDisabled(env)) return { loaded: false, error: `disabled by ${LZMA_NATIVE_SWITCH}=0` };
  const { addon, error } = lzmaNativeLoad();
  if (!addon) return { loaded: false, error };
  return { loaded: true, version: addon.version, liblzma: addon.versionString() };
}

async function xzReport(env: NodeJS.ProcessEnv): Promise<XzBackends['xz']> {
  const found = await onPath('xz', env['PATH'] ?? '');
  if (!found) return { error: 'not on PATH' };
  // As every xz packdebug starts (xzEnvironment): without the user's XZ_OPT and XZ_DEFAULTS.
  const childEnv: NodeJS.ProcessEnv = { ...env, LC_ALL: 'C' };
  delete childEnv['XZ_OPT'];
  delete childEnv['XZ_DEFAULTS'];
  const robot = await new Promise<string | undefined>((resolve) => {
    execFile(found, ['--robot', '--version'], { env: childEnv, timeout: 10_000 }, (err, stdout) =>
      resolve(err ? undefined : stdout),
    );
  });
  const parsed = robot === undefined ? undefined : parseXzVersion(robot);
  if (!parsed) return { path: found, error: `${found} --robot --version failed` };
  const { version, usable } = parsed;
  if (!usable) return { path: found, error: `${found} is XZ Utils ${version}; 5.0 or later is needed` };
  return { path: found, version };
}

/** The first executable regular file `name` in the PATH list `list`, as a shell finds it. */
async function onPath(name: string, list: string): Promise<string | undefined> {
  for (const dir of list.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    const st = await fs.stat(candidate).catch(() => undefined);
    if (!st?.isFile()) continue;
    if (
      await fs.access(candidate, fs.constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}
