/**
 * The layer rules of docs/architecture.md hold for src/ (`npm run lint:deps`,
 * run here so that `npm test` fails on an import cycle or an upward import),
 * the rules catch such imports in a small generated tree, and the document
 * lists the same layers as .dependency-cruiser.cjs.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const LAYERS = (createRequire(import.meta.url)(CONFIG) as { LAYERS: string[][] }).LAYERS;

/** Runs a shell command with the project's node_modules/.bin first on PATH. */
function run(command: string, cwd: string): Promise<{ status: number; output: string }> {
  const env = {
    ...process.env,
    PATH: `${path.join(ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env['PATH']}`,
  };
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd, env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ status, output: `${stdout}${stderr}` });
    });
  });
}

async function lintDepsCommand(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const script = pkg.scripts['lint:deps'];
  if (script === undefined) throw new Error('package.json has no lint:deps script');
  return script;
}

describe('layers', () => {
  it('src/ obeys docs/architecture.md (npm run lint:deps)', async () => {
    const { status, output } = await run(await lintDepsCommand(), ROOT);
    // Orphans are warnings (reported, exit 0); every other rule is an error.
    expect(output).not.toMatch(/^\s*error /m);
    expect(output).toMatch(/no dependency violations found|\(0 errors,/);
    expect(status).toBe(0);
  });

  it('an upward import, an import within a layer, a cycle and a command importing a command fail', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'packdebug-layers-'));
    try {
      const files: Record<string, string> = {
        'src/errors.ts': 'export const E = 1;\n',
        'src/cli.ts': "import { runA } from './commands/a.js';\nexport const main = runA;\n",
        // upward: util is below pack
        'src/util/up.ts': "import { P } from '../pack/p.js';\nexport const U = P;\n",
        'src/pack/p.ts': "import { E } from '../errors.js';\nexport const P = E;\n",
        // sideways: audit and pack share a layer
        'src/audit/side.ts': "import { P } from '../pack/p.js';\nexport const S = P;\n",
        // a cycle inside one folder
        'src/tar/one.ts': "import { TWO } from './two.js';\nexport const ONE = () => TWO;\n",
        'src/tar/two.ts': "import { ONE } from './one.js';\nexport const TWO = () => ONE;\n",
        // a command importing another command
        'src/commands/a.ts': "import { runB } from './b.js';\nexport const runA = runB;\n",
        'src/commands/b.ts':
          "import { U } from '../util/up.js';\nimport { S } from '../audit/side.js';\n" +
          "import { ONE } from '../tar/one.js';\nexport const runB = [U, S, ONE];\n",
        'tsconfig.json': JSON.stringify({
          compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true },
          include: ['src/**/*.ts'],
        }),
      };
      for (const [name, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(path.join(dir, name), text);
      }
      const command = (await lintDepsCommand()).replace(/\.dependency-cruiser\.cjs/, CONFIG);
      expect(command).toContain(CONFIG);
      const { status, output } = await run(command, dir);
      expect(status).not.toBe(0);
      expect(output).toMatch(/error layer-util: src\/util\/up\.ts → src\/pack\/p\.ts/);
      expect(output).toMatch(/error layer-audit: src\/audit\/side\.ts → src\/pack\/p\.ts/);
      expect(output).toMatch(/error no-circular: src\/tar\/(one|two)\.ts/);
      expect(output).toMatch(/error commands-not-each-other: src\/commands\/a\.ts → src\/commands\/b\.ts/);
      expect(output).not.toMatch(/src\/pack\/p\.ts → src\/errors\.ts/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('docs/architecture.md lists the layers of .dependency-cruiser.cjs', async () => {
    const doc = await readFile(path.join(ROOT, 'docs', 'architecture.md'), 'utf8');
    const block = /<!-- layers: top to bottom -->\n```text\n([\s\S]*?)```/.exec(doc);
    expect(block, 'the layer block of docs/architecture.md').not.toBeNull();
    const documented = block![1]!
      .trim()
      .split('\n')
      .map((line) =>
        line
          .replace(/#.*/, '')
          .trim()
          .split(/[\s,]+/)
          .filter(Boolean),
      )
      .reverse();
    expect(documented).toEqual(LAYERS);
  });
});
