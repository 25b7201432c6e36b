import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    // Two cores: one worker per core; the suites are CPU-bound.
    maxWorkers: 2,
    // Node 20 validates relaxed SIMD only behind this flag (with it the tests cover both wasm builds);
    // --expose-gc lets the allocation test start from a collected heap.
    execArgv: ['--experimental-wasm-relaxed-simd', '--expose-gc'],
  },
});
