// Learning-rate schedules with PyTorch's semantics: each scheduler owns an optimizer's lr, computes it
// from the epoch count in closed form (so a resumed schedule lands on the same values), and is
// stepped once per epoch — by the caller, or by fit({ scheduler }).
import { SimdpropError, describe } from '../errors.js';
import { checkNumber, type Optimizer } from './optimizer.js';

export abstract class LRScheduler {
  /** The optimizer's lr when the scheduler was made. */
  readonly baseLr: number;
  /** Epochs stepped so far (PyTorch's last_epoch). */
  epoch = 0;

  constructor(readonly optimizer: Optimizer) {
    this.baseLr = optimizer.lr;
  }

  /** Sets epoch 0's lr: each schedule calls it once its own options are in place. */
  protected start(): void {
    this.optimizer.lr = this.lrAt(0);
  }

  /** The lr for an epoch count. */
  abstract lrAt(epoch: number): number;

  /** Ends an epoch: moves to the next epoch's lr. */
  step(): void {
    this.epoch++;
    this.optimizer.lr = this.lrAt(this.epoch);
  }

  /** The lr the optimizer uses now (PyTorch's get_last_lr). */
  get lastLr(): number {
    return this.optimizer.lr;
  }
}

function checkWhole(what: string, value: unknown, min: number): number {
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= min)) {
    throw new SimdpropError('OPTION', `${what} must be a whole number ≥ ${min}, got ${describe(value)}`);
  }
  return value;
}

/** lr = baseLr · gamma^⌊epoch / stepSize⌋. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number }) {
    const stepSize = checkWhole('stepSize', options?.stepSize, 1);
    const gamma = checkNumber('gamma', options.gamma ?? 0.1, 0, Infinity);
    super(optimizer);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.start();
  }

  lrAt(epoch: number): number {
    return this.baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** lr = baseLr · gamma^(milestones reached), milestones being epoch counts in increasing order. */
export class MultiStepLR extends LRScheduler {
  readonly milestones: readonly number[];
  readonly gamma: number;

  constructor(optimizer: Optimizer, options: { milestones: number[]; gamma?: number }) {
    const milestones = options?.milestones;
    if (!Array.isArray(milestones) || milestones.length === 0) {
      throw new SimdpropError('OPTION', `milestones must be a non-empty array of epoch counts, got ${describe(milestones)}`);
    }
    milestones.forEach((milestone, i) => {
      checkWhole(`milestones[${i}]`, milestone, 1);
      if (i > 0 && milestone <= milestones[i - 1]) {
        throw new SimdpropError('OPTION', `milestones must increase: milestones[${i}] = ${milestone} follows ${milestones[i - 1]}`);
      }
    });
    const gamma = checkNumber('gamma', options.gamma ?? 0.1, 0, Infinity);
    super(optimizer);
    this.milestones = milestones.slice();
    this.gamma = gamma;
    this.start();
  }

  lrAt(epoch: number): number {
    const reached = this.milestones.filter((milestone) => milestone <= epoch).length;
    return this.baseLr * this.gamma ** reached;
  }
}

/** lr = baseLr · gamma^epoch. */
export class ExponentialLR extends LRScheduler {
  readonly gamma: number;

  constructor(optimizer: Optimizer, options: { gamma: number }) {
    const gamma = checkNumber('gamma', options?.gamma, 0, Infinity);
    super(optimizer);
    this.gamma = gamma;
    this.start();
  }

  lrAt(epoch: number): number {
    return this.baseLr * this.gamma ** epoch;
  }
}

export interface CosineOptions {
  /** Epochs from the start (warmup included) to the end of the cosine, where lr reaches etaMin. */
  tMax: number;
  /** The lowest lr (default 0). */
  etaMin?: number;
  /** Epochs of linear warmup before the cosine (default 0). */
  warmupEpochs?: number;
  /** lr at epoch 0 of the warmup, as a fraction of baseLr (default 0; PyTorch LinearLR's start_factor). */
  warmupStartFactor?: number;
}

/**
 * Linear warmup from warmupStartFactor·baseLr to baseLr over warmupEpochs, then cosine annealing
 * (PyTorch's CosineAnnealingLR closed form) from baseLr to etaMin over the remaining tMax − warmupEpochs
 * epochs: etaMin + (baseLr − etaMin)(1 + cos(π·t/T))/2. After tMax, lr stays at etaMin.
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  readonly warmupEpochs: number;
  readonly warmupStartFactor: number;

  constructor(optimizer: Optimizer, options: CosineOptions) {
    const tMax = checkWhole('tMax', options?.tMax, 1);
    const etaMin = checkNumber('etaMin', options.etaMin ?? 0, 0, Infinity);
    const warmupEpochs = checkWhole('warmupEpochs', options.warmupEpochs ?? 0, 0);
    if (warmupEpochs >= tMax) throw new SimdpropError('OPTION', `warmupEpochs (${warmupEpochs}) must be less than tMax (${tMax})`);
    const warmupStartFactor = checkNumber('warmupStartFactor', options.warmupStartFactor ?? 0, 0, 1);
    super(optimizer);
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.warmupEpochs = warmupEpochs;
    this.warmupStartFactor = warmupStartFactor;
    this.start();
  }

  lrAt(epoch: number): number {
    const warmup = this.warmupEpochs;
    if (epoch < warmup) {
      const factor = this.warmupStartFactor + ((1 - this.warmupStartFactor) * epoch) / warmup;
      return this.baseLr * factor;
    }
    const span = this.tMax - warmup;
    const t = Math.min(epoch - warmup, span);
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * t) / span))) / 2;
  }
}

export interface PlateauOptions {
  /** 'min' when lower is better (a loss), 'max' when higher is (an accuracy). Default 'min'. */
  mode?: 'min' | 'max';
  /** lr is multiplied by this when the metric stalls (default 0.1). */
  factor?: number;
  /** Epochs without improvement before lr drops (default 10). */
  patience?: number;
  /** How much better counts as better (default 1e-4). */
  threshold?: number;
  /** 'rel': better than best·(1 ∓ threshold); 'abs': better than best ∓ threshold. Default 'rel'. */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs after a drop before counting again (default 0). */
  cooldown?: number;
  /** lr never goes below this (default 0). */
  minLr?: number;
  /** Drops smaller than this are skipped (default 1e-8). */
  eps?: number;
}

/** PyTorch's ReduceLROnPlateau: step(metric) once per epoch; lr drops when the metric stops improving. */
export class ReduceLROnPlateau {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
  best: number;
  /** Epochs since the metric last improved. */
  badEpochs = 0;
  private cooldownLeft = 0;
  epoch = 0;

  constructor(readonly optimizer: Optimizer, options: PlateauOptions = {}) {
    this.mode = options.mode ?? 'min';
    if (this.mode !== 'min' && this.mode !== 'max') throw new SimdpropError('OPTION', `mode must be 'min' or 'max', got ${describe(this.mode)}`);
    this.factor = checkNumber('factor', options.factor ?? 0.1, 0, 1);
    this.patience = checkWhole('patience', options.patience ?? 10, 0);
    this.threshold = checkNumber('threshold', options.threshold ?? 1e-4, 0, Infinity);
    this.thresholdMode = options.thresholdMode ?? 'rel';
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs') {
      throw new SimdpropError('OPTION', `thresholdMode must be 'rel' or 'abs', got ${describe(this.thresholdMode)}`);
    }
    this.cooldown = checkWhole('cooldown', options.cooldown ?? 0, 0);
    this.minLr = checkNumber('minLr', options.minLr ?? 0, 0, Infinity);
    this.eps = checkNumber('eps', options.eps ?? 1e-8, 0, Infinity);
    this.best = this.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(value: number): boolean {
    const { best, threshold } = this;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? value < best * (1 - threshold) : value < best - threshold;
    return this.thresholdMode === 'rel' ? value > best * (1 + threshold) : value > best + threshold;
  }

  /** Ends an epoch whose monitored metric was `metric`. */
  step(metric: number): void {
    if (typeof metric !== 'number' || Number.isNaN(metric)) {
      throw new SimdpropError('OPTION', `ReduceLROnPlateau.step needs the epoch's metric as a number, got ${describe(metric)}`);
    }
    this.epoch++;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.badEpochs = 0;
    } else {
      this.badEpochs++;
    }
    if (this.cooldownLeft > 0) {
      this.cooldownLeft--;
      this.badEpochs = 0;
    }
    if (this.badEpochs > this.patience) {
      const lr = Math.max(this.optimizer.lr * this.factor, this.minLr);
      if (this.optimizer.lr - lr > this.eps) this.optimizer.lr = lr;
      this.cooldownLeft = this.cooldown;
      this.badEpochs = 0;
    }
  }

  get lastLr(): number {
    return this.optimizer.lr;
  }
}
