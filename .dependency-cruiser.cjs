/**
 * The layer rules of docs/architecture.md, checked by `npm run lint:deps`
 * (and by test/architecture.test.ts, so `npm test` fails on a violation).
 *
 * LAYERS is the one order, from the bottom. A folder (or top-level file) of
 * src/ may import from its own folder and from folders in lower layers;
 * folders in the same layer do not import each other, so there is no cycle
 * between folders either. Type-only imports count (tsPreCompilationDeps).
 */
const LAYERS = [
  ['errors'],
  ['util'],
  ['tar', 'xz', 'elf', 'http'],
  ['portage'],
  ['image', 'system'],
  ['binpkg', 'tarball'],
  ['pack', 'audit', 'prune', 'debuginfod', 'mirror'],
  ['serve', 'crash'],
  ['commands'],
  ['cli'],
];

/** Matches the folder src/<name>/ or the file src/<name>.ts. */
const unit = (names) => `^src/(${names.join('|')})(/|\\.ts$)`;

const layerRules = LAYERS.flatMap((layer, level) =>
  layer.map((name) => {
    const notBelow = LAYERS.slice(level)
      .flat()
      .filter((other) => other !== name);
    const below = LAYERS.slice(0, level).flat().join(', ') || 'nothing else';
    return {
      name: `layer-${name}`,
      comment: `${name} may import only its own folder and ${below} (docs/architecture.md)`,
      severity: 'error',
      from: { path: unit([name]) },
      to: { path: unit(notBelow) },
    };
  }),
);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles between files (type-only imports included).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'commands-not-each-other',
      comment:
        "A command does not import another command: only its own VERB.args.ts and the commands' shared " +
        'options.ts (option definitions), plain-line.ts (the light parser) and progress.ts (the progress line).',
      severity: 'error',
      from: { path: '^src/commands/([^/.]+)(\\.args)?\\.ts$' },
      to: { path: '^src/commands/', pathNot: '^src/commands/($1(\\.args)?|options|plain-line|progress)\\.ts$' },
    },
    {
      name: 'no-orphans',
      comment: 'A module nothing imports is dead code (cli.ts is the entry point).',
      severity: 'warn',
      from: { orphan: true, pathNot: ['^src/cli\\.ts$', '\\.d\\.ts$'] },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    includeOnly: '^src/',
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

// For test/architecture.test.ts (compares it with docs/architecture.md); not
// enumerable, since dependency-cruiser refuses unknown configuration keys.
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });
