// What a model's kept tape records were recorded for. A training step records the checks of x and y
// (trainStep; fit's data was checked when staged), forward, loss and backward, then the update (fit's
// guarded steps between the gradients' check and a backup copy, and the checks of what it wrote); a
// step of the same shape runs the first part again instead of recording it anew, and the update too
// while the optimizer, its learning rate and step signature (Optimizer.stepSignature) and the backup
// are the same. Replay also remembers the last trainStep call they ran for when it was a plain one (see
// rememberCall): a loop's next call like it skips the general checks.
import type { Tape } from '../backend/wasm/tape.js';
import type { OutputLoss } from './objective.js';

/** The options of a trainStep call, as far as the replay of its records depends on them. */
export interface CallOptions {
  readonly loss?: unknown;
  readonly optimizer?: unknown;
  readonly clipNorm?: unknown;
  readonly delta?: unknown;
  readonly lossWeights?: unknown;
}

/** What kept records begin with: trainStep's checks of x's and y's values, or (a fit step's) the forward. */
export const TRAIN_STEP = 0;
export const FIT_STEP = 1;

/** What the tape replay needs of an optimizer. */
export interface ReplayedOptimizer {
  readonly lr: number;
  stepSignature(step: number): number;
}

export class Replay {
  /** The tape's epoch when the records were kept; −1: nothing kept. */
  private epoch = -1;
  private kind = TRAIN_STEP;
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
  private backup = 0;
  /** The last plain call the records ran for (undefined: none), with what it held then. */
  private callOptions: CallOptions | undefined = undefined;
  private callLoss: unknown = undefined;
  private callOptimizer: unknown = undefined;
  private callClipNorm: unknown = undefined;
  private callDelta: unknown = undefined;
  private callTraining = false;
  private callRevision = -1;
  private xLength = -1;
  private yLength = -1;

  constructor(outputs: number) {
    this.kinds = Array.from({ length: outputs }, () => undefined);
    this.labels = Array.from({ length: outputs }, () => false);
    this.deltas = Array.from({ length: outputs }, () => 1);
    this.weights = Array.from({ length: outputs }, () => 1);
  }

  /**
   * Whether the tape still holds the last step's records up to the update, recorded for a step like
   * this one: the same kind (TRAIN_STEP or FIT_STEP), tape epoch (nobody recorded since), block and layout version, batch, losses and
   * targets, the same mode and gradient clipping, and the same layers trainable (a step with dropout is
   * never kept).
   */
  matches(
    tape: Tape, kind: number, block: number, version: number, rows: number, training: boolean, clipNorm: number, losses: readonly OutputLoss[],
    layers: readonly { trainable: boolean }[],
  ): boolean {
    if (this.epoch !== tape.epoch || this.kind !== kind || this.block !== block || this.version !== version || this.rows !== rows || this.training !== training ||
      this.clipNorm !== clipNorm) return false;
    for (let o = 0; o < losses.length; o++) {
      const slot = losses[o];
      if (this.kinds[o] !== slot.kind || this.labels[o] !== slot.labels || !Object.is(this.deltas[o], slot.delta) ||
        !Object.is(this.weights[o], slot.weight)) return false;
    }
    return this.sameTrainable(layers);
  }

  // Whether the same layers are trainable as when the records were kept.
  private sameTrainable(layers: readonly { trainable: boolean }[]): boolean {
    for (let i = 0; i < layers.length; i++) if (this.trainable[i] !== layers[i].trainable) return false;
    return true;
  }

  /**
   * Runs the kept records again: with the update when it was recorded for this optimizer, lr, step and
   * backup (0: none); returns whether it was (else the caller records the update after them, then
   * updateRecorded()).
   */
  resume(tape: Tape, optimizer: ReplayedOptimizer, step: number, backup: number): boolean {
    const whole = this.total >= 0 && this.optimizer === optimizer && Object.is(this.lr, optimizer.lr) &&
      this.signature === optimizer.stepSignature(step) && this.backup === backup;
    tape.resume(whole ? this.total : this.count, this.losses, this.lossCount);
    return whole;
  }

  /** Where the update's records begin on the tape: the number of a guarded update's first check. */
  get updateStart(): number {
    return this.count;
  }

  /** The batch the kept records are for. */
  get batchRows(): number {
    return this.rows;
  }

  /** Keeps the records made so far on the tape as the last step's. */
  keep(
    tape: Tape, kind: number, block: number, version: number, rows: number, training: boolean, clipNorm: number, losses: readonly OutputLoss[],
    layers: readonly { trainable: boolean }[],
  ): void {
    this.kind = kind;
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
   * After a step that ran the kept records (recorded or replayed, the tape untouched since): remembers
   * the call when it was plain — the model's one float input and one output given Float32Arrays, a
   * loss named by a string and no loss weights — else forgets the last one. `revision` is the
   * objective's (Objective.revision), `training` the model's mode.
   */
  rememberCall(tape: Tape, options: CallOptions, x: unknown, y: unknown, plain: boolean, training: boolean, revision: number): void {
    this.callOptions = undefined;
    if (!plain || this.epoch !== tape.epoch || !(x instanceof Float32Array) || !(y instanceof Float32Array) ||
      typeof options.loss !== 'string' || options.lossWeights !== undefined) return;
    this.callOptions = options;
    this.callLoss = options.loss;
    this.callOptimizer = options.optimizer;
    this.callClipNorm = options.clipNorm;
    this.callDelta = options.delta;
    this.callTraining = training;
    this.callRevision = revision;
    this.xLength = x.length;
    this.yLength = y.length;
  }

  /**
   * Whether this call repeats the remembered one on new data: the same options object holding the same
   * values, x and y Float32Arrays of the same lengths, the model in the same mode, the objective not
   * read anew since (`revision`), and the records still kept for the same layout and trainable layers.
   * Then every check of the general step but those of the values (the tape's guards) passes as it did.
   */
  repeats(
    tape: Tape, options: CallOptions, x: unknown, y: unknown, training: boolean, revision: number, block: number, version: number,
    layers: readonly { trainable: boolean }[],
  ): boolean {
    if (this.callOptions === undefined || options !== this.callOptions || this.epoch !== tape.epoch || this.kind !== TRAIN_STEP || this.block !== block || this.version !== version) return false;
    if (!(x instanceof Float32Array) || x.length !== this.xLength || !(y instanceof Float32Array) || y.length !== this.yLength) return false;
    if (options.loss !== this.callLoss || options.optimizer !== this.callOptimizer || options.clipNorm !== this.callClipNorm ||
      options.delta !== this.callDelta || options.lossWeights !== undefined || training !== this.callTraining || revision !== this.callRevision) return false;
    return this.sameTrainable(layers);
  }

  /**
   * The update (the step's `step`-th, with `backup`'s guards, or 0) was recorded after the kept records:
   * keeps it with them unless the tape ran part-way meanwhile.
   */
  updateRecorded(tape: Tape, optimizer: ReplayedOptimizer, step: number, backup: number): void {
    if (this.epoch !== tape.epoch) {
      this.total = -1;
      return;
    }
    this.total = tape.length;
    this.optimizer = optimizer;
    this.lr = optimizer.lr;
    this.signature = optimizer.stepSignature(step);
    this.backup = backup;
  }
}
