// Convolution twins: the plain nested loops over channels-last images [batch, height, width, channels]
// and a weight [kernelH, kernelW, inChannels, outChannels], at element indices of m (−1: no bias).
import { activate } from './dense.js';
import type { Floats } from './floats.js';

// Sums formed in double before they are written or added; grown, never made per call.
let sumsBuffer = new Float64Array(64);
function sumsOf(length: number): Float64Array {
  if (sumsBuffer.length < length) sumsBuffer = new Float64Array(length);
  sumsBuffer.fill(0, 0, length);
  return sumsBuffer;
}

function outputSize(size: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** z = the convolution of x with w (+ bias), then a = f(z).  "=" */
export function conv2d_forward(
  m: Floats, z: number, a: number, x: number, w: number, bias: number, batch: number, height: number, width: number,
  inChannels: number, outChannels: number, kernelH: number, kernelW: number, strideH: number, strideW: number,
  padH: number, padW: number, dilationH: number, dilationW: number, activation: number, slope: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
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
            const taps = w + (kh * kernelW + kw) * inChannels * outChannels;
            for (let c = 0; c < inChannels; c++) {
              const value = m[pixel + c];
              for (let o = 0; o < outChannels; o++) m[out + o] += value * m[taps + c * outChannels + o];
            }
          }
        }
      }
    }
  }
  activate(m, activation, a, z, batch * outH * outW, outChannels, slope);
}

/** dx (accumulate ≠ 0: +=) = Σ over the windows holding each input element of dz·w.  "=" or "+=" */
export function conv2d_input_grad(
  m: Floats, dx: number, dz: number, w: number, batch: number, height: number, width: number, inChannels: number,
  outChannels: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, accumulate: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
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
            const taps = w + (kh * kernelW + kw) * inChannels * outChannels;
            for (let c = 0; c < inChannels; c++) {
              let sum = 0;
              for (let o = 0; o < outChannels; o++) sum += m[grad + o] * m[taps + c * outChannels + o];
              sums[pixel + c] += sum;
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < size; i++) m[dx + i] = accumulate !== 0 ? m[dx + i] + sums[i] : sums[i];
}

/**
 * Rows first … first + count − 1 of dw[kernelH·kernelW·inChannels × outChannels] (accumulate ≠ 0: +=):
 * Σ over output positions of the window element times dz.  "+=" or "="
 */
export function conv2d_weight_grad(
  m: Floats, dw: number, x: number, dz: number, batch: number, height: number, width: number, inChannels: number,
  outChannels: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, first: number, count: number, accumulate: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  for (let row = first; row < first + count; row++) {
    const sums = sumsOf(outChannels);
    const c = row % inChannels;
    const tap = (row - c) / inChannels;
    const kh = Math.floor(tap / kernelW);
    const kw = tap % kernelW;
    for (let n = 0; n < batch; n++) {
      for (let oy = 0; oy < outH; oy++) {
        const iy = oy * strideH - padH + kh * dilationH;
        if (iy < 0 || iy >= height) continue;
        for (let ox = 0; ox < outW; ox++) {
          const ix = ox * strideW - padW + kw * dilationW;
          if (ix < 0 || ix >= width) continue;
          const value = m[x + ((n * height + iy) * width + ix) * inChannels + c];
          const grad = dz + ((n * outH + oy) * outW + ox) * outChannels;
          for (let o = 0; o < outChannels; o++) sums[o] += value * m[grad + o];
        }
      }
    }
    const out = dw + row * outChannels;
    for (let o = 0; o < outChannels; o++) m[out + o] = accumulate !== 0 ? m[out + o] + sums[o] : sums[o];
  }
}
