// The published package, not the source tree: npm pack, install the tarball into a fresh project,
// import simdprop by name and train. Proves the files list, the exports map and the wasm loader.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'simdprop-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('packs, installs into a new project and trains from the installed package', () => {
  // npm test has built dist/ and build/ already: pack them as they are.
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: root, stdio: 'pipe' });
  const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'))!;
  expect(tarball).toMatch(/^simdprop-\d+\.\d+\.\d+\.tgz$/);
  const listing = execFileSync('tar', ['-tzf', join(work, tarball)], { encoding: 'utf8' }).split('\n');
  for (const file of ['package/dist/index.js', 'package/dist/index.d.ts', 'package/build/simdprop.wasm', 'package/build/simdprop-mt.wasm',
    'package/build/simdprop-relaxed.wasm', 'package/build/simdprop-mt-relaxed.wasm']) {
    expect(listing).toContain(file);
  }
  expect(listing.some((file) => file.startsWith('package/src/') || file.startsWith('package/test/') || file.includes('node_modules'))).toBe(false);

  const project = join(work, 'project');
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-simdprop', version: '1.0.0', type: 'module', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', join(work, tarball)], { cwd: project, stdio: 'pipe' });
  writeFileSync(join(project, 'train.js'), `
    import { init, Sequential, dense, SGD, linearlySeparable } from 'simdprop';
    const report = await init();
    const { x, y } = linearlySeparable(100, 42);
    const model = new Sequential([dense(2, 4, 'relu'), dense(4, 1, 'sigmoid')], { seed: 1 });
    const history = await model.fit(x, y, { epochs: 300, batchSize: 100, loss: 'bce', optimizer: new SGD(model, { lr: 0.1 }) });
    const bytes = model.save();
    const again = Sequential.load(bytes);
    console.log(JSON.stringify({ backend: report.description, first: history.loss[0], last: history.loss.at(-1), size: bytes.length, same: again.predict(x)[0] === model.predict(x)[0] }));
  `);
  const output = JSON.parse(execFileSync('node', ['train.js'], { cwd: project, encoding: 'utf8' }).trim());
  expect(output.backend).toMatch(/^wasm simd128/);
  expect(output.last).toBeLessThan(output.first / 2);
  expect(output.same).toBe(true);
});
