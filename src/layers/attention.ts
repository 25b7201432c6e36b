// Causal self-attention over a [T, C] input, as nanoGPT's CausalSelfAttention: one fused projection to
// queries, keys and values (c_attn, [C → 3C], q | k | v along the last axis, head h in columns
// h·C/heads of each), scaled dot products under the causal mask, a stable softmax and the weighted sum
// of values for all heads in one kernel (the masked half of the scores is never computed), and the
// output projection (c_proj). With dropout, the probabilities (attn_dropout) and the output
// (resid_dropout) are dropped in training. The probabilities are saved for the backward, or, with
// { probabilities: 'recomputed' }, made again from q and k there: T²·heads floats a sample less.
import { activationCode } from '../activations.js';
import { attentionScratchBytes, gemmScratchBytes, type Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, ParameterSpec, SavedSpec, TensorType } from '../graph/op.js';
import { Layer, type LayerOptions } from './layer.js';

export interface CausalSelfAttentionOptions extends LayerOptions {
  /** Dropout rate on the attention probabilities and on the output, in training (default 0). */
  dropout?: number;
  /** Whether c_attn and c_proj have biases (default true). */
  bias?: boolean;
  /** Keep the probabilities from the forward ('saved', the default), or make them again in the backward ('recomputed'). */
  probabilities?: 'saved' | 'recomputed';
}

interface AttentionNode extends NodeSpec {
  /** Positions per sample. */
  readonly T: number;
}

// The node's saved tensors, in this order: the projection's output, the heads' output before c_proj,
// the gradients of both, then the probabilities (when saved) and the dropout masks (with dropout).
const QKV = 0;
const Y = 1;
const DQKV = 2;
const DY = 3;
const LINEAR = activationCode('linear');

export class CausalSelfAttention extends Layer<AttentionNode> {
  readonly kind = 'causalSelfAttention';
  readonly headDim: number;
  /** 1/√headDim, by which the dot products are scaled. */
  readonly scale: number;
  readonly dropout: number;
  readonly hasBias: boolean;
  readonly probabilities: 'saved' | 'recomputed';

  constructor(readonly embedDim: number, readonly numHeads: number, options: CausalSelfAttentionOptions = {}) {
    super(options);
    for (const [what, value] of [['embedDim', embedDim], ['numHeads', numHeads]] as const) {
      if (!(Number.isInteger(value) && value > 0 && value < 2 ** 20)) throw new SimdpropError('OPTION', `causalSelfAttention ${what} must be a positive integer, got ${describe(value)}`);
    }
    if (embedDim % numHeads !== 0) throw new SimdpropError('OPTION', `causalSelfAttention embedDim ${embedDim} must be a multiple of numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.scale = 1 / Math.sqrt(this.headDim);
    this.dropout = options.dropout ?? 0;
    if (!(typeof this.dropout === 'number' && this.dropout >= 0 && this.dropout < 1)) {
      throw new SimdpropError('OPTION', `causalSelfAttention dropout must be a number in [0, 1), got ${describe(options.dropout)}`);
    }
    this.hasBias = options.bias ?? true;
    this.probabilities = options.probabilities ?? 'saved';
    if (this.probabilities !== 'saved' && this.probabilities !== 'recomputed') {
      throw new SimdpropError('OPTION', `causalSelfAttention probabilities must be 'saved' or 'recomputed', got ${describe(options.probabilities)}`);
    }
  }

  config(): Record<string, unknown> {
    return { embedDim: this.embedDim, numHeads: this.numHeads, dropout: this.dropout, bias: this.hasBias, probabilities: this.probabilities, name: this.name };
  }

  node(inputs: readonly TensorType[]): AttentionNode {
    this.expectFloatInputs(inputs, 1);
    const { shape } = inputs[0];
    const C = this.embedDim;
    if (shape.length !== 2 || shape[1] !== C) throw this.shapeError(`[T, ${C}]`, inputs[0]);
    const T = shape[0];
    const saved: SavedSpec[] = [
      { name: 'qkv', floatsPerSample: 3 * T * C },
      { name: 'y', floatsPerSample: T * C },
      { name: 'dqkv', floatsPerSample: 3 * T * C },
      { name: 'dy', floatsPerSample: T * C },
    ];
    if (this.probabilities === 'saved') saved.push({ name: 'probabilities', floatsPerSample: this.numHeads * T * T });
    if (this.dropout > 0) saved.push({ name: 'attentionMask', floatsPerSample: this.numHeads * T * T }, { name: 'outputMask', floatsPerSample: T * C });
    return {
      output: { shape, dtype: 'float32' }, T, saved,
      scratchBytes: (rows) => Math.max(gemmScratchBytes(3 * C), gemmScratchBytes(rows * T, C), attentionScratchBytes(this.headDim, T)),
      macsPerSample: T * C * 3 * C,
    };
  }

  override parameters(): readonly ParameterSpec[] {
    const C = this.embedDim;
    // PyTorch's nn.Linear default: U(±1/√fan_in) for weights and biases.
    const limit = 1 / Math.sqrt(C);
    const linear = (name: string, outputs: number): ParameterSpec[] => [
      { name: `${name}.weight`, shape: [C, outputs], init: { kind: 'uniform', limit }, tags: ['weight', 'decay'], torch: { shape: [outputs, C], order: [1, 0] } },
      ...(this.hasBias ? [{ name: `${name}.bias`, shape: [outputs], init: { kind: 'uniform', limit }, tags: ['bias', 'noDecay'] } satisfies ParameterSpec] : []),
    ];
    return [...linear('c_attn', 3 * C), ...linear('c_proj', C)];
  }

  // Where each parameter is in call.params: c_attn's weight and bias, then c_proj's.
  private get projIndex(): number {
    return this.hasBias ? 2 : 1;
  }

  forward(kernels: Kernels, call: OpCall<AttentionNode>): void {
    const C = this.embedDim;
    const { T } = call.node;
    const M = call.rows * T;
    const qkv = call.saved[QKV];
    const y = call.saved[Y];
    const p = this.projIndex;
    kernels.dense_forward(qkv, qkv, call.inputs[0], call.params[0], this.hasBias ? call.params[1] : 0, M, C, 3 * C, LINEAR, 0, call.scratch);
    const dropping = call.training && this.dropout > 0;
    const attentionMask = this.maskOf(call, 0);
    const outputMask = this.maskOf(call, 1);
    if (dropping && !call.random.reuse) {
      kernels.dropout_mask(attentionMask, call.rows * this.numHeads * T * T, this.dropout, call.random.seed, call.random.stream++);
      kernels.dropout_mask(outputMask, M * C, this.dropout, call.random.seed, call.random.stream++);
    }
    kernels.attention_forward(y, this.probabilitiesOf(call), dropping ? attentionMask : 0, qkv, qkv + 4 * C, qkv + 8 * C,
      call.rows, this.numHeads, this.headDim, T, T, 3 * C, 3 * C, C, this.scale, 0, call.rows * this.numHeads, call.scratch);
    kernels.dense_forward(call.output, call.output, y, call.params[p], this.hasBias ? call.params[p + 1] : 0, M, C, C, LINEAR, 0, call.scratch);
    if (dropping) kernels.mul(call.output, call.output, outputMask, M * C);
  }

  backward(kernels: Kernels, call: OpCall<AttentionNode>): void {
    const C = this.embedDim;
    const { T } = call.node;
    const M = call.rows * T;
    const qkv = call.saved[QKV];
    const y = call.saved[Y];
    const dqkv = call.saved[DQKV];
    const dy = call.saved[DY];
    const p = this.projIndex;
    // A second backward for the input gradient alone starts from the dqkv the first one left.
    if (!call.again) {
      const dropping = call.training && this.dropout > 0;
      const attentionMask = this.maskOf(call, 0);
      const outputMask = this.maskOf(call, 1);
      let dout = call.outputGrad;
      if (dropping) {
        kernels.mul(call.workGrad, call.outputGrad, outputMask, M * C);
        dout = call.workGrad;
      }
      if (call.paramGrads[p] !== 0) {
        kernels.gemm_tn(call.paramGrads[p], y, dout, C, M, C, C, call.accumulateParams, call.scratch);
        if (this.hasBias) kernels.bias_grad(call.paramGrads[p + 1], dout, M, C, call.accumulateParams);
      }
      kernels.gemm_nt(dy, dout, call.params[p], M, C, C, 0, call.scratch);
      kernels.attention_backward(dqkv, dqkv + 4 * C, dqkv + 8 * C, dy, this.probabilitiesOf(call), dropping ? attentionMask : 0,
        qkv, qkv + 4 * C, qkv + 8 * C, call.rows, this.numHeads, this.headDim, T, T, 3 * C, 3 * C, C, this.scale,
        0, call.rows * this.numHeads, call.scratch);
      if (call.paramGrads[0] !== 0) {
        kernels.gemm_tn(call.paramGrads[0], call.inputs[0], dqkv, C, M, 3 * C, C, call.accumulateParams, call.scratch);
        if (this.hasBias) kernels.bias_grad(call.paramGrads[1], dqkv, M, 3 * C, call.accumulateParams);
      }
    }
    const inputGrad = call.inputGrads[0];
    if (inputGrad !== 0) kernels.gemm_nt(inputGrad, dqkv, call.params[0], M, 3 * C, C, call.accumulateInputs[0], call.scratch);
  }

  /**
   * Generation's state for a context of `positions`: every position's keys and values so far (a
   * [positions × C] cache of each), one query's probabilities over them, and the kernel's scratch.
   */
  decodeFloats(positions: number): number {
    const C = this.embedDim;
    return 2 * positions * C + this.numHeads * positions + attentionScratchBytes(this.headDim, positions) / 4;
  }

  /** Position `position` alone: its q, k and v, k and v appended to the cache, its query against keys 0 … position. */
  decode(kernels: Kernels, call: OpCall<AttentionNode>, position: number, positions: number, state: number): void {
    const C = this.embedDim;
    const qkv = call.saved[QKV];
    const y = call.saved[Y];
    const p = this.projIndex;
    const keys = state;
    const values = keys + positions * C * 4;
    const probabilities = values + positions * C * 4;
    const scratch = probabilities + this.numHeads * positions * 4;
    kernels.dense_forward(qkv, qkv, call.inputs[0], call.params[0], this.hasBias ? call.params[1] : 0, 1, C, 3 * C, LINEAR, 0, call.scratch);
    kernels.copy(keys + position * C * 4, qkv + 4 * C, C);
    kernels.copy(values + position * C * 4, qkv + 8 * C, C);
    kernels.attention_forward(y, probabilities, 0, qkv, keys, values, 1, this.numHeads, this.headDim, 1, position + 1, 3 * C, C, C,
      this.scale, 0, this.numHeads, scratch);
    kernels.dense_forward(call.output, call.output, y, call.params[p], this.hasBias ? call.params[p + 1] : 0, 1, C, C, LINEAR, 0, call.scratch);
  }

  private probabilitiesOf(call: OpCall<AttentionNode>): number {
    return this.probabilities === 'saved' ? call.saved[DY + 1] : 0;
  }

  /** The dropout mask of the probabilities (0) or of the output (1); 0 without dropout. */
  private maskOf(call: OpCall<AttentionNode>, which: number): number {
    if (this.dropout === 0) return 0;
    return call.saved[(this.probabilities === 'saved' ? DY + 2 : DY + 1) + which];
  }
}

/**
 * Causal multi-head self-attention on [T, embedDim] inputs, nanoGPT's `attn` with its c_attn and c_proj:
 * `causalSelfAttention(128, 4, { name: 'transformer.h.0.attn' })`.
 */
export function causalSelfAttention(embedDim: number, numHeads: number, options?: CausalSelfAttentionOptions): CausalSelfAttention {
  return new CausalSelfAttention(embedDim, numHeads, options);
}
