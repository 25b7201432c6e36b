// Stochastic gradient descent with PyTorch's semantics for momentum, dampening, Nesterov and weight decay.
import type { Sequential } from '../sequential.js';
import { SimdpropError } from '../errors.js';
import { Optimizer, checkNumber, type ParamGroup } from './optimizer.js';

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

  constructor(model: Sequential, options: SGDOptions) {
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

  /** One update of every trainable parameter; frozen layers are left exactly as they are. */
  step(): void {
    const model = this.model;
    const kernels = model.backend.kernels;
    const count = this.fillSegments(this.weightDecay);
    const segments = this.segments;
    for (let r = 0; r < count; r++) {
      const offset = segments[4 * r] * 4;
      const n = segments[4 * r + 1] - segments[4 * r];
      const lr = this.lr * segments[4 * r + 2];
      const weightDecay = segments[4 * r + 3];
      const velocity = this.velocitySlot >= 0 ? model.statePointer(this.velocitySlot) + offset : 0;
      kernels.sgd_update(
        model.paramsPointer + offset, model.gradsPointer + offset, velocity, n,
        lr, this.momentum, this.dampening, this.nesterov ? 1 : 0, weightDecay, this.stepCount === 0 ? 1 : 0,
      );
    }
    this.stepCount++;
  }
}
