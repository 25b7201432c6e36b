// The one table of kernels, read from the kernels themselves: every exported snake_case function of
// assembly/kernels/<op>.ts (tape.ts aside) is a kernel, with the parameter kinds and result its
// AssemblyScript signature gives. From that table this writes, before anything is compiled:
//   assembly/generated/exports.ts   the wasm module's kernel exports
//   assembly/generated/dispatch.ts  run_tape's decoder: one case per opcode, arguments by kind
//   assembly/generated/activations.ts  the activation codes dense_forward takes: each name's place in
//     ACTIVATIONS (src/activations.ts), the one list of them
//   src/backend/generated/kernels.ts  the TS contract (Kernels, with each kernel's doc comment), the
//     names and opcodes, the tape's encoder and the twins' binding to src/backend/js/<op>.ts
// and it fails, naming the kernel, when a twin is missing or takes other arguments than its kernel.
// Run by `npm run build:wasm`; the outputs are build products (git ignores them).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A parameter's kind: a byte offset (usize), an int32 buffer's byte offset (Int32Ptr), or a number. */
type Kind = 'usize' | 'Int32Ptr' | 'i32' | 'f32' | 'f64';
const KINDS: readonly string[] = ['usize', 'Int32Ptr', 'i32', 'f32', 'f64'];
/**
 * The tape's record: RECORD_SLOTS slots of 8 bytes, the opcode in slot 0, arguments in 1 … MAX_ARGUMENTS,
 * then the stop flag and the result. Both sides of the tape take these from the generated files.
 */
const RECORD_SLOTS = 24;
const STOP_SLOT = RECORD_SLOTS - 2;
const RESULT_SLOT = RECORD_SLOTS - 1;
const MAX_ARGUMENTS = STOP_SLOT - 1;

interface Parameter {
  name: string;
  kind: Kind;
}

export interface Kernel {
  name: string;
  /** The file's stem under assembly/kernels and src/backend/js. */
  file: string;
  parameters: Parameter[];
  result: 'void' | 'i32' | 'f32' | 'f64';
  doc: string;
}

const KERNEL_NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/**
 * The table of kernels under `kernelsDir` (assembly/kernels) checked against their twins under
 * `twinsDir` (src/backend/js), and every problem found, each naming its kernel.
 */
export function readTable(kernelsDir: string, twinsDir: string): { kernels: Kernel[]; problems: string[] } {
  const problems: string[] = [];
  const fail = (message: string): void => {
    problems.push(message);
  };
  const kernels = readKernels(kernelsDir, fail);
  for (const kernel of kernels) {
    const twin = twinParameters(kernel, twinsDir, fail);
    if (twin === undefined) continue;
    const { expected } = twinArguments(kernel);
    if (twin.length !== expected.length) {
      fail(`the twin of ${kernel.name} (src/backend/js/${kernel.file}.ts) takes ${twin.length} arguments ` +
        `(${twin.join(', ')}), but its kernel's signature needs ${expected.length}: ${expected.join(', ')}`);
    }
  }
  return { kernels, problems };
}

function readKernels(kernelsDir: string, fail: (message: string) => void): Kernel[] {
  const kernels: Kernel[] = [];
  const files = readdirSync(kernelsDir).filter((file) => file.endsWith('.ts') && file !== 'tape.ts').sort();
  for (const file of files) {
    const stem = file.slice(0, -3);
    const source = readFileSync(join(kernelsDir, file), 'utf8');
    // An export not marked @inline: `/** doc */ export function name(params): result {`.
    const pattern = /(\/\*\*(?:(?!\*\/)[\s\S])*\*\/\s*)?(@inline\s+)?export function (\w+)\s*\(([^)]*)\)\s*:\s*(\w+)/g;
    for (const match of source.matchAll(pattern)) {
      const [, doc = '', inline, name, params, result] = match;
      if (inline || !KERNEL_NAME.test(name)) continue;
      const where = `assembly/kernels/${file}: ${name}`;
      if (!['void', 'i32', 'f32', 'f64'].includes(result)) fail(`${where} returns ${result}: a kernel returns void, i32, f32 or f64`);
      const parameters = params.split(',').map((p) => p.trim()).filter(Boolean).map((p): Parameter => {
        const [paramName, type] = p.split(':').map((s) => s.trim());
        if (!KINDS.includes(type)) fail(`${where}: parameter ${paramName} is ${type}; kernels take ${KINDS.join(', ')}`);
        return { name: paramName, kind: type as Kind };
      });
      if (parameters.length > MAX_ARGUMENTS) fail(`${where} takes ${parameters.length} arguments; a tape record holds ${MAX_ARGUMENTS}`);
      if (!doc) fail(`${where} has no /** doc comment */: it becomes the TS contract's documentation`);
      if (kernels.some((k) => k.name === name)) fail(`${where}: a kernel of this name exists already`);
      kernels.push({ name, file: stem, parameters, result: result as Kernel['result'], doc: doc.trim() });
    }
  }
  return kernels;
}

// The twin's exported parameters, from src/backend/js/<file>.ts, or a message saying why not.
function twinParameters(kernel: Kernel, twinsDir: string, fail: (message: string) => void): string[] | undefined {
  let source: string;
  try {
    source = readFileSync(join(twinsDir, `${kernel.file}.ts`), 'utf8');
  } catch {
    fail(`kernel ${kernel.name} (assembly/kernels/${kernel.file}.ts) has no twin: src/backend/js/${kernel.file}.ts does not exist`);
    return undefined;
  }
  const match = new RegExp(`export function ${kernel.name}\\s*\\(([^)]*)\\)`).exec(source);
  if (!match) {
    fail(`kernel ${kernel.name} has no twin: src/backend/js/${kernel.file}.ts does not export function ${kernel.name}`);
    return undefined;
  }
  return match[1].split(',').map((p) => p.trim()).filter(Boolean).map((p) => p.split(':')[0].trim());
}

/** What the twin takes: the float array, then each parameter but scratch, an int32 buffer as (array, index). */
function twinArguments(kernel: Kernel): { expected: string[]; call: string[] } {
  const expected = ['m'];
  const call = ['floats()'];
  for (const { name, kind } of kernel.parameters) {
    if (kind === 'usize' && name === 'scratch') continue;
    if (kind === 'Int32Ptr') {
      expected.push(`${name} (Int32Array)`, `${name} (index)`);
      call.push('ints()', `at(${name})`);
    } else if (kind === 'usize') {
      expected.push(name);
      call.push(`at(${name})`);
    } else {
      expected.push(name);
      call.push(name);
    }
  }
  return { expected, call };
}

// Run as a script (npm run build:wasm): check, then write the generated files.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) generate();

function generate(): void {
  const { kernels, problems } = readTable(join(root, 'assembly/kernels'), join(root, 'src/backend/js'));
  if (problems.length > 0) {
    console.error(`scripts/kernels.ts: the kernels and their twins do not agree:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exit(1);
  }

  const HEADER = '// Generated by scripts/kernels.ts (npm run build:wasm) from the kernels and their twins: do not edit.\n';
  const opcode = (i: number): number => i + 1;

  // ---- AssemblyScript: the exports and run_tape's decoder ----
  const byFile = new Map<string, string[]>();
  for (const kernel of kernels) byFile.set(kernel.file, [...(byFile.get(kernel.file) ?? []), kernel.name]);
  const exportsSource = HEADER + [...byFile].map(([file, names]) => `export { ${names.join(', ')} } from '../kernels/${file}';`).join('\n') + '\n';

  const LOADERS: Record<Kind, string> = { usize: 'ptr', Int32Ptr: 'ptr', i32: 'int', f32: 'f32of', f64: 'f64of' };
  const cases = kernels.map((kernel, i) => {
    const args = kernel.parameters.map((p, slot) => `${LOADERS[p.kind]}(r, ${slot + 1})`).join(', ');
    const call = `${kernel.name}(${args})`;
    const body = kernel.result === 'void' ? `${call}; return 0;` : kernel.result === 'f64' ? `return ${call};` : `return <f64>${call};`;
    return `    case ${opcode(i)}: ${body}`;
  });
  const dispatchSource = `${HEADER}// A record's argument i (from 1) is in 8-byte slot i: an int32 in its low 4 bytes for integers and
// pointers (as the JS → wasm call's ToInt32 makes them), an f64 for floats (an f32 argument is rounded
// from it to nearest, as the JS → wasm call rounds it).
${[...byFile].map(([file, names]) => `import { ${names.join(', ')} } from '../kernels/${file}';`).join('\n')}

/** A record's size in bytes, and where it keeps its stop flag and its result (scripts/kernels.ts RECORD_SLOTS). */
export const RECORD_BYTES: usize = ${RECORD_SLOTS} << 3;
export const STOP_AT: usize = ${STOP_SLOT} << 3;
export const RESULT_AT: usize = ${RESULT_SLOT} << 3;

@inline function int(r: usize, i: usize): i32 {
  return load<i32>(r + (i << 3));
}
@inline function ptr(r: usize, i: usize): usize {
  return <usize>load<u32>(r + (i << 3));
}
@inline function f32of(r: usize, i: usize): f32 {
  return <f32>load<f64>(r + (i << 3));
}
@inline function f64of(r: usize, i: usize): f64 {
  return load<f64>(r + (i << 3));
}

/** Runs the record at r: the kernel its opcode names, with its arguments; returns the kernel's result (0 for none). */
export function runRecord(r: usize): f64 {
  switch (load<i32>(r)) {
${cases.join('\n')}
  }
  unreachable();
  return 0;
}
`;

  // ---- TypeScript: the contract, names, tape encoder and twin binding ----
  const indent = (doc: string): string => doc.split('\n').map((line) => `  ${line.trim().startsWith('*') ? ' ' : ''}${line.trim()}`).join('\n');
  const signature = (kernel: Kernel): string =>
    `${kernel.name}(${kernel.parameters.map((p) => `${p.name}: number`).join(', ')}): ${kernel.result === 'void' ? 'void' : 'number'}`;
  const interfaceSource = kernels.map((kernel) => `${indent(kernel.doc)}\n  ${signature(kernel)};`).join('\n');

  const encoders = kernels.map((kernel, i) => {
    const ints = kernel.parameters.map((p, slot) => (p.kind === 'f32' || p.kind === 'f64' ? '' : `t[r + ${2 * (slot + 1)}] = ${p.name};`)).filter(Boolean);
    const floats = kernel.parameters.map((p, slot) => (p.kind === 'f32' || p.kind === 'f64' ? `f[(r >> 1) + ${slot + 1}] = ${p.name};` : '')).filter(Boolean);
    const lines = [`const r = this.open(${opcode(i)});`];
    if (ints.length > 0) lines.push(`const t = this.ints;`, ints.join(' '));
    if (floats.length > 0) lines.push(`const f = this.records;`, floats.join(' '));
    if (kernel.result !== 'void') lines.push('return this.recorded();');
    return `  ${signature(kernel)} {\n${lines.map((line) => `    ${line}`).join('\n')}\n  }`;
  });

  const twinImports = [...byFile].map(([file, names]) => `import { ${names.join(', ')} } from '../js/${file}.js';`).join('\n');
  const bindings = kernels.map((kernel) => {
    const params = kernel.parameters.map((p) => (p.kind === 'usize' && p.name === 'scratch' ? `_${p.name}` : p.name));
    return `    ${kernel.name}: (${params.join(', ')}) => ${kernel.name}(${twinArguments(kernel).call.join(', ')}),`;
  });

  const tsSource = `${HEADER}// The kernel contract: every function both backends implement, with the same signature. Pointers
// are byte offsets into the backend's one memory (0 means "none"); sizes are element counts.
// Matrices are row-major float32; labels and indices are int32. "=" writes the output, "+=" accumulates.
import type { Floats } from '../js/floats.js';
${twinImports}

export interface Kernels {
${interfaceSource}
}

export type KernelName = keyof Kernels;

/** Every kernel, in opcode order: a kernel's opcode (the tape's and the workers' call number) is its place here, from 1. */
export const KERNEL_NAMES: readonly KernelName[] = [
${kernels.map((k) => `  '${k.name}',`).join('\n')}
];

/** 8-byte slots per tape record, and the slots of its stop flag and result (scripts/kernels.ts RECORD_SLOTS). */
export const RECORD_SLOTS = ${RECORD_SLOTS};
export const STOP_SLOT = ${STOP_SLOT};
export const RESULT_SLOT = ${RESULT_SLOT};

/** Each kernel's opcode. */
export const OPCODES: Readonly<Record<KernelName, number>> = {
${kernels.map((k, i) => `  ${k.name}: ${opcode(i)},`).join('\n')}
};

/**
 * The tape's encoder: each kernel call becomes a record (see src/backend/wasm/tape.ts). open() starts a
 * record and returns the index of its opcode in \`ints\` (twice its index in \`records\`); argument slot k
 * is ints[r + 2k] for an integer or pointer and records[r / 2 + k] for a float. A kernel that returns
 * a value returns recorded()'s.
 */
export abstract class TapeRecorder implements Kernels {
  protected abstract records: Float64Array;
  protected abstract ints: Int32Array;
  protected abstract open(code: number): number;
  protected abstract recorded(): number;

${encoders.join('\n\n')}
}

/** Element index of a 4-byte element, −1 for byte offset 0 (none); >>> keeps offsets of 2 GiB and above positive. */
function at(byteOffset: number): number {
  return byteOffset === 0 ? -1 : byteOffset >>> 2;
}

/**
 * The twins bound to the kernel contract: byte offsets in, element indices of \`floats()\` out (4 bytes
 * per element of the byte-offset space; int32 buffers index \`ints()\`). The arrays are fetched on every
 * call, since growing a memory replaces its views.
 */
export function bindTwins(floats: () => Floats, ints: () => Int32Array): Kernels {
  return {
${bindings.join('\n')}
  };
}
`;

  function write(path: string, contents: string): void {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    // Unchanged files keep their times, so tools watching them do not rebuild.
    let before: string | undefined;
    try {
      before = readFileSync(full, 'utf8');
    } catch {
      before = undefined;
    }
    if (before !== contents) writeFileSync(full, contents);
  }

  // ---- The activation codes, from the one list of activation names ----
  const listed = /export const ACTIVATIONS[^=]*=\s*\[([^\]]*)\]/.exec(readFileSync(join(root, 'src/activations.ts'), 'utf8'));
  if (!listed) {
    console.error('scripts/kernels.ts: src/activations.ts has no `export const ACTIVATIONS = [...]` to read the activation codes from');
    process.exit(1);
  }
  const activationNames = [...listed[1].matchAll(/'(\w+)'/g)].map((m) => m[1]);
  const constantName = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
  const activationsSource = `${HEADER}// Activation codes: each name's place in ACTIVATIONS (src/activations.ts).
${activationNames.map((name, i) => `export const ${constantName(name)}: i32 = ${i};`).join('\n')}
`;

  write('assembly/generated/activations.ts', activationsSource);
  write('assembly/generated/exports.ts', exportsSource);
  write('assembly/generated/dispatch.ts', dispatchSource);
  write('src/backend/generated/kernels.ts', tsSource);
}
