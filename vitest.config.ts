import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Integration tests start debuginfod and compress real data: keep them
    // from fighting over the two cores of a CI machine.
    fileParallelism: false,
    reporters: ['default'],
  },
});
