// Every activation and loss, in 1-, 2- and 3-layer networks, on both backends: backward() against
// float64 central differences (gradCheck's default). The threshold, 1e-3 relative, is gradCheck's
// default: float32 backward passes on these sizes carry errors of ~1e-6 relative, float64 differences
// ~1e-9, so a pass means the backward rules are right; a wrong rule shows errors of 1e-1 and more.
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, gradCheck, Sequential, type ActivationName, type LossName } from '../../src/index.js';
import { BACKENDS, loadBackends, normalMatrix, probabilityMatrix, randomLabels } from '../model/setup.js';

beforeAll(loadBackends);

interface Case {
  loss: LossName;
  output: ActivationName;
  targets: 'labels' | 'onehot' | 'probabilities' | 'real';
}

const LOSS_CASES: Case[] = [
  { loss: 'softmaxCrossEntropy', output: 'linear', targets: 'labels' },
  { loss: 'softmaxCrossEntropy', output: 'linear', targets: 'onehot' },
  { loss: 'bce', output: 'sigmoid', targets: 'probabilities' },
  { loss: 'bce', output: 'softmax', targets: 'probabilities' },
  { loss: 'bceWithLogits', output: 'linear', targets: 'probabilities' },
  { loss: 'mse', output: 'linear', targets: 'real' },
  { loss: 'mse', output: 'tanh', targets: 'real' },
  { loss: 'mse', output: 'sigmoid', targets: 'probabilities' },
  { loss: 'mse', output: 'softmax', targets: 'probabilities' },
  { loss: 'huber', output: 'linear', targets: 'real' },
];

const HIDDEN: ActivationName[] = ['linear', 'relu', 'leakyRelu', 'sigmoid', 'tanh', 'gelu', 'softmax'];

const ROWS = 6;
const INPUTS = 5;
const OUTPUTS = 3;

function targetsFor(kind: Case['targets'], seed: number): Int32Array | Float32Array {
  if (kind === 'labels') return randomLabels(ROWS, OUTPUTS, seed);
  if (kind === 'onehot') {
    const labels = randomLabels(ROWS, OUTPUTS, seed);
    const rows = new Float32Array(ROWS * OUTPUTS);
    labels.forEach((label, r) => (rows[r * OUTPUTS + label] = 1));
    return rows;
  }
  if (kind === 'probabilities') return probabilityMatrix(ROWS, OUTPUTS, seed);
  return normalMatrix(ROWS, OUTPUTS, seed, 2);
}

function check(model: Sequential, lossCase: Case, seed: number): void {
  const x = normalMatrix(ROWS, INPUTS, seed);
  const result = gradCheck(model, x, targetsFor(lossCase.targets, seed + 1), { loss: lossCase.loss });
  const worst = result.parameters.map((p) => `${p.name} ${p.maxRelativeError.toExponential(1)}`).join(', ');
  console.log(`${model.backend.name} ${model.layers.map((l) => l.activation).join('→')} ${lossCase.loss}: ${worst}`);
  expect(result.warnings).toEqual([]);
  expect(result.maxRelativeError).toBeLessThan(1e-3);
  expect(result.passed).toBe(true);
  // The check compared real gradients, not zeros.
  expect(Math.max(...result.parameters.map((p) => p.largestGradient))).toBeGreaterThan(1e-3);
}

describe.each(BACKENDS)('gradCheck on the %s backend', (backend) => {
  it.each(LOSS_CASES)('1 layer, $output output, $loss on $targets', (lossCase) => {
    const model = new Sequential([dense(INPUTS, OUTPUTS, lossCase.output)], { seed: 11, backend });
    check(model, lossCase, 100);
    model.dispose();
  });

  it.each(HIDDEN)('2 layers, %s hidden, every loss', (hidden) => {
    for (const lossCase of LOSS_CASES) {
      const model = new Sequential([dense(INPUTS, 7, hidden), dense(7, OUTPUTS, lossCase.output)], { seed: 12, backend });
      check(model, lossCase, 200);
      model.dispose();
    }
  });

  it.each(HIDDEN)('3 layers, %s then tanh hidden, softmax cross-entropy and mse', (hidden) => {
    for (const lossCase of [LOSS_CASES[0], LOSS_CASES[5]]) {
      const model = new Sequential([dense(INPUTS, 8, hidden), dense(8, 6, 'tanh'), dense(6, OUTPUTS, lossCase.output)], { seed: 13, backend });
      check(model, lossCase, 300);
      model.dispose();
    }
  });

  it('a layer without bias', () => {
    const model = new Sequential([dense(INPUTS, 4, 'relu', { bias: false }), dense(4, OUTPUTS)], { seed: 14, backend });
    check(model, LOSS_CASES[0], 400);
    expect(model.namedParameters().map((p) => p.name)).toEqual(['layers.0.weight', 'layers.1.weight', 'layers.1.bias']);
    model.dispose();
  });
});
