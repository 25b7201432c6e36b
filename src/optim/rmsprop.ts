// RMSprop with PyTorch's semantics: optional L2 weight decay, momentum and the centered variant. State
// slots: the square average always, the gradient average when centered, the momentum buffer when momentum > 0.
import { Optimizer, checkNumber, type ParamGroup, type ParameterStore } from './optimizer.js';

export interface RMSpropOptions {
  /** Default 1e-2. */
  lr?: number;
  /** Decay rate of the moving averages, in [0, 1) (default 0.99). */
  alpha?: number;
  /** Added to the denominator √v (default 1e-8). */
  eps?: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
  /** Default 0: no momentum buffer. */
  momentum?: number;
  /** Normalize by an estimate of the gradient's variance, √(E[g²] − E[g]²), instead of √E[g²] (default false). */
  centered?: boolean;
  /** Per-layer or per-kind overrides of lr and weightDecay, e.g. [{ params: 'bias', weightDecay: 0 }]. */
  groups?: ParamGroup[];
}

export class RMSprop extends Optimizer {
  readonly alpha: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly centered: boolean;
  private readonly squareAvgSlot: number;
  private readonly gradAvgSlot: number;
  private readonly momentumBufferSlot: number;

  constructor(model: ParameterStore, options: RMSpropOptions = {}) {
    super(model, options.lr ?? 1e-2, options.groups);
    this.alpha = checkNumber('alpha', options.alpha ?? 0.99, 0, 1);
    this.eps = checkNumber('eps', options.eps ?? 1e-8, 0, Infinity);
    this.weightDecay = checkNumber('weightDecay', options.weightDecay ?? 0, 0, Infinity);
    this.momentum = checkNumber('momentum', options.momentum ?? 0, 0, Infinity);
    this.centered = options.centered ?? false;
    this.squareAvgSlot = this.reserveSlots(1);
    this.gradAvgSlot = this.centered ? this.reserveSlots(1) : -1;
    this.momentumBufferSlot = this.momentum > 0 ? this.reserveSlots(1) : -1;
  }

  /** @internal The update's arguments do not depend on the step number. */
  override stepSignature(): number {
    return 0;
  }

  protected update(offset: number, n: number, lr: number, weightDecay: number): void {
    const model = this.model;
    const gradAvg = this.gradAvgSlot >= 0 ? model.statePointer(this.gradAvgSlot) + offset : 0;
    const momentumBuffer = this.momentumBufferSlot >= 0 ? model.statePointer(this.momentumBufferSlot) + offset : 0;
    model.kernels.rmsprop_update(
      model.paramsPointer + offset, model.gradsPointer + offset, model.statePointer(this.squareAvgSlot) + offset,
      gradAvg, momentumBuffer, n,
      lr, this.alpha, this.eps, weightDecay, this.momentum, this.centered ? 1 : 0,
    );
  }
}
