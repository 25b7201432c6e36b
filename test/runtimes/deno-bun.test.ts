// simdprop's built package in Deno and Bun (from npm: devDependencies), next to Node: each trains the
// toy with SIMD and threads, and the baseline SIMD build gives the same bits in all three.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const here = new URL('.', import.meta.url).pathname;
const bin = (name: string): string => new URL(`../../node_modules/.bin/${name}`, import.meta.url).pathname;

const RUNTIMES: Record<string, string[]> = {
  node: [process.execPath],
  deno: [bin('deno'), 'run', '--allow-read', '--allow-env', '--allow-sys'],
  bun: [bin('bun')],
};

function run(runtime: string, init: object): { description: string; threads: number; first: number; last: number } {
  const [command, ...args] = RUNTIMES[runtime];
  const output = execFileSync(command, [...args, 'smoke.mjs'], {
    cwd: here, encoding: 'utf8', env: { ...process.env, SIMDPROP_INIT: JSON.stringify(init) }, timeout: 60_000,
  });
  return JSON.parse(output.trim().split('\n').at(-1)!);
}

describe.each(['deno', 'bun'])('%s', (runtime) => {
  it('loads the package, picks SIMD with threads, and trains', () => {
    const result = run(runtime, {});
    expect(result.description).toMatch(/^wasm simd128/);
    expect(result.threads).toBeGreaterThan(1);
    expect(result.last).toBeLessThan(result.first / 4);
  });
});

it('the baseline SIMD build on one thread gives the same bits in Node, Deno and Bun', () => {
  const results = Object.keys(RUNTIMES).map((runtime) => run(runtime, { relaxed: false, threads: 1 }));
  for (const result of results) {
    expect(result.description).toBe('wasm simd128');
    expect(result.last).toBe(results[0].last);
    expect(result.first).toBe(results[0].first);
  }
});
