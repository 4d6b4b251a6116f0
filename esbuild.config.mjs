#!/usr/bin/env node
// Bundles the CLI after `tsc` has emitted dist/: dist/cli.js becomes one ESM
// file with yargs and the command table, and each command's handler a chunk
// (dist/chunks/) loaded when its verb runs. Node loads one file much faster
// than the ~40 of yargs: `packdebug extract`, run once per file a debugger
// asks for, starts in about the time of bare node plus its own work.
// The other modules of dist/ stay as tsc wrote them (the benchmarks import them).
// lzma-native stays outside (a native addon, loaded through require).
// release.mjs bundles the release tarball's lib/ with the same options.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repoRoot = path.dirname(fileURLToPath(import.meta.url));

/** The options of both bundles: `outdir` is dist/ here, the release's lib/ in release.mjs. */
export function cliBundleOptions(outdir) {
  return {
    absWorkingDir: repoRoot,
    entryPoints: { cli: 'src/cli.ts' },
    outdir,
    // Chunks two levels below the repository, as tsc's dist/commands/*.js are:
    // import.meta.url-relative paths (demo's ../../fixtures) resolve the same.
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['lzma-native'],
    logLevel: 'warning',
    // Bundled CommonJS dependencies (tar's, execa's) may call require: give them Node's.
    banner: {
      js:
        "import { createRequire as __packdebugRequire } from 'node:module';\n" +
        'const require = __packdebugRequire(import.meta.url);',
    },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build({ ...cliBundleOptions('dist'), sourcemap: true });
}
