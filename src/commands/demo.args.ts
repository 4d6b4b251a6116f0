import type { Argv } from 'yargs';

export interface DemoArgs {
  /** Keep the temporary directory instead of removing it. */
  keep?: boolean;
  /** The fixture image tarball; default: fixtures/hello-image.tar of this checkout. */
  fixture?: string;
}

export const demoCommand = {
  command: 'demo',
  describe: 'pack the shipped fixture image (fixtures/hello-image.tar) into a temporary directory and show the result',
  builder: (y: Argv) =>
    y.options({ keep: { type: 'boolean', default: false, describe: 'keep the temporary directory' } } as const),
};
