// Adam and AdamW with PyTorch's semantics: weight decay added to the gradient (Adam, L2) or applied to
// the parameters apart from the moments (AdamW, decoupled). Two state slots: the moving averages of the
// gradient (expAvg) and of its square (expAvgSq).
import { SimdpropError, describe } from '../errors.js';
import { Optimizer, checkNumber, type ParamGroup, type ParameterStore } from './optimizer.js';

export interface AdamOptions {
  /** Default 1e-3. */
  lr?: number;
  /** [β1, β2], each in [0, 1): decay rates of the two moving averages. Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator √v̂ (default 1e-8). */
  eps?: number;
  /** Default 0 (AdamW: 1e-2). */
  weightDecay?: number;
  /**
   * PyTorch's decoupled_weight_decay: p *= 1 − lr·weightDecay before each step instead of adding
   * weightDecay·p to the gradient (default false; AdamW sets it).
   */
  decoupledWeightDecay?: boolean;
  /** Per-layer or per-kind overrides of lr and weightDecay, e.g. [{ params: 'bias', weightDecay: 0 }]. */
  groups?: ParamGroup[];
}

export class Adam extends Optimizer {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupledWeightDecay: boolean;
  /** expAvg's slot; expAvgSq's is the next one. */
  private readonly expAvgSlot: number;
  // step() reads the betas from fields: an element of a double array would be boxed on every call.
  private readonly beta1: number;
  private readonly beta2: number;

  constructor(model: ParameterStore, options: AdamOptions = {}) {
    super(model, options.lr ?? 1e-3, options.groups);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw new SimdpropError('OPTION', `betas must be an array [beta1, beta2], got ${describe(betas)}`);
    }
    this.beta1 = checkNumber('betas[0]', betas[0], 0, 1);
    this.beta2 = checkNumber('betas[1]', betas[1], 0, 1);
    this.betas = [this.beta1, this.beta2];
    this.eps = checkNumber('eps', options.eps ?? 1e-8, 0, Infinity);
    this.weightDecay = checkNumber('weightDecay', options.weightDecay ?? 0, 0, Infinity);
    this.decoupledWeightDecay = options.decoupledWeightDecay ?? false;
    this.expAvgSlot = this.reserveSlots(2);
  }

  protected update(offset: number, n: number, lr: number, weightDecay: number, step: number): void {
    const model = this.model;
    model.kernels.adam_update(
      model.paramsPointer + offset, model.gradsPointer + offset,
      model.statePointer(this.expAvgSlot) + offset, model.statePointer(this.expAvgSlot + 1) + offset, n,
      lr, this.beta1, this.beta2, this.eps, weightDecay, this.decoupledWeightDecay ? 1 : 0, step,
    );
  }
}

/** Adam with decoupled weight decay (PyTorch's AdamW): the same options, weightDecay 1e-2 by default. */
export class AdamW extends Adam {
  constructor(model: ParameterStore, options: Omit<AdamOptions, 'decoupledWeightDecay'> = {}) {
    super(model, { ...options, weightDecay: options.weightDecay ?? 1e-2, decoupledWeightDecay: true });
  }
}
