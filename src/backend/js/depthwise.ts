// Depthwise convolution twins: the plain nested loops over channels-last images [batch, height,
// width, channels] and a weight [kernelH, kernelW, channels], at element indices of m (−1: none).
import { activate } from './dense.js';
import { outputSize, sumsOf } from './conv.js';
import type { Floats } from './floats.js';

/** z[n, oy, ox, c] = Σ x[n, oy·sH − pH + kh·dH, ox·sW − pW + kw·dW, c]·w[kh, kw, c] (+ bias[c]), then a = f(z).  "=" */
export function depthwise_conv2d_forward(
  m: Floats, z: number, a: number, x: number, w: number, bias: number, batch: number, height: number, width: number,
  channels: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, activation: number, slope: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const out = z + ((n * outH + oy) * outW + ox) * channels;
        for (let c = 0; c < channels; c++) m[out + c] = bias < 0 ? 0 : m[bias + c];
        for (let kh = 0; kh < kernelH; kh++) {
          const iy = oy * strideH - padH + kh * dilationH;
          if (iy < 0 || iy >= height) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const ix = ox * strideW - padW + kw * dilationW;
            if (ix < 0 || ix >= width) continue;
            const pixel = x + ((n * height + iy) * width + ix) * channels;
            const tap = w + (kh * kernelW + kw) * channels;
            for (let c = 0; c < channels; c++) m[out + c] += m[pixel + c] * m[tap + c];
          }
        }
      }
    }
  }
  activate(m, activation, a, z, batch * outH * outW, channels, slope);
}

/** dx (accumulate ≠ 0: +=) = Σ over the windows holding each input element of dz·w.  "=" or "+=" */
export function depthwise_conv2d_input_grad(
  m: Floats, dx: number, dz: number, w: number, batch: number, height: number, width: number, channels: number,
  kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, accumulate: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const size = batch * height * width * channels;
  // The sums are formed apart and then added, as the kernel adds each finished sum.
  const sums = sumsOf(size);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const grad = dz + ((n * outH + oy) * outW + ox) * channels;
        for (let kh = 0; kh < kernelH; kh++) {
          const iy = oy * strideH - padH + kh * dilationH;
          if (iy < 0 || iy >= height) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const ix = ox * strideW - padW + kw * dilationW;
            if (ix < 0 || ix >= width) continue;
            const pixel = ((n * height + iy) * width + ix) * channels;
            const tap = w + (kh * kernelW + kw) * channels;
            for (let c = 0; c < channels; c++) sums[pixel + c] += m[grad + c] * m[tap + c];
          }
        }
      }
    }
  }
  for (let i = 0; i < size; i++) m[dx + i] = accumulate !== 0 ? m[dx + i] + sums[i] : sums[i];
}

/**
 * Channels firstChannel … firstChannel + channelCount − 1 of dw[kernelH, kernelW, channels] and, when
 * dbias ≥ 0, of dbias[channels] (accumulate ≠ 0: +=): Σ over output positions of the window element
 * times dz, and Σ dz.  "+=" or "="
 */
export function depthwise_conv2d_weight_grad(
  m: Floats, dw: number, dbias: number, x: number, dz: number, batch: number, height: number, width: number,
  channels: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, firstChannel: number, channelCount: number, accumulate: number,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const taps = kernelH * kernelW;
  // Per channel: the taps' sums, then the bias's.
  const sums = sumsOf((taps + 1) * channels);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const grad = dz + ((n * outH + oy) * outW + ox) * channels;
        for (let c = firstChannel; c < firstChannel + channelCount; c++) sums[taps * channels + c] += m[grad + c];
        for (let kh = 0; kh < kernelH; kh++) {
          const iy = oy * strideH - padH + kh * dilationH;
          if (iy < 0 || iy >= height) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const ix = ox * strideW - padW + kw * dilationW;
            if (ix < 0 || ix >= width) continue;
            const pixel = x + ((n * height + iy) * width + ix) * channels;
            const tap = (kh * kernelW + kw) * channels;
            for (let c = firstChannel; c < firstChannel + channelCount; c++) sums[tap + c] += m[pixel + c] * m[grad + c];
          }
        }
      }
    }
  }
  for (let c = firstChannel; c < firstChannel + channelCount; c++) {
    for (let tap = 0; tap < taps; tap++) {
      const at = dw + tap * channels + c;
      m[at] = accumulate !== 0 ? m[at] + sums[tap * channels + c] : sums[tap * channels + c];
    }
    if (dbias >= 0) m[dbias + c] = accumulate !== 0 ? m[dbias + c] + sums[taps * channels + c] : sums[taps * channels + c];
  }
}
