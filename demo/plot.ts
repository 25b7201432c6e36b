// Drawing for the demo page: the decision boundary as a heat map of the model's probabilities over
// the plane with the data on top, and the loss curves. Canvases are drawn in device pixels.
import type { Points } from './datasets.js';

/** The plane shown is [-EXTENT, EXTENT]² (the data sets fill about [-1, 1]², noise spills over). */
export const EXTENT = 1.2;
/** The heat map is GRID × GRID predictions, smoothed up to the canvas. */
export const GRID = 64;

// Label 0, label 1, and the undecided middle, as in the classic playgrounds.
const ORANGE = [245, 147, 34];
const BLUE = [8, 119, 189];
const NEUTRAL = [232, 234, 235];
// How far the heat map goes towards a label's colour at probability 0 or 1: paler than the points.
const HEAT = 0.65;

/**
 * A point of the curves; a curve skips the points without its value (the CNN tab's accuracy is per
 * epoch, its loss per batch; the Names GPT tab's held-out loss every EVALUATE_EVERY steps).
 */
export interface CurvePoint {
  epoch: number;
  loss?: number;
  heldOutLoss?: number;
  accuracy?: number;
}

/** The colour of the held-out loss, and of a reference level (the Names GPT tab's bigram), dashed. */
const HELD_OUT_COLOUR = `rgb(${BLUE.join(' ')})`;
const REFERENCE_COLOUR = `rgb(${ORANGE.join(' ')})`;

/** The centres of the heat map's cells, GRID × GRID rows × 2 (row-major from the top left, y up). */
export function gridPoints(): Float32Array {
  const points = new Float32Array(GRID * GRID * 2);
  const step = (2 * EXTENT) / GRID;
  for (let row = 0; row < GRID; row++) {
    for (let column = 0; column < GRID; column++) {
      const i = 2 * (row * GRID + column);
      points[i] = -EXTENT + (column + 0.5) * step;
      points[i + 1] = EXTENT - (row + 0.5) * step;
    }
  }
  return points;
}

/** Sizes a canvas's drawing buffer to its CSS size times the device pixel ratio. */
export function matchDevicePixels(canvas: HTMLCanvasElement): void {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
}

let cells: HTMLCanvasElement | undefined;

/** The heat map of `probabilities` (one per gridPoints() row, P(label 1)) with `data` drawn on top. */
export function drawBoundary(canvas: HTMLCanvasElement, probabilities: Float32Array, data: Points): void {
  cells ??= Object.assign(document.createElement('canvas'), { width: GRID, height: GRID });
  const image = new ImageData(GRID, GRID);
  for (let i = 0; i < GRID * GRID; i++) {
    const signed = 2 * probabilities[i] - 1;
    const target = signed < 0 ? ORANGE : BLUE;
    const strength = HEAT * Math.min(1, Math.abs(signed));
    for (let channel = 0; channel < 3; channel++) {
      image.data[4 * i + channel] = NEUTRAL[channel] + (target[channel] - NEUTRAL[channel]) * strength;
    }
    image.data[4 * i + 3] = 255;
  }
  cells.getContext('2d')!.putImageData(image, 0, 0);
  const context = canvas.getContext('2d')!;
  const { width, height } = canvas;
  context.imageSmoothingEnabled = true;
  context.drawImage(cells, 0, 0, width, height);
  const radius = width / 110;
  context.lineWidth = width / 360;
  context.strokeStyle = 'white';
  for (let r = 0; r < data.y.length; r++) {
    const px = ((data.x[2 * r] + EXTENT) / (2 * EXTENT)) * width;
    const py = ((EXTENT - data.x[2 * r + 1]) / (2 * EXTENT)) * height;
    context.fillStyle = `rgb(${(data.y[r] === 1 ? BLUE : ORANGE).join(' ')})`;
    context.beginPath();
    context.arc(px, py, radius, 0, 2 * Math.PI);
    context.fill();
    context.stroke();
  }
}

/**
 * Loss (dark), held-out loss and accuracy (blue) against epochs, and `reference` as a dashed orange
 * level across, on one axis from 0 to max(1, largest loss, reference).
 */
export function drawCurve(canvas: HTMLCanvasElement, points: readonly CurvePoint[], reference?: number): void {
  const context = canvas.getContext('2d')!;
  const { width, height } = canvas;
  const ratio = width / canvas.clientWidth || 1;
  const pad = 6 * ratio;
  context.clearRect(0, 0, width, height);
  context.strokeStyle = '#e3e5e8';
  context.lineWidth = ratio;
  for (const level of [0, 0.5, 1]) {
    const y = pad + (1 - level) * (height - 2 * pad);
    context.beginPath();
    context.moveTo(0, y);
    context.lineTo(width, y);
    context.stroke();
  }
  const top = Math.max(1, reference ?? 0, ...points.map((point) => Math.max(point.loss ?? 0, point.heldOutLoss ?? 0)));
  const levelY = (level: number): number => pad + (1 - level / top) * (height - 2 * pad);
  if (reference !== undefined) {
    context.strokeStyle = REFERENCE_COLOUR;
    context.lineWidth = 2 * ratio;
    context.setLineDash([6 * ratio, 4 * ratio]);
    context.beginPath();
    context.moveTo(0, levelY(reference));
    context.lineTo(width, levelY(reference));
    context.stroke();
    context.setLineDash([]);
  }
  if (points.length === 0) return;
  const lastEpoch = Math.max(1, points[points.length - 1].epoch);
  const line = (value: (point: CurvePoint) => number | undefined, colour: string): void => {
    context.strokeStyle = colour;
    context.lineWidth = 2 * ratio;
    context.beginPath();
    let first = true;
    for (const point of points) {
      const level = value(point);
      if (level === undefined) continue;
      const x = pad + (point.epoch / lastEpoch) * (width - 2 * pad);
      const y = levelY(level);
      if (first) context.moveTo(x, y);
      else context.lineTo(x, y);
      first = false;
    }
    context.stroke();
  };
  line((point) => point.accuracy, HELD_OUT_COLOUR);
  line((point) => point.heldOutLoss, HELD_OUT_COLOUR);
  line((point) => point.loss, '#333');
}

/** Resolves at the next animation frame: the browser has painted what was drawn before. */
export function nextFrame(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}
