// A data set checked once and copied into the backend's memory, from which mini-batches are gathered
// into a model's input and targets regions with memory copies: no per-batch validation or allocation.
import { matrixRows, nonFiniteError, targetsAreLabels, writeLabels, writeMatrix, writeTargets, type Matrix, type Targets } from '../data.js';
import { targetsAreProbabilities, type LossName } from '../losses.js';
import type { Sequential } from '../sequential.js';

export class StagedData {
  private constructor(
    private readonly model: Sequential,
    private readonly block: number,
    readonly rows: number,
    /** Whether the targets are int32 class labels (else float rows of the output's width). */
    readonly labels: boolean,
  ) {}

  /** Checks x and y (as `what` and `whatY` in errors) and copies them; throws before keeping anything. */
  static stage(model: Sequential, x: Matrix, y: Targets, loss: LossName, what = 'x', whatY = 'y'): StagedData {
    const rows = matrixRows(x, model.inputSize, what);
    const labels = loss === 'softmaxCrossEntropy' && targetsAreLabels(y);
    const targetWidth = labels ? 1 : model.outputSize;
    const { heap, kernels } = model.backend;
    const xBytes = rows * model.inputSize * 4;
    const block = heap.alloc(xBytes + rows * targetWidth * 4);
    try {
      writeMatrix(heap.f32, block >> 2, x, model.inputSize, what);
      const n = rows * model.inputSize;
      if (kernels.count_nonfinite(block, n) !== 0) throw nonFiniteError(heap.f32, block >> 2, n, model.inputSize, what);
      const targets = block + xBytes;
      if (labels) writeLabels(heap.i32, targets >> 2, y as Int32Array | number[], rows, model.outputSize, whatY);
      else writeTargets(heap.f32, targets >> 2, y, rows, model.outputSize, targetsAreProbabilities(loss), whatY);
    } catch (error) {
      heap.free(block);
      throw error;
    }
    return new StagedData(model, block, rows, labels);
  }

  private get targets(): number {
    return this.block + this.rows * this.model.inputSize * 4;
  }

  /** Copies rows order[start … start + count) (or start … start + count when order is omitted) into the model. */
  gather(start: number, count: number, order?: Int32Array): void {
    const model = this.model;
    const { kernels, heap } = model.backend;
    const inputWidth = model.inputSize;
    const targetWidth = this.labels ? 1 : model.outputSize;
    if (!order) {
      kernels.copy(model.inputPointer, this.block + start * inputWidth * 4, count * inputWidth);
      kernels.copy(model.targetsPointer, this.targets + start * targetWidth * 4, count * targetWidth);
      return;
    }
    const inputRowBytes = inputWidth * 4;
    const targetRowBytes = targetWidth * 4;
    for (let r = 0; r < count; r++) {
      const row = order[start + r];
      kernels.copy(model.inputPointer + r * inputRowBytes, this.block + row * inputRowBytes, inputWidth);
    }
    if (this.labels) {
      const i32 = heap.i32;
      const from = this.targets >> 2;
      const to = model.targetsPointer >> 2;
      for (let r = 0; r < count; r++) i32[to + r] = i32[from + order[start + r]];
    } else {
      for (let r = 0; r < count; r++) {
        kernels.copy(model.targetsPointer + r * targetRowBytes, this.targets + order[start + r] * targetRowBytes, targetWidth);
      }
    }
  }

  free(): void {
    this.model.backend.heap.free(this.block);
  }
}
