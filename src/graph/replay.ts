// What a model's kept tape records were recorded for. A training step records the checks of x and y,
// forward, loss and backward, then the update; a step of the same shape runs the first part again
// instead of recording it anew, and the update too while the optimizer, its learning rate and its step
// signature (Optimizer.stepSignature) are the same.
import type { Tape } from '../backend/wasm/tape.js';
import type { OutputLoss } from './objective.js';

/** What the tape replay needs of an optimizer. */
export interface ReplayedOptimizer {
  readonly lr: number;
  step(): void;
  stepSignature(step: number): number;
}

export class Replay {
  /** The tape's epoch when the records were kept; −1: nothing kept. */
  private epoch = -1;
  private count = 0;
  private readonly losses = new Int32Array(16);
  private lossCount = 0;
  private block = 0;
  private version = 0;
  private rows = 0;
  /** The mode the records ran in: batch norm's kernels differ between training and eval. */
  private training = false;
  private clipNorm = 0;
  private readonly kinds: (OutputLoss['kind'])[];
  private readonly labels: boolean[];
  private readonly deltas: number[];
  private readonly weights: number[];
  private readonly trainable: boolean[] = [];
  /** Records up to and with the update (−1: only `count` kept), and what the update was recorded for. */
  private total = -1;
  private optimizer: ReplayedOptimizer | undefined = undefined;
  private lr = NaN;
  private signature = NaN;

  constructor(outputs: number) {
    this.kinds = Array.from({ length: outputs }, () => undefined);
    this.labels = Array.from({ length: outputs }, () => false);
    this.deltas = Array.from({ length: outputs }, () => 1);
    this.weights = Array.from({ length: outputs }, () => 1);
  }

  /**
   * Whether the tape still holds the last step's records up to the update, recorded for a step like
   * this one: the same tape epoch (nobody recorded since), block and layout version, batch, losses and
   * targets, the same mode and gradient clipping, and the same layers trainable (a step with dropout is
   * never kept).
   */
  matches(
    tape: Tape, block: number, version: number, rows: number, training: boolean, clipNorm: number, losses: readonly OutputLoss[],
    layers: readonly { trainable: boolean }[],
  ): boolean {
    if (this.epoch !== tape.epoch || this.block !== block || this.version !== version || this.rows !== rows || this.training !== training ||
      this.clipNorm !== clipNorm) return false;
    for (let o = 0; o < losses.length; o++) {
      const slot = losses[o];
      if (this.kinds[o] !== slot.kind || this.labels[o] !== slot.labels || !Object.is(this.deltas[o], slot.delta) ||
        !Object.is(this.weights[o], slot.weight)) return false;
    }
    for (let i = 0; i < layers.length; i++) if (this.trainable[i] !== layers[i].trainable) return false;
    return true;
  }

  /**
   * Runs the kept records again: with the update when it was recorded for this optimizer, lr and
   * step; returns whether it was (else the caller records the update after them: recordUpdate()).
   */
  resume(tape: Tape, optimizer: ReplayedOptimizer, step: number): boolean {
    const whole = this.total >= 0 && this.optimizer === optimizer && Object.is(this.lr, optimizer.lr) && this.signature === optimizer.stepSignature(step);
    tape.resume(whole ? this.total : this.count, this.losses, this.lossCount);
    return whole;
  }

  /** Keeps the records made so far on the tape as the last step's. */
  keep(
    tape: Tape, block: number, version: number, rows: number, training: boolean, clipNorm: number, losses: readonly OutputLoss[],
    layers: readonly { trainable: boolean }[],
  ): void {
    this.training = training;
    this.clipNorm = clipNorm;
    this.total = -1;
    this.epoch = tape.epoch;
    this.count = tape.length;
    this.lossCount = tape.pendingLosses;
    for (let k = 0; k < this.lossCount; k++) this.losses[k] = tape.pendingLoss(k);
    this.block = block;
    this.version = version;
    this.rows = rows;
    for (let o = 0; o < losses.length; o++) {
      const slot = losses[o];
      this.kinds[o] = slot.kind;
      this.labels[o] = slot.labels;
      this.deltas[o] = slot.delta;
      this.weights[o] = slot.weight;
    }
    for (let i = 0; i < layers.length; i++) this.trainable[i] = layers[i].trainable;
  }

  /** Nothing is kept (the tape ran part-way, or dropout draws new masks each step). */
  forget(): void {
    this.epoch = -1;
  }

  /**
   * Records the update (the step's `step`-th) after the kept records, and keeps it with them unless
   * the tape ran part-way meanwhile.
   */
  recordUpdate(tape: Tape, optimizer: ReplayedOptimizer, step: number): void {
    optimizer.step();
    if (this.epoch !== tape.epoch) {
      this.total = -1;
      return;
    }
    this.total = tape.length;
    this.optimizer = optimizer;
    this.lr = optimizer.lr;
    this.signature = optimizer.stepSignature(step);
  }
}
