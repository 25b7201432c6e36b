// Pooling twins over channels-last [batch × height × width × channels] blocks at element indices of m
// (1-D pools pass height 1), as plain nested loops over each output element and its window; sums in
// double, stored as m's elements. argmax is an int32 array with an element index of its own.
import type { Floats } from './floats.js';

/**
 * out = the max of each window's in-bounds elements (padding never selected), scanned row-major, a value
 * taking over when greater or NaN (ties keep the first); argmax = its index within the sample.  "="
 */
export function max_pool_forward(
  m: Floats, out: number, argmax: Int32Array, argmaxIndex: number, x: number, batch: number, height: number, width: number,
  channels: number, outHeight: number, outWidth: number, kernelH: number, kernelW: number, strideH: number, strideW: number,
  padH: number, padW: number,
): void {
  let o = 0;
  for (let b = 0; b < batch; b++) {
    const sample = x + b * height * width * channels;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        for (let c = 0; c < channels; c++, o++) {
          let max = -Infinity;
          let index = -1;
          for (let ih = oh * strideH - padH; ih < oh * strideH - padH + kernelH; ih++) {
            for (let iw = ow * strideW - padW; iw < ow * strideW - padW + kernelW; iw++) {
              if (ih < 0 || ih >= height || iw < 0 || iw >= width) continue;
              const at = (ih * width + iw) * channels + c;
              const v = m[sample + at];
              if (index < 0 || v > max || Number.isNaN(v)) {
                max = v;
                index = at;
              }
            }
          }
          m[out + o] = max;
          argmax[argmaxIndex + o] = index;
        }
      }
    }
  }
}

/** dx[b][argmax[b][i]] += dout[b][i] for each output element in order; with accumulate = 0, dx is zeroed first.  "=" or "+=" */
export function max_pool_backward(
  m: Floats, dx: number, dout: number, argmax: Int32Array, argmaxIndex: number, batch: number, inputSize: number,
  outputSize: number, accumulate: number,
): void {
  if (accumulate === 0) m.fill(0, dx, dx + batch * inputSize);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < outputSize; i++) {
      const o = b * outputSize + i;
      m[dx + b * inputSize + argmax[argmaxIndex + o]] += m[dout + o];
    }
  }
}

/** How many of a window's kernelH·kernelW places are inside the input. */
function inBounds(oh: number, ow: number, height: number, width: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number): number {
  const rows = Math.min(oh * strideH - padH + kernelH, height) - Math.max(oh * strideH - padH, 0);
  const columns = Math.min(ow * strideW - padW + kernelW, width) - Math.max(ow * strideW - padW, 0);
  return rows * columns;
}

/** out = Σ of each window's in-bounds elements / (kernelH·kernelW, or the in-bounds count when countIncludePad = 0).  "=" */
export function avg_pool_forward(
  m: Floats, out: number, x: number, batch: number, height: number, width: number, channels: number, outHeight: number,
  outWidth: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  countIncludePad: number,
): void {
  let o = 0;
  for (let b = 0; b < batch; b++) {
    const sample = x + b * height * width * channels;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const count = countIncludePad !== 0 ? kernelH * kernelW : inBounds(oh, ow, height, width, kernelH, kernelW, strideH, strideW, padH, padW);
        for (let c = 0; c < channels; c++, o++) {
          let sum = 0;
          for (let ih = oh * strideH - padH; ih < oh * strideH - padH + kernelH; ih++) {
            for (let iw = ow * strideW - padW; iw < ow * strideW - padW + kernelW; iw++) {
              if (ih >= 0 && ih < height && iw >= 0 && iw < width) sum += m[sample + (ih * width + iw) * channels + c];
            }
          }
          m[out + o] = sum / count;
        }
      }
    }
  }
}

/** dx[window element] += dout/count for each output element in order, over its in-bounds window; with accumulate = 0, dx is zeroed first.  "=" or "+=" */
export function avg_pool_backward(
  m: Floats, dx: number, dout: number, batch: number, height: number, width: number, channels: number, outHeight: number,
  outWidth: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  countIncludePad: number, accumulate: number,
): void {
  if (accumulate === 0) m.fill(0, dx, dx + batch * height * width * channels);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    const sample = dx + b * height * width * channels;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const count = countIncludePad !== 0 ? kernelH * kernelW : inBounds(oh, ow, height, width, kernelH, kernelW, strideH, strideW, padH, padW);
        for (let c = 0; c < channels; c++, o++) {
          const share = m[dout + o] / count;
          for (let ih = oh * strideH - padH; ih < oh * strideH - padH + kernelH; ih++) {
            for (let iw = ow * strideW - padW; iw < ow * strideW - padW + kernelW; iw++) {
              if (ih >= 0 && ih < height && iw >= 0 && iw < width) m[sample + (ih * width + iw) * channels + c] += share;
            }
          }
        }
      }
    }
  }
}

/** out[b][c] = Σ_p x[b][p][c] / positions.  "=" */
export function global_avg_pool_forward(m: Floats, out: number, x: number, batch: number, positions: number, channels: number): void {
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let p = 0; p < positions; p++) sum += m[x + (b * positions + p) * channels + c];
      m[out + b * channels + c] = sum / positions;
    }
  }
}

/** dx[b][p][c] = dout[b][c] / positions for every position ("+=" when accumulate ≠ 0).  "=" or "+=" */
export function global_avg_pool_backward(
  m: Floats, dx: number, dout: number, batch: number, positions: number, channels: number, accumulate: number,
): void {
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < positions; p++) {
      for (let c = 0; c < channels; c++) {
        const at = dx + (b * positions + p) * channels + c;
        const share = m[dout + b * channels + c] / positions;
        m[at] = accumulate !== 0 ? m[at] + share : share;
      }
    }
  }
}
