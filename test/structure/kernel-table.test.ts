// The one table of kernels (scripts/kernels.ts): read from the kernels themselves, checked against
// their twins, and the source of the wasm exports, the tape's codec and the TS contract — a missing
// twin or a twin of other arguments fails the build with a message naming the kernel.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTable } from '../../scripts/kernels.js';
import { KERNEL_NAMES } from '../../src/backend/kernels.js';

const root = new URL('../../', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'simdprop-kernels-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A pretend assembly/kernels and src/backend/js with the files given. */
function tree(name: string, kernels: Record<string, string>, twins: Record<string, string>): { kernels: string; twins: string } {
  const folder = join(scratch, name);
  for (const [sub, files] of [['kernels', kernels], ['twins', twins]] as const) {
    mkdirSync(join(folder, sub), { recursive: true });
    for (const [file, text] of Object.entries(files)) writeFileSync(join(folder, sub, file), text);
  }
  return { kernels: join(folder, 'kernels'), twins: join(folder, 'twins') };
}

const SCALE = `/** x *= s */\nexport function scale_by(x: usize, n: i32, s: f32): void {}\n@inline export function helper(x: usize): void {}\nexport function camelHelper(x: usize): void {}\n`;

describe('the kernel table', () => {
  it('reads the repository\'s kernels with no problem, and they are what the wasm module exports', async () => {
    const { kernels, problems } = readTable(join(root, 'assembly/kernels'), join(root, 'src/backend/js'));
    expect(problems).toEqual([]);
    expect(kernels.map((k) => k.name)).toEqual([...KERNEL_NAMES]);
    const module = await WebAssembly.compile(await readFile(join(root, 'build/simdprop.wasm')));
    const exported = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
    expect(exported.filter((name) => name !== 'run_tape').sort()).toEqual([...KERNEL_NAMES].sort());
  });

  it('takes exported snake_case functions only, with their kinds and doc comments', () => {
    const dirs = tree('good', { 'scale.ts': SCALE }, { 'scale.ts': 'export function scale_by(m: Floats, x: number, n: number, s: number): void {}' });
    const { kernels, problems } = readTable(dirs.kernels, dirs.twins);
    expect(problems).toEqual([]);
    expect(kernels).toEqual([{ name: 'scale_by', file: 'scale', doc: '/** x *= s */', result: 'void',
      parameters: [{ name: 'x', kind: 'usize' }, { name: 'n', kind: 'i32' }, { name: 's', kind: 'f32' }] }]);
  });

  it('names a kernel whose twin file or twin function is missing', () => {
    const noFile = tree('no-file', { 'scale.ts': SCALE }, {});
    expect(readTable(noFile.kernels, noFile.twins).problems).toEqual([
      'kernel scale_by (assembly/kernels/scale.ts) has no twin: src/backend/js/scale.ts does not exist',
    ]);
    const noFunction = tree('no-function', { 'scale.ts': SCALE }, { 'scale.ts': 'export function scale(m: Floats): void {}' });
    expect(readTable(noFunction.kernels, noFunction.twins).problems).toEqual([
      'kernel scale_by has no twin: src/backend/js/scale.ts does not export function scale_by',
    ]);
  });

  it('names a twin that takes other arguments, counting an int32 buffer as two and scratch as none', () => {
    const kernel = '/** labels */\nexport function pick(out: usize, labels: Int32Ptr, n: i32, scratch: usize): f64 { return 0; }\n';
    const wrong = tree('wrong', { 'pick.ts': kernel }, { 'pick.ts': 'export function pick(m: Floats, out: number, labels: number, n: number): number {}' });
    expect(readTable(wrong.kernels, wrong.twins).problems).toEqual([
      'the twin of pick (src/backend/js/pick.ts) takes 4 arguments (m, out, labels, n), but its kernel\'s signature needs 5: ' +
        'm, out, labels (Int32Array), labels (index), n',
    ]);
    const right = tree('right', { 'pick.ts': kernel }, { 'pick.ts': 'export function pick(m: Floats, out: number, labels: Int32Array, at: number, n: number): number {}' });
    expect(readTable(right.kernels, right.twins).problems).toEqual([]);
  });

  it('names a kernel of an argument kind the tape cannot carry, or without a doc comment', () => {
    const dirs = tree('bad', { 'bad.ts': 'export function no_doc(x: usize): void {}\n/** v */\nexport function vector_arg(v: v128): v128 { return v; }\n' },
      { 'bad.ts': 'export function no_doc(m: Floats, x: number): void {}\nexport function vector_arg(m: Floats, v: number): number {}' });
    expect(readTable(dirs.kernels, dirs.twins).problems).toEqual([
      'assembly/kernels/bad.ts: no_doc has no /** doc comment */: it becomes the TS contract\'s documentation',
      'assembly/kernels/bad.ts: vector_arg returns v128: a kernel returns void, i32, f32 or f64',
      'assembly/kernels/bad.ts: vector_arg: parameter v is v128; kernels take usize, Int32Ptr, i32, f32, f64',
    ]);
  });
});
