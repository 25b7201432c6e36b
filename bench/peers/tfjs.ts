// TensorFlow.js peers: @tensorflow/tfjs-core with its cpu backend (pure JS) and its wasm backend
// (XNNPACK, SIMD binary, one thread), loaded with import() so that a missing devDependency skips its
// columns instead of failing. Models are hand-built from variables, as tfjs-layers' Dense and Conv2D
// compute them (the GPT as nanoGPT does); images are NHWC.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TfCore from '@tensorflow/tfjs-core';
import type { GemmKernel, GemmValues, PreparedGemm } from '../gemm.js';
import type { GPTConfig } from '../../src/index.js';
import {
  GPT_CLIP_NORM, GPT_WEIGHT_DECAY, cnnPlan, type CnnSpec, type Trainer, type TrainingData, type TrainingWorkload,
} from '../training.js';

type Tf = typeof TfCore;
export type TfjsPeer = 'tfjs-cpu' | 'tfjs-wasm';
const BACKEND_NAMES: Record<TfjsPeer, string> = { 'tfjs-cpu': 'cpu', 'tfjs-wasm': 'wasm' };

export interface TfjsLoad {
  tf?: Tf;
  /** Each backend that loaded, with a description for the header. */
  available: Map<TfjsPeer, string>;
  /** One line per package that could not be loaded, saying how to install it. */
  problems: string[];
}

function isNotInstalled(error: unknown, packageName: string): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(message).includes(packageName);
}

function notInstalled(packageName: string, columns: string): string {
  return `${packageName.replace('@tensorflow/', '')} not installed: npm install --save-dev ${packageName} (${columns} skipped)`;
}

/**
 * tfjs-core registers no gradients by itself: the @tensorflow/tfjs package bundles its
 * dist/register_all_gradients.js (ES modules Node cannot load as they are) with tfjs-core left
 * external. This does the same with esbuild into build/ and loads the result; the gradients land in
 * tfjs's global registry, shared by every copy of tfjs-core's code.
 */
async function registerGradients(): Promise<void> {
  const require = createRequire(import.meta.url);
  const { build } = await import('esbuild');
  const outfile = fileURLToPath(new URL('../../build/tfjs-core-gradients.cjs', import.meta.url));
  await build({
    entryPoints: [require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    external: ['@tensorflow/tfjs-core'],
    outfile,
    logLevel: 'error',
  });
  require(outfile);
}

/** Loads tfjs-core and whichever backends are installed; never throws for a missing package. */
export async function loadTfjs(): Promise<TfjsLoad> {
  const available = new Map<TfjsPeer, string>();
  const problems: string[] = [];
  let tf: Tf;
  try {
    tf = await import('@tensorflow/tfjs-core');
  } catch (error) {
    if (!isNotInstalled(error, '@tensorflow/tfjs-core')) throw error;
    return { available, problems: [notInstalled('@tensorflow/tfjs-core', 'tfjs-cpu and tfjs-wasm columns')] };
  }
  // Production mode drops tfjs's debug-time checks, as a tuned application would (and its warnings).
  tf.enableProdMode();
  await registerGradients();
  try {
    const cpu = await import('@tensorflow/tfjs-backend-cpu');
    if (await tf.setBackend('cpu')) available.set('tfjs-cpu', `tfjs-backend-cpu ${cpu.version_cpu}`);
    else problems.push('tfjs-backend-cpu is installed but failed to initialize (tfjs-cpu column skipped)');
  } catch (error) {
    if (!isNotInstalled(error, '@tensorflow/tfjs-backend-cpu')) throw error;
    problems.push(notInstalled('@tensorflow/tfjs-backend-cpu', 'tfjs-cpu column'));
  }
  const uncaught = process.listeners('uncaughtException');
  const unhandled = process.listeners('unhandledRejection');
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // No network: the .wasm binaries are read from the package's own dist folder.
    const require = createRequire(import.meta.url);
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    if (await tf.setBackend('wasm')) {
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
      const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? `${wasm.getThreadsCount()} threads` : '1 thread';
      available.set('tfjs-wasm', `tfjs-backend-wasm ${wasm.version_wasm} (${simd ? 'SIMD' : 'no SIMD'}, ${threads})`);
    } else {
      problems.push('tfjs-backend-wasm is installed but failed to initialize (tfjs-wasm column skipped)');
    }
    // Its Emscripten runtime rethrows every uncaught error from a handler of its own, which prints a
    // line of its minified source instead of the error's origin: the bench's own errors should not.
    for (const listener of process.listeners('uncaughtException')) {
      if (!uncaught.includes(listener)) process.removeListener('uncaughtException', listener);
    }
    for (const listener of process.listeners('unhandledRejection')) {
      if (!unhandled.includes(listener)) process.removeListener('unhandledRejection', listener);
    }
  } catch (error) {
    if (!isNotInstalled(error, '@tensorflow/tfjs-backend-wasm')) throw error;
    problems.push(notInstalled('@tensorflow/tfjs-backend-wasm', 'tfjs-wasm column'));
  }
  return { tf, available, problems };
}

/** Makes `peer` tfjs's active backend; tensors made afterwards live there. */
export async function useTfjsBackend(tf: Tf, peer: TfjsPeer): Promise<void> {
  if (!(await tf.setBackend(BACKEND_NAMES[peer]))) throw new Error(`bench: tfjs backend ${peer} failed to initialize`);
}

/**
 * tf.matMul with transposeA / transposeB for the backward layouts: whatever tfjs does for them
 * (tfjs-backend-wasm sends only the untransposed product to XNNPACK). No bias: n² adds, not counted.
 * The timed call is the product alone: both backends compute synchronously inside matMul, and copying
 * the output out with dataSync() is not part of a GEMM (simdprop's rows do not copy either). The
 * output of the last call is kept for output() and freed by the next call.
 */
export function prepareTfjsGemm(tf: Tf, kernel: GemmKernel, values: GemmValues): PreparedGemm {
  const { n } = values;
  const a = tf.tensor2d(values.a, [n, n]);
  const b = tf.tensor2d(values.b, [n, n]);
  const transposeA = kernel === 'gemm_tn';
  const transposeB = kernel === 'gemm_nt';
  let result: TfCore.Tensor | undefined;
  return {
    call: () => {
      result?.dispose();
      result = tf.matMul(a, b, transposeA, transposeB);
    },
    output: () => {
      const product = (result as TfCore.Tensor).dataSync() as Float32Array;
      // The contract's gemm_nn adds the bias and gemm_tn accumulates; tfjs's plain product does neither.
      if (kernel === 'gemm_nn') return product.map((value, i) => value + values.bias[i % n]);
      if (kernel === 'gemm_tn') return product.map((value, i) => value + values.start[i]);
      return product;
    },
    dispose: () => tf.dispose([a, b, ...(result ? [result] : [])]),
  };
}

/**
 * A variable that takes over `initial`: tf.variable shares the tensor's data and leaves the tensor
 * alive, holding that data after the variable's first assign until the tensor is disposed.
 */
function variable(tf: Tf, initial: TfCore.Tensor): TfCore.Variable {
  const result = tf.variable(initial);
  initial.dispose();
  return result;
}

/** A layer norm's weight (ones) and bias (zeros) over `size` features. */
interface NormParams {
  weight: TfCore.Variable;
  bias: TfCore.Variable;
}

function normParams(tf: Tf, size: number): NormParams {
  return { weight: variable(tf, tf.ones([size])), bias: variable(tf, tf.zeros([size])) };
}

/** Layer norm over the last axis (PyTorch's, eps 1e-5) from tfjs-core ops, with its weight and bias. */
function normalize(tf: Tf, x: TfCore.Tensor, norm: NormParams): TfCore.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), norm.weight), norm.bias);
}

/**
 * A manual model on the active backend: one tf.fused.matMul (bias and relu fused, as tfjs-layers'
 * Dense does) per layer, optimizer.minimize on the loss. Each step reads its loss back with
 * dataSync(), like simdprop's trainStep returns it, which also makes the step's work complete.
 */
export function tfjsTrainer(tf: Tf, workload: TrainingWorkload, data: TrainingData, random: () => number): Trainer {
  if (workload.cnn) return tfjsCnnTrainer(tf, workload, workload.cnn, data, random);
  if (workload.gpt) return tfjsGptTrainer(tf, workload, workload.gpt, data, random);
  const { widths, optimizer: spec } = workload;
  // He-uniform weights and zero biases, as in the plain baseline.
  const denseLayer = (inputSize: number, outputSize: number) => {
    const limit = Math.sqrt(6 / inputSize);
    const weights = new Float32Array(inputSize * outputSize).map(() => (2 * random() - 1) * limit);
    return { weight: variable(tf, tf.tensor2d(weights, [inputSize, outputSize])), bias: variable(tf, tf.zeros([outputSize])) };
  };
  const apply = (x: TfCore.Tensor, layer: ReturnType<typeof denseLayer>, activation: 'relu' | 'linear'): TfCore.Tensor =>
    tf.fused.matMul({ a: x as TfCore.Tensor2D, b: layer.weight, bias: layer.bias, activation });
  const residual = workload.residual;
  const layers = residual
    ? [denseLayer(widths[0], residual.width), ...Array.from({ length: residual.blocks }, () => [denseLayer(residual.width, residual.hidden), denseLayer(residual.hidden, residual.width)]).flat(), denseLayer(residual.width, widths[1])]
    : widths.slice(1).map((outputSize, l) => denseLayer(widths[l], outputSize));
  const norms = residual ? Array.from({ length: residual.blocks + 1 }, () => normParams(tf, residual.width)) : [];
  const layerNorm = (x: TfCore.Tensor, norm: NormParams): TfCore.Tensor => normalize(tf, x, norm);
  const rows = workload.batchSize;
  const inputs = data.inputs.map((x) => tf.tensor2d(x, [rows, widths[0]]));
  const targets = data.targets.map((y) =>
    workload.loss === 'softmaxCrossEntropy'
      ? tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(y as Int32Array, 'int32'), widths[widths.length - 1]), 'float32'))
      : tf.tensor2d(y as Float32Array, [rows, 1]));
  const optimizer = spec.kind === 'sgd' ? tf.train.sgd(spec.lr) : tf.train.adam(spec.lr, spec.beta1, spec.beta2, spec.epsilon);
  const logits = (x: TfCore.Tensor2D): TfCore.Tensor => {
    if (residual) {
      let h = apply(x, layers[0], 'linear');
      for (let b = 0; b < residual.blocks; b++) {
        const inner = apply(layerNorm(h, norms[b]), layers[1 + 2 * b], 'relu');
        h = tf.add(h, apply(inner, layers[2 + 2 * b], 'linear'));
      }
      return apply(layerNorm(h, norms[residual.blocks]), layers[layers.length - 1], 'linear');
    }
    let activations: TfCore.Tensor = x;
    layers.forEach((layer, l) => {
      activations = apply(activations, layer, l < layers.length - 1 ? 'relu' : 'linear');
    });
    return activations;
  };
  const lossOf = (batch: number): TfCore.Scalar => {
    const z = logits(inputs[batch]);
    return (workload.loss === 'softmaxCrossEntropy'
      ? tf.losses.softmaxCrossEntropy(targets[batch], z)
      : tf.losses.sigmoidCrossEntropy(targets[batch], z)) as TfCore.Scalar;
  };
  return {
    step: (batch) => {
      const cost = optimizer.minimize(() => lossOf(batch), true) as TfCore.Scalar;
      const loss = cost.dataSync()[0];
      cost.dispose();
      return loss;
    },
    dispose: () => {
      optimizer.dispose();
      tf.dispose([...[...layers, ...norms].flatMap(({ weight, bias }) => [weight, bias]), ...inputs, ...targets]);
    },
  };
}

/**
 * A CNN on the active backend: per convolution one tf.fused.conv2d (NHWC, stride 1, numeric padding,
 * bias and relu fused, as tfjs-layers' Conv2D computes it; under a gradient tfjs runs them unfused),
 * tf.maxPool, a reshape before the first dense layer, tf.fused.matMul per dense layer, softmax
 * cross-entropy and optimizer.minimize with tf.train.sgd. He-uniform weights, zero biases. The loss
 * is read back each step. tfjs-backend-wasm has no Conv2DBackpropFilter kernel: its first step throws.
 */
function tfjsCnnTrainer(tf: Tf, workload: TrainingWorkload, spec: CnnSpec, data: TrainingData, random: () => number): Trainer {
  if (workload.optimizer.kind !== 'sgd') throw new Error(`bench: the tfjs CNN peer runs SGD only, not ${workload.optimizer.kind}`);
  const plan = cnnPlan(spec);
  const heUniform = (shape: number[], fanIn: number): TfCore.Variable => {
    const limit = Math.sqrt(6 / fanIn);
    const values = new Float32Array(shape.reduce((p, d) => p * d, 1)).map(() => (2 * random() - 1) * limit);
    return variable(tf, tf.tensor(values, shape));
  };
  const params = plan.map(({ layer, input: [height, width, channels] }) => {
    if (layer.kind === 'conv') {
      const { kernel, outChannels } = layer;
      return { weight: heUniform([kernel, kernel, channels, outChannels], kernel * kernel * channels), bias: variable(tf, tf.zeros([outChannels])) };
    }
    if (layer.kind === 'dense') {
      const features = height * width * channels;
      return { weight: heUniform([features, layer.outputs], features), bias: variable(tf, tf.zeros([layer.outputs])) };
    }
    return undefined;
  });
  const rows = workload.batchSize;
  const [height, width, channels] = spec.inputShape;
  const classes = workload.widths[workload.widths.length - 1];
  const inputs = data.inputs.map((x) => tf.tensor4d(x, [rows, height, width, channels]));
  const targets = data.targets.map((y) => tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(y as Int32Array, 'int32'), classes), 'float32')));
  const optimizer = tf.train.sgd(workload.optimizer.lr);
  const logits = (x: TfCore.Tensor4D): TfCore.Tensor => {
    let activations: TfCore.Tensor = x;
    plan.forEach(({ layer }, l) => {
      const param = params[l];
      if (layer.kind === 'conv' && param) {
        activations = tf.fused.conv2d({
          x: activations as TfCore.Tensor4D, filter: param.weight as TfCore.Tensor4D, strides: 1, pad: layer.padding, dataFormat: 'NHWC',
          bias: param.bias, activation: 'relu',
        });
      } else if (layer.kind === 'maxPool') {
        activations = tf.maxPool(activations as TfCore.Tensor4D, layer.size, layer.size, 'valid');
      } else if (param) {
        if (activations.rank !== 2) activations = tf.reshape(activations, [rows, -1]);
        activations = tf.fused.matMul({ a: activations as TfCore.Tensor2D, b: param.weight as TfCore.Tensor2D, bias: param.bias, activation: l < plan.length - 1 ? 'relu' : 'linear' });
      }
    });
    return activations;
  };
  return {
    step: (batch) => {
      const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(targets[batch], logits(inputs[batch])) as TfCore.Scalar, true) as TfCore.Scalar;
      const loss = cost.dataSync()[0];
      cost.dispose();
      return loss;
    },
    dispose: () => {
      optimizer.dispose();
      tf.dispose([...params.flatMap((param) => (param ? [param.weight, param.bias] : [])), ...inputs, ...targets]);
    },
  };
}

/**
 * A GPT in nanoGPT's layout on the active backend (see src/models/gpt.ts), on rows [batch·T, C]:
 * tf.gather of the token embedding plus the learned positions, per block x + attn(ln_1(x)) and
 * x + mlp(ln_2(x)), ln_f and the head tied to wte (a matMul with wte transposed). Attention: one fused
 * c_attn product split into q, k, v, reshaped and transposed to [batch, heads, T, headSize], the
 * scores q·kᵀ/√headSize with −1e9 added above the diagonal (its exp is exactly 0 in float32; the mask is
 * made as (1 − lower triangle)·−1e9, where −∞ would give 0·−∞ = NaN), tf.softmax, the weighted sum, c_proj. The MLP's GELU is GPT-2's tanh form written out.
 * Projections are tf.fused.matMul with the bias fused, weights [in, out]. Init as nanoGPT's: N(0,
 * 0.02), the residual projections N(0, 0.02/√(2·nLayer)), biases 0, norms 1 and 0.
 * The step: tf.variableGrads of softmax cross-entropy (the mean over all positions), the gradients
 * scaled by min(1, clip/(‖g‖ + 1e-6)) on the backend (PyTorch's clip_grad_norm_; tfjs-core has no
 * global-norm clip), then AdamW. tfjs has no AdamW: tf.train.adam (PyTorch's bias-corrected update)
 * with the decoupled decay by hand, p ← p·(1 − lr·wd) on the 2-D weights (embeddings included, as
 * nanoGPT's groups) before the update, as torch.optim.AdamW orders it. The loss is read back each step.
 * tfjs-backend-wasm has no UnsortedSegmentSum kernel, which tf.gather's gradient needs (tfjs issue 8082):
 * its first step throws.
 */
function tfjsGptTrainer(tf: Tf, workload: TrainingWorkload, config: GPTConfig, data: TrainingData, random: () => number): Trainer {
  const spec = workload.optimizer;
  if (spec.kind !== 'adam') throw new Error(`bench: the tfjs GPT peer runs AdamW only, not ${spec.kind}`);
  const { vocabSize, blockSize, nLayer, nHead, nEmbd } = config;
  const batchSize = workload.batchSize;
  const rows = batchSize * blockSize;
  const headSize = nEmbd / nHead;
  const decayed: TfCore.Variable[] = [];
  // N(0, std) by Box–Muller in Rng.normal's order, in gpt()'s parameter order: from the seed simdprop's
  // model gets, the same weights (and, on tfjs-cpu, the same losses to float32 rounding). Decayed by AdamW.
  const normalWeight = (shape: number[], std: number): TfCore.Variable => {
    const values = new Float32Array(shape.reduce((p, d) => p * d, 1));
    for (let i = 0; i < values.length; i += 2) {
      const radius = std * Math.sqrt(-2 * Math.log(1 - random()));
      const angle = 2 * Math.PI * random();
      values[i] = radius * Math.cos(angle);
      if (i + 1 < values.length) values[i + 1] = radius * Math.sin(angle);
    }
    const weight = variable(tf, tf.tensor(values, shape));
    decayed.push(weight);
    return weight;
  };
  const linear = (inputs: number, outputs: number, std: number) => ({ weight: normalWeight([inputs, outputs], std), bias: variable(tf, tf.zeros([outputs])) });
  const residualStd = 0.02 / Math.sqrt(2 * nLayer);
  const wte = normalWeight([vocabSize, nEmbd], 0.02);
  const wpe = normalWeight([blockSize, nEmbd], 0.02);
  const blocks = Array.from({ length: nLayer }, () => ({
    ln1: normParams(tf, nEmbd),
    attn: linear(nEmbd, 3 * nEmbd, 0.02),
    attnProj: linear(nEmbd, nEmbd, residualStd),
    ln2: normParams(tf, nEmbd),
    fc: linear(nEmbd, 4 * nEmbd, 0.02),
    mlpProj: linear(4 * nEmbd, nEmbd, residualStd),
  }));
  const lnF = normParams(tf, nEmbd);
  const params: TfCore.Variable[] = [
    wte, wpe,
    ...blocks.flatMap((block) => [block.ln1, block.attn, block.attnProj, block.ln2, block.fc, block.mlpProj].flatMap(({ weight, bias }) => [weight, bias])),
    lnF.weight, lnF.bias,
  ];
  const causalMask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([blockSize, blockSize]), -1, 0)), -1e9));
  const tokens = data.inputs.map((x) => tf.tensor1d(x as Int32Array, 'int32'));
  const targets = data.targets.map((y) => tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(y as Int32Array, 'int32'), vocabSize), 'float32')));
  const optimizer = tf.train.adam(spec.lr, spec.beta1, spec.beta2, spec.epsilon);
  const decay = 1 - spec.lr * GPT_WEIGHT_DECAY;

  const project = (x: TfCore.Tensor, layer: ReturnType<typeof linear>): TfCore.Tensor =>
    tf.fused.matMul({ a: x as TfCore.Tensor2D, b: layer.weight as TfCore.Tensor2D, bias: layer.bias });
  // [rows, C] → [batch, heads, T, headSize], and back.
  const splitHeads = (x: TfCore.Tensor): TfCore.Tensor => tf.transpose(tf.reshape(x, [batchSize, blockSize, nHead, headSize]), [0, 2, 1, 3]);
  const mergeHeads = (x: TfCore.Tensor): TfCore.Tensor => tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [rows, nEmbd]);
  const attention = (x: TfCore.Tensor, block: (typeof blocks)[number]): TfCore.Tensor => {
    const [q, k, v] = tf.split(project(x, block.attn), 3, 1).map(splitHeads);
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headSize)), causalMask);
    return project(mergeHeads(tf.matMul(tf.softmax(scores), v)), block.attnProj);
  };
  const gelu = (x: TfCore.Tensor): TfCore.Tensor => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  };
  const logits = (batch: number): TfCore.Tensor => {
    const embedded = tf.add(tf.reshape(tf.gather(wte, tokens[batch]), [batchSize, blockSize, nEmbd]), wpe);
    let x: TfCore.Tensor = tf.reshape(embedded, [rows, nEmbd]);
    for (const block of blocks) {
      x = tf.add(x, attention(normalize(tf, x, block.ln1), block));
      x = tf.add(x, project(gelu(project(normalize(tf, x, block.ln2), block.fc)), block.mlpProj));
    }
    return tf.matMul(normalize(tf, x, lnF), wte, false, true);
  };
  return {
    step: (batch) => {
      const cost = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(targets[batch], logits(batch)) as TfCore.Scalar, params);
        const names = Object.keys(grads);
        const norm = tf.sqrt(tf.addN(names.map((name) => tf.sum(tf.square(grads[name])))));
        const scale = tf.minimum(tf.div(GPT_CLIP_NORM, tf.add(norm, 1e-6)), 1);
        for (const weight of decayed) weight.assign(tf.mul(weight, decay));
        optimizer.applyGradients(Object.fromEntries(names.map((name) => [name, tf.mul(grads[name], scale)])));
        return value;
      });
      const loss = cost.dataSync()[0];
      cost.dispose();
      return loss;
    },
    dispose: () => {
      optimizer.dispose();
      tf.dispose([...params, causalMask, ...tokens, ...targets]);
    },
  };
}
