// Saving and loading models as safetensors: bit-identical round trips, PyTorch's names and layouts,
// files written elsewhere, and every kind of bad file failing with a named error before anything is made.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Adam, dense, getBackend, init, RMSprop, Sequential, SGD, SimdpropError } from '../../src/index.js';
import { parseSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { VERSION } from '../../src/version.js';
import { BACKENDS, normalMatrix, sameBits } from '../model/setup.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

function headerOf(bytes: Uint8Array): Record<string, any> {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
}

function withHeader(header: unknown, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  return bytes;
}

describe.each(BACKENDS)('save and load on the %s backend', (backend) => {
  it('round-trips every kind of layer bit-exactly, predictions included', () => {
    const model = new Sequential([
      dense(5, 7, 'leakyRelu', { negativeSlope: 0.2 }), dense(7, 6, 'gelu', { bias: false }), dense(6, 4, 'tanh'), dense(4, 3, 'softmax'),
    ], { seed: 12, backend });
    const bytes = model.save();
    const loaded = Sequential.load(bytes, { backend });
    expect(loaded.layers.map((l) => [l.inputSize, l.outputSize, l.activation, l.hasBias, l.negativeSlope]))
      .toEqual(model.layers.map((l) => [l.inputSize, l.outputSize, l.activation, l.hasBias, l.negativeSlope]));
    loaded.namedParameters().forEach((p, i) => expect(sameBits(p.value, model.namedParameters()[i].value)).toBe(true));
    const x = normalMatrix(9, 5, 3);
    expect(sameBits(loaded.predict(x), model.predict(x))).toBe(true);
    model.dispose();
    loaded.dispose();
  });

  it('names and lays out tensors like the equivalent PyTorch nn.Sequential', () => {
    const model = new Sequential([dense(2, 4, 'relu'), dense(4, 3), dense(3, 1, 'sigmoid')], { seed: 1, backend });
    const bytes = model.save();
    const header = headerOf(bytes);
    // nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3), nn.Linear(3, 1), nn.Sigmoid())
    expect(Object.keys(header).filter((k) => k !== '__metadata__')).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '3.weight', '3.bias']);
    expect(header['0.weight']).toEqual({ dtype: 'F32', shape: [4, 2], data_offsets: [0, 32] });
    expect(header['0.bias'].data_offsets).toEqual([32, 48]);
    expect(header.__metadata__).toMatchObject({
      format: 'simdprop', version: VERSION,
      pytorch: 'nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3), nn.Linear(3, 1), nn.Sigmoid())',
    });
    // Weight [out, in]: element (o, i) is simdprop's W[i][o].
    const file = parseSafetensors(bytes);
    const stored = new DataView(file.data.buffer, file.data.byteOffset);
    const w = model.namedParameters()[0].value;
    for (let o = 0; o < 4; o++) for (let i = 0; i < 2; i++) expect(stored.getFloat32((o * 2 + i) * 4, true)).toBe(w[i * 4 + o]);
    // The header is padded to 8 bytes so the data is aligned.
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    model.dispose();
  });

  it('loads a file without simdprop metadata (as PyTorch writes it), given the activations', () => {
    const original = new Sequential([dense(3, 5, 'tanh'), dense(5, 2)], { seed: 4, backend });
    const header = headerOf(original.save());
    const file = parseSafetensors(original.save());
    const torchStyle = withHeader(Object.fromEntries(Object.entries(header).filter(([k]) => k !== '__metadata__')), file.data);
    expect(() => Sequential.load(torchStyle, { backend })).toThrow(/indices 0, 2.*pass \{ activations/);
    const loaded = Sequential.load(torchStyle, { backend, activations: ['tanh', 'linear'] });
    const x = normalMatrix(4, 3, 5);
    expect(sameBits(loaded.predict(x), original.predict(x))).toBe(true);
    original.dispose();
    loaded.dispose();
  });
});

describe('bad model files fail with a named error and make no model', () => {
  const good = (): Uint8Array => {
    const model = new Sequential([dense(3, 2, 'relu'), dense(2, 1)], { seed: 2, backend: 'js' });
    const bytes = model.save();
    model.dispose();
    return bytes;
  };
  const heap = () => getBackend('js').heap;

  const cases: [string, () => unknown, RegExp][] = [
    ['truncated to 4 bytes', () => good().subarray(0, 4), /too short/],
    ['truncated inside the header', () => good().subarray(0, 40), /header claims \d+ bytes/],
    ['truncated inside the data', () => good().subarray(0, good().length - 3), /spans bytes/],
    ['a header length of 2^60', () => { const b = good(); new DataView(b.buffer).setBigUint64(0, 2n ** 60n, true); return b; }, /header claims 1152921504606846976 bytes/],
    ['a header that is not JSON', () => withHeader('x', new Uint8Array(0)).fill(0x7b, 8), /not UTF-8 JSON/],
    ['a wrong dtype', () => { const h = headerOf(good()); h['0.weight'].dtype = 'F16'; return withHeader(h, parseSafetensors(good()).data); }, /"0.weight" is F16/],
    ['a wrong shape', () => { const h = headerOf(good()); h['0.weight'].shape = [3, 2]; return withHeader(h, parseSafetensors(good()).data); }, /shape \[3, 2\], expected \[2, 3\]/],
    ['a missing tensor', () => { const h = headerOf(good()); delete h['2.bias']; return withHeader(h, parseSafetensors(good()).data); }, /tensors this architecture does not use|no tensor "2.bias"/],
    ['an extra tensor', () => { const h = headerOf(good()); h['9.weight'] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] }; return withHeader(h, parseSafetensors(good()).data); }, /does not use: 9.weight/],
    ['overlapping tensors', () => { const h = headerOf(good()); h['0.bias'].data_offsets = [0, 8]; return withHeader(h, parseSafetensors(good()).data); }, /overlap/],
    ['a bad architecture', () => { const h = headerOf(good()); h.__metadata__.architecture = '[{"inputSize":-1}]'; return withHeader(h, parseSafetensors(good()).data); }, /bad layer 0/],
  ];

  it.each(cases)('%s', (_what, make, message) => {
    const bytes = make();
    const inUse = heap().inUseBytes;
    let thrown: unknown;
    try {
      Sequential.load(bytes as Uint8Array, { backend: 'js' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SimdpropError);
    expect((thrown as SimdpropError).code).toBe('FILE');
    expect((thrown as Error).message).toMatch(message);
    expect(heap().inUseBytes).toBe(inUse);
  });

  it('a value that is not bytes', () => {
    expect(() => Sequential.load('model.safetensors' as unknown as Uint8Array)).toThrow(/must be a Uint8Array/);
  });

  it('writeSafetensors and parseSafetensors agree on an empty file', () => {
    const parsed = parseSafetensors(writeSafetensors([], { a: 'b' }));
    expect(parsed.metadata).toEqual({ a: 'b' });
    expect(parsed.tensors.size).toBe(0);
  });
});

it('VERSION matches package.json', () => {
  expect(VERSION).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
});

it('saveModelFile and loadModelFile round-trip through the file system', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { saveModelFile, loadModelFile } = await import('../../src/index.js');
  const folder = await mkdtemp(join(tmpdir(), 'simdprop-'));
  try {
    const model = new Sequential([dense(3, 4, 'relu'), dense(4, 2)], { seed: 8, backend: 'js' });
    await saveModelFile(model, join(folder, 'model.safetensors'));
    const loaded = await loadModelFile(join(folder, 'model.safetensors'), { backend: 'js' });
    const x = normalMatrix(3, 3, 1);
    expect(sameBits(loaded.predict(x) as Float32Array, model.predict(x))).toBe(true);
  } finally {
    await rm(folder, { recursive: true });
  }
});

describe.each(BACKENDS)('resuming from a file with optimizer state on the %s backend', (backend) => {
  const steps = (model: Sequential, optimizer: { step(): void } & Parameters<Sequential['trainStep']>[2]['optimizer'], from: number, to: number): void => {
    for (let step = from; step < to; step++) {
      model.trainStep(normalMatrix(8, 5, step), normalMatrix(8, 2, 100 + step), { loss: 'mse', optimizer });
    }
  };

  it.each([
    ['Adam', (m: Sequential) => new Adam(m, { lr: 0.01, weightDecay: 1e-3 })],
    ['SGD with momentum', (m: Sequential) => new SGD(m, { lr: 0.05, momentum: 0.9, nesterov: true })],
    ['RMSprop, centered with momentum', (m: Sequential) => new RMSprop(m, { lr: 0.01, centered: true, momentum: 0.5 })],
  ])('%s: save after 5 steps, load, 5 more = 10 steps straight, bit for bit', (_name, make) => {
    const straight = new Sequential([dense(5, 6, 'tanh'), dense(6, 2)], { seed: 3, backend });
    steps(straight, make(straight), 0, 10);

    const first = new Sequential([dense(5, 6, 'tanh'), dense(6, 2)], { seed: 3, backend });
    const firstOptimizer = make(first);
    steps(first, firstOptimizer, 0, 5);
    const bytes = first.save({ optimizer: firstOptimizer });
    const resumed = Sequential.load(bytes, { backend });
    const resumedOptimizer = make(resumed);
    resumedOptimizer.loadState(bytes);
    expect(resumedOptimizer.stepCount).toBe(5);
    steps(resumed, resumedOptimizer, 5, 10);
    resumed.namedParameters().forEach((p, i) => expect(sameBits(p.value, straight.namedParameters()[i].value)).toBe(true));
    [straight, first, resumed].forEach((m) => m.dispose());
  });

  it('refuses state of another kind or shape', () => {
    const model = new Sequential([dense(5, 2)], { seed: 1, backend });
    const adam = new Adam(model);
    const bytes = model.save({ optimizer: adam });
    expect(() => new SGD(model, { lr: 0.1, momentum: 0.9 }).loadState(bytes)).toThrow(/state of a Adam, not of a SGD/);
    expect(() => new Adam(model).loadState(model.save())).toThrow(/holds no optimizer state/);
    const other = new Sequential([dense(5, 3)], { seed: 1, backend });
    expect(() => new Adam(other).loadState(bytes)).toThrow(/for another architecture \(nn\.Sequential\(nn\.Linear\(5, 2\)\)\)/);
    model.dispose();
    other.dispose();
  });
});
