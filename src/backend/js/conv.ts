// Convolution twins: the plain nested loops over channels-last images [batch, height, width, channels]
// and a weight [groups][kernelH, kernelW, inChannels/groups, outChannels/groups] (groups = 1: [kernelH,
// kernelW, inChannels, outChannels]), at element indices of m (−1: no bias). Group g maps input
// channels g·inChannels/groups … to output channels g·outChannels/groups ….
import { activate } from './dense.js';
import type { Floats } from './floats.js';

// Sums formed in double before they are written or added; grown, never made per call.
let sumsBuffer = new Float64Array(64);
export function sumsOf(length: number): Float64Array {
  if (sumsBuffer.length < length) sumsBuffer = new Float64Array(length);
  sumsBuffer.fill(0, 0, length);
  return sumsBuffer;
}

/** Output positions along an axis (PyTorch's formula). */
export function outputSize(size: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

// z = the grouped convolution of x with w (+ bias).
function convolve(
  m: Floats, z: number, x: number, w: number, bias: number, batch: number, height: number, width: number,
  inChannels: number, outChannels: number, groups: number, kernelH: number, kernelW: number, strideH: number, strideW: number,
  padH: number, padW: number, dilationH: number, dilationW: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const groupIn = inChannels / groups;
  const groupOut = outChannels / groups;
  const groupWeights = kernelH * kernelW * groupIn * groupOut;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const out = z + ((n * outH + oy) * outW + ox) * outChannels;
        for (let o = 0; o < outChannels; o++) m[out + o] = bias < 0 ? 0 : m[bias + o];
        for (let kh = 0; kh < kernelH; kh++) {
          const iy = oy * strideH - padH + kh * dilationH;
          if (iy < 0 || iy >= height) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const ix = ox * strideW - padW + kw * dilationW;
            if (ix < 0 || ix >= width) continue;
            const pixel = x + ((n * height + iy) * width + ix) * inChannels;
            for (let g = 0; g < groups; g++) {
              const taps = w + g * groupWeights + (kh * kernelW + kw) * groupIn * groupOut;
              for (let c = 0; c < groupIn; c++) {
                const value = m[pixel + g * groupIn + c];
                for (let o = 0; o < groupOut; o++) m[out + g * groupOut + o] += value * m[taps + c * groupOut + o];
              }
            }
          }
        }
      }
    }
  }
}

/** z = the convolution of x with w (+ bias), then a = f(z).  "=" */
export function conv2d_forward(
  m: Floats, z: number, a: number, x: number, w: number, bias: number, batch: number, height: number, width: number,
  inChannels: number, outChannels: number, kernelH: number, kernelW: number, strideH: number, strideW: number,
  padH: number, padW: number, dilationH: number, dilationW: number, activation: number, slope: number,
): void {
  convolve(m, z, x, w, bias, batch, height, width, inChannels, outChannels, 1, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW);
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  activate(m, activation, a, z, batch * outH * outW, outChannels, slope);
}

/** z = the grouped convolution of x with w (+ bias).  "=" */
export function conv2d_grouped_forward(
  m: Floats, z: number, x: number, w: number, bias: number, batch: number, height: number, width: number,
  inChannels: number, outChannels: number, groups: number, kernelH: number, kernelW: number, strideH: number, strideW: number,
  padH: number, padW: number, dilationH: number, dilationW: number,
): void {
  convolve(m, z, x, w, bias, batch, height, width, inChannels, outChannels, groups, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW);
}

/** dx (accumulate ≠ 0: +=) = Σ over the windows holding each input element of dz·w, within its group.  "=" or "+=" */
export function conv2d_input_grad(
  m: Floats, dx: number, dz: number, w: number, batch: number, height: number, width: number, inChannels: number,
  outChannels: number, groups: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, accumulate: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const groupIn = inChannels / groups;
  const groupOut = outChannels / groups;
  const groupWeights = kernelH * kernelW * groupIn * groupOut;
  const size = batch * height * width * inChannels;
  // The sums are formed apart and then added, as the kernel adds each finished sum.
  const sums = sumsOf(size);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const grad = dz + ((n * outH + oy) * outW + ox) * outChannels;
        for (let kh = 0; kh < kernelH; kh++) {
          const iy = oy * strideH - padH + kh * dilationH;
          if (iy < 0 || iy >= height) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const ix = ox * strideW - padW + kw * dilationW;
            if (ix < 0 || ix >= width) continue;
            const pixel = ((n * height + iy) * width + ix) * inChannels;
            for (let g = 0; g < groups; g++) {
              const taps = w + g * groupWeights + (kh * kernelW + kw) * groupIn * groupOut;
              for (let c = 0; c < groupIn; c++) {
                let sum = 0;
                for (let o = 0; o < groupOut; o++) sum += m[grad + g * groupOut + o] * m[taps + c * groupOut + o];
                sums[pixel + g * groupIn + c] += sum;
              }
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < size; i++) m[dx + i] = accumulate !== 0 ? m[dx + i] + sums[i] : sums[i];
}

/**
 * Rows first … first + count − 1 of dw[groups·kernelH·kernelW·inChannels/groups × outChannels/groups]
 * (accumulate ≠ 0: +=): Σ over output positions of the window element times dz.  "+=" or "="
 */
export function conv2d_weight_grad(
  m: Floats, dw: number, x: number, dz: number, batch: number, height: number, width: number, inChannels: number,
  outChannels: number, groups: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, first: number, count: number, accumulate: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const groupIn = inChannels / groups;
  const groupOut = outChannels / groups;
  const groupRows = kernelH * kernelW * groupIn;
  for (let row = first; row < first + count; row++) {
    const sums = sumsOf(groupOut);
    const g = Math.floor(row / groupRows);
    const c = (row - g * groupRows) % groupIn;
    const tap = (row - g * groupRows - c) / groupIn;
    const kh = Math.floor(tap / kernelW);
    const kw = tap % kernelW;
    for (let n = 0; n < batch; n++) {
      for (let oy = 0; oy < outH; oy++) {
        const iy = oy * strideH - padH + kh * dilationH;
        if (iy < 0 || iy >= height) continue;
        for (let ox = 0; ox < outW; ox++) {
          const ix = ox * strideW - padW + kw * dilationW;
          if (ix < 0 || ix >= width) continue;
          const value = m[x + ((n * height + iy) * width + ix) * inChannels + g * groupIn + c];
          const grad = dz + ((n * outH + oy) * outW + ox) * outChannels + g * groupOut;
          for (let o = 0; o < groupOut; o++) sums[o] += value * m[grad + o];
        }
      }
    }
    const out = dw + row * groupOut;
    for (let o = 0; o < groupOut; o++) m[out + o] = accumulate !== 0 ? m[out + o] + sums[o] : sums[o];
  }
}
