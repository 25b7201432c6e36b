// Bad input: each throws a SimdpropError that names the problem, and the model's parameters,
// gradients and optimizer state are bit-identical afterwards.
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, Sequential, SGD, SimdpropError, type ErrorCode } from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { BACKENDS, loadBackends, normalMatrix, sameBits, snapshot } from './setup.js';

beforeAll(loadBackends);

describe.each(BACKENDS)('bad input on the %s backend', (backend) => {
  // A model mid-training: momentum state and accumulated gradients that must survive every error.
  function trainedModel(): { model: Sequential; optimizer: SGD } {
    const model = new Sequential([dense(3, 4, 'relu'), dense(4, 2)], { seed: 1, backend });
    const optimizer = new SGD(model, { lr: 0.1, momentum: 0.9 });
    const x = normalMatrix(5, 3, 2);
    model.trainStep(x, [0, 1, 1, 0, 1], { loss: 'softmaxCrossEntropy', optimizer });
    model.forward(x);
    model.loss('softmaxCrossEntropy', [1, 1, 0, 0, 1]);
    model.backward();
    return { model, optimizer };
  }

  const cases: { what: string; code: ErrorCode; message: RegExp; act: (m: Sequential, o: SGD) => unknown }[] = [
    { what: 'input width (Float32Array)', code: 'SHAPE', message: /whole rows of 3 features.*length 7/,
      act: (m) => m.forward(new Float32Array(7)) },
    { what: 'input width (rows)', code: 'SHAPE', message: /x\[1\] must have 3 features, got 2/,
      act: (m) => m.forward([[1, 2, 3], [1, 2]]) },
    { what: 'input width in trainStep', code: 'SHAPE', message: /x\[0\] must have 3 features, got 4/,
      act: (m, o) => m.trainStep([[1, 2, 3, 4]], [0], { loss: 'softmaxCrossEntropy', optimizer: o }) },
    { what: 'batch of 0', code: 'EMPTY_BATCH', message: /empty batch/, act: (m) => m.forward(new Float32Array(0)) },
    { what: 'batch of 0 rows', code: 'EMPTY_BATCH', message: /empty batch/,
      act: (m, o) => m.trainStep([], [], { loss: 'mse', optimizer: o }) },
    { what: 'label out of range', code: 'LABEL', message: /y\[2\] is number 2.*\[0, 1\]/,
      act: (m, o) => m.trainStep(normalMatrix(3, 3, 1), [0, 1, 2], { loss: 'softmaxCrossEntropy', optimizer: o }) },
    { what: 'negative label', code: 'LABEL', message: /y\[0\] is number -1/,
      act: (m, o) => m.trainStep(normalMatrix(1, 3, 1), new Int32Array([-1]), { loss: 'softmaxCrossEntropy', optimizer: o }) },
    { what: 'non-integer label', code: 'LABEL', message: /y\[1\] is number 0.5/,
      act: (m, o) => m.trainStep(normalMatrix(2, 3, 1), [1, 0.5], { loss: 'softmaxCrossEntropy', optimizer: o }) },
    { what: 'label count', code: 'SHAPE', message: /one class label per row: expected 2, got 3/,
      act: (m, o) => m.trainStep(normalMatrix(2, 3, 1), [1, 0, 1], { loss: 'softmaxCrossEntropy', optimizer: o }) },
    { what: 'NaN in a Float32Array input', code: 'NOT_FINITE', message: /x holds NaN at row 1, column 2/,
      act: (m, o) => m.trainStep(Float32Array.of(1, 2, 3, 4, 5, NaN), [0, 1], { loss: 'softmaxCrossEntropy', optimizer: o }) },
    { what: 'Infinity in array rows', code: 'NOT_FINITE', message: /x holds Infinity at row 0, column 0/,
      act: (m) => m.forward([[Infinity, 0, 0]]) },
    { what: 'NaN in targets', code: 'NOT_FINITE', message: /y holds NaN at row 0, column 1/,
      act: (m, o) => m.trainStep([[0, 0, 0]], [[1, NaN]], { loss: 'mse', optimizer: o }) },
    { what: 'BCE targets outside [0, 1]', code: 'TARGET', message: /y holds 2 at row 0, column 0.*\[0, 1\]/,
      act: (m, o) => m.trainStep([[0, 0, 0]], [[2, 0]], { loss: 'bceWithLogits', optimizer: o }) },
    { what: 'targets shape', code: 'SHAPE', message: /y must have 2 rows.*got 1/,
      act: (m, o) => m.trainStep(normalMatrix(2, 3, 1), [[0, 1]], { loss: 'mse', optimizer: o }) },
    { what: 'wrong input type', code: 'TYPE', message: /x must be a Float32Array.*got a Float64Array of length 3/,
      act: (m) => m.forward(new Float64Array(3) as unknown as Float32Array) },
    { what: 'a string in a row', code: 'TYPE', message: /x\[0\]\[1\] must be a number, got "a"/,
      act: (m) => m.forward([[1, 'a', 3]] as unknown as number[][]) },
    { what: 'unknown loss', code: 'UNKNOWN_NAME', message: /unknown loss "crossEntropy": expected one of softmaxCrossEntropy/,
      act: (m, o) => m.trainStep([[0, 0, 0]], [0], { loss: 'crossEntropy' as 'mse', optimizer: o }) },
    { what: 'optimizer of another model', code: 'OPTION', message: /optimizer made for this model/,
      act: (m) => m.trainStep([[0, 0, 0]], [0], { loss: 'softmaxCrossEntropy', optimizer: new SGD(new Sequential([dense(3, 2)], { backend }), { lr: 1 }) }) },
    { what: 'dOut shape', code: 'SHAPE', message: /dOut must have 5 rows/, act: (m) => m.backward([[1, 1]]) },
  ];

  it.each(cases)('$what', ({ code, message, act }) => {
    const { model, optimizer } = trainedModel();
    const before = snapshot(model);
    expectError(() => act(model, optimizer), code, message);
    expect(sameBits(snapshot(model), before)).toBe(true);
    model.dispose();
  });

  it('a rejected fit leaves the model and the memory it had', async () => {
    const { model, optimizer } = trainedModel();
    const before = snapshot(model);
    const inUse = model.backend.heap.inUseBytes;
    await expect(model.fit([[0, 0, 0], [0, 0, 0]], [0, 7], { loss: 'softmaxCrossEntropy', optimizer })).rejects.toThrow(/y\[1\] is number 7/);
    expect(sameBits(snapshot(model), before)).toBe(true);
    expect(model.backend.heap.inUseBytes).toBe(inUse);
    model.dispose();
  });

  it('a fit with NaN in its data is rejected and changes nothing', async () => {
    const { model, optimizer } = trainedModel();
    const before = snapshot(model);
    await expect(model.fit([[0, NaN, 0]], [1], { loss: 'softmaxCrossEntropy', optimizer })).rejects.toThrow(/x holds NaN at row 0, column 1/);
    expect(sameBits(snapshot(model), before)).toBe(true);
    model.dispose();
  });

  it('a logits loss after a squashing output layer', () => {
    const model = new Sequential([dense(2, 3, 'softmax')], { seed: 1, backend });
    model.forward([[1, 2]]);
    expectError(() => model.loss('softmaxCrossEntropy', [0]), 'OPTION', /takes logits, but the last layer applies softmax/);
    const binary = new Sequential([dense(2, 1, 'sigmoid')], { seed: 1, backend });
    binary.forward([[1, 2]]);
    expectError(() => binary.loss('bceWithLogits', [1]), 'OPTION', /use 'bce'/);
    model.dispose();
    binary.dispose();
  });

  it('unknown activation', () => {
    expectError(() => dense(2, 2, 'swish' as 'relu'), 'UNKNOWN_NAME', /unknown activation "swish": expected one of linear, relu/);
  });

  it('layers that do not chain', () => {
    expectError(() => new Sequential([dense(2, 3), dense(4, 1)], { backend }), 'SHAPE', /layers\[1\] takes 4 inputs but the dense layer before it gives 3/);
  });

  it('use after dispose', () => {
    const { model, optimizer } = trainedModel();
    model.dispose();
    expectError(() => model.forward([[1, 2, 3]]), 'DISPOSED', /disposed/);
    expectError(() => model.trainStep([[1, 2, 3]], [0], { loss: 'softmaxCrossEntropy', optimizer }), 'DISPOSED', /disposed/);
    expectError(() => model.namedParameters(), 'DISPOSED', /disposed/);
    expectError(() => optimizer.zeroGrad(), 'DISPOSED', /disposed/);
    model.dispose();
  });

  it('calls out of order', () => {
    const model = new Sequential([dense(2, 2)], { seed: 1, backend });
    expectError(() => model.loss('mse', [[0, 0]]), 'ORDER', /needs a forward/);
    model.forward([[1, 1]]);
    expectError(() => model.backward(), 'ORDER', /needs loss\(\)/);
    expectError(() => model.inputGrad(), 'ORDER', /needs a backward/);
    model.dispose();
  });

  it('bad SGD options', () => {
    const model = new Sequential([dense(2, 2)], { seed: 1, backend });
    expectError(() => new SGD(model, { lr: -1 }), 'OPTION', /lr must be a finite number ≥ 0, got number -1/);
    expectError(() => new SGD(model, { lr: 0.1, momentum: NaN }), 'OPTION', /momentum/);
    expectError(() => new SGD(model, { lr: 0.1, nesterov: true }), 'OPTION', /nesterov needs momentum/);
    model.dispose();
  });
});

it('a batch larger than the memory can grow to is a MEMORY error that changes nothing', () => {
  const model = new Sequential([dense(4096, 4096)], { seed: 1, backend: 'js' });
  const before = snapshot(model);
  // 70,000 rows × 4096 floats × 4 bytes × several regions ≫ 4 GiB.
  let thrown: unknown;
  try {
    (model as unknown as { reserveRows(rows: number): void }).reserveRows(70_000);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(SimdpropError);
  expect((thrown as SimdpropError).code).toBe('MEMORY');
  expect((thrown as Error).message).toMatch(/a batch of 70000 rows needs more memory than the backend can grow to/);
  expect(sameBits(snapshot(model), before)).toBe(true);
  model.dispose();
});
