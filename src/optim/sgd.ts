// Stochastic gradient descent with PyTorch's semantics for momentum, dampening, Nesterov and weight decay.
import { SimdpropError } from '../errors.js';
import { Optimizer, checkNumber, type ParamGroup, type ParameterStore } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** Per-layer or per-kind overrides of lr and weightDecay, e.g. [{ params: 'bias', weightDecay: 0 }]. */
  groups?: ParamGroup[];
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly velocitySlot: number;

  constructor(model: ParameterStore, options: SGDOptions) {
    super(model, options?.lr, options?.groups);
    this.momentum = checkNumber('momentum', options.momentum ?? 0, 0, Infinity);
    this.dampening = checkNumber('dampening', options.dampening ?? 0, 0, Infinity);
    this.weightDecay = checkNumber('weightDecay', options.weightDecay ?? 0, 0, Infinity);
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum === 0 || this.dampening !== 0)) {
      throw new SimdpropError('OPTION', 'nesterov needs momentum > 0 and dampening 0 (as in PyTorch)');
    }
    this.velocitySlot = this.momentum !== 0 ? this.reserveSlots(1) : -1;
  }

  /** @internal The update's arguments take only "is this the first step" from the step number. */
  override stepSignature(step: number): number {
    return step === 1 ? 1 : 0;
  }

  protected update(offset: number, n: number, lr: number, weightDecay: number, step: number): void {
    const model = this.model;
    const velocity = this.velocitySlot >= 0 ? model.statePointer(this.velocitySlot) + offset : 0;
    model.kernels.sgd_update(
      model.paramsPointer + offset, model.gradsPointer + offset, velocity, n,
      lr, this.momentum, this.dampening, this.nesterov ? 1 : 0, weightDecay, step === 1 ? 1 : 0,
    );
  }
}
