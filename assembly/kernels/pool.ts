// Max, average and global average pooling over channels-last samples, as PyTorch's MaxPool2d, AvgPool2d
// and AdaptiveAvgPool2d(1): x is [batch × height × width × channels] row-major (1-D pools pass height 1),
// so a window position's channels are contiguous and every loop runs four channels per f32x4.
import { Int32Ptr } from './pointers';

// The window of output row or column `o` clipped to the input: [start, end) of input rows or columns.
@inline function windowStart(o: i32, stride: i32, padding: i32): i32 {
  const start = o * stride - padding;
  return start > 0 ? start : 0;
}

@inline function windowEnd(o: i32, stride: i32, padding: i32, kernel: i32, size: i32): i32 {
  const end = o * stride - padding + kernel;
  return end < size ? end : size;
}

// The max of channels c … c + 3 over one window, and each lane's chosen index (see max_pool_forward).
@inline function maxOfFour(
  out: usize, argmax: usize, sample: usize, c: i32, rowStart: i32, rowEnd: i32, columnStart: i32, columnEnd: i32,
  width: i32, channels: i32,
): void {
  const lanes = i32x4(0, 1, 2, 3);
  let max = f32x4.splat(-Infinity);
  let index = i32x4.add(i32x4.splat((rowStart * width + columnStart) * channels + c), lanes);
  for (let ih = rowStart; ih < rowEnd; ih++) {
    for (let iw = columnStart; iw < columnEnd; iw++) {
      const at = (ih * width + iw) * channels + c;
      const v = v128.load(sample + (<usize>at << 2));
      const take = v128.or(f32x4.gt(v, max), f32x4.ne(v, v));
      max = v128.bitselect(v, max, take);
      index = v128.bitselect(i32x4.add(i32x4.splat(at), lanes), index, take);
    }
  }
  v128.store(out, max);
  v128.store(argmax, index);
}

// maxOfFour over a 2 × 2 window whose first element (channel c) is float `at` of the sample, its pixels
// `pixel` floats apart and its rows `row` apart: the same picks in the same order, unrolled.
@inline function maxOfFour2x2(out: usize, argmax: usize, sample: usize, at: i32, pixel: i32, row: i32): void {
  const lanes = i32x4(0, 1, 2, 3);
  let max = v128.load(sample + (<usize>at << 2));
  let index = i32x4.add(i32x4.splat(at), lanes);
  let next = at + pixel;
  let v = v128.load(sample + (<usize>next << 2));
  let take = v128.or(f32x4.gt(v, max), f32x4.ne(v, v));
  max = v128.bitselect(v, max, take);
  index = v128.bitselect(i32x4.add(i32x4.splat(next), lanes), index, take);
  next = at + row;
  v = v128.load(sample + (<usize>next << 2));
  take = v128.or(f32x4.gt(v, max), f32x4.ne(v, v));
  max = v128.bitselect(v, max, take);
  index = v128.bitselect(i32x4.add(i32x4.splat(next), lanes), index, take);
  next = at + row + pixel;
  v = v128.load(sample + (<usize>next << 2));
  take = v128.or(f32x4.gt(v, max), f32x4.ne(v, v));
  v128.store(out, v128.bitselect(v, max, take));
  v128.store(argmax, v128.bitselect(i32x4.add(i32x4.splat(next), lanes), index, take));
}

/**
 * PyTorch's max_pool2d (dilation 1, ceil_mode false) over x[batch × height × width × channels] into
 * out[batch × outHeight × outWidth × channels], outHeight = ⌊(height + 2·padH − kernelH)/strideH⌋ + 1
 * (likewise the width; the caller computes both, and keeps padding ≤ kernel/2 so every window holds an
 * input element). Padding is never selected. Each window is scanned row-major, and a value replaces the
 * running max when it is greater or NaN, as PyTorch's CPU kernel: ties keep the first, a NaN is the
 * max (the last NaN, where there are several). argmax[batch × outHeight × outWidth × channels] gets the
 * chosen element's index within its sample, ((row·width + column)·channels + channel), for
 * max_pool_backward.  "="
 */
export function max_pool_forward(
  out: usize, argmax: Int32Ptr, x: usize, batch: i32, height: i32, width: i32, channels: i32, outHeight: i32, outWidth: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32,
): void {
  const sampleBytes = <usize>(height * width * channels) << 2;
  if (kernelH == 2 && kernelW == 2 && strideH == 2 && strideW == 2 && padH == 0 && padW == 0 && channels >= 4) {
    maxPool2x2(out, argmax, x, batch, width, channels, outHeight, outWidth, sampleBytes);
    return;
  }
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const sample = x + <usize>b * sampleBytes;
    for (let oh = 0; oh < outHeight; oh++) {
      const rowStart = windowStart(oh, strideH, padH);
      const rowEnd = windowEnd(oh, strideH, padH, kernelH, height);
      for (let ow = 0; ow < outWidth; ow++) {
        const columnStart = windowStart(ow, strideW, padW);
        const columnEnd = windowEnd(ow, strideW, padW, kernelW, width);
        const first = (rowStart * width + columnStart) * channels;
        let c = 0;
        for (; c + 4 <= channels; c += 4) {
          maxOfFour(out + ((o + <usize>c) << 2), argmax + ((o + <usize>c) << 2), sample, c, rowStart, rowEnd, columnStart, columnEnd, width, channels);
        }
        if (c < channels && channels >= 4) {
          // The last 1–3 channels as the last four: the lanes before them are computed again, to the
          // same values, rather than one channel at a time.
          c = channels - 4;
          maxOfFour(out + ((o + <usize>c) << 2), argmax + ((o + <usize>c) << 2), sample, c, rowStart, rowEnd, columnStart, columnEnd, width, channels);
          c = channels;
        }
        for (; c < channels; c++) {
          let max: f32 = -Infinity;
          let index = first + c;
          for (let ih = rowStart; ih < rowEnd; ih++) {
            for (let iw = columnStart; iw < columnEnd; iw++) {
              const at = (ih * width + iw) * channels + c;
              const v = load<f32>(sample + (<usize>at << 2));
              // Selects, not a branch: which element wins is data, and a mispredicted branch per
              // element cost more than the pooling.
              const take = (v > max) | (v != v);
              max = select<f32>(v, max, take);
              index = select<i32>(at, index, take);
            }
          }
          store<f32>(out + ((o + <usize>c) << 2), max);
          store<i32>(argmax + ((o + <usize>c) << 2), index);
        }
        o += <usize>channels;
      }
    }
  }
}

// max_pool_forward's most common case, 2 × 2 windows at stride 2 without padding (LeNet's and VGG's),
// over 4 or more channels: no window bounds to clip, the four loads unrolled, and a pixel's last 1–3
// channels taken as its last four (as there).
function maxPool2x2(out: usize, argmax: usize, x: usize, batch: i32, width: i32, channels: i32, outHeight: i32, outWidth: i32, sampleBytes: usize): void {
  const row = width * channels;
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const sample = x + <usize>b * sampleBytes;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const first = (2 * oh * width + 2 * ow) * channels;
        let c = 0;
        for (; c + 4 <= channels; c += 4) {
          maxOfFour2x2(out + ((o + <usize>c) << 2), argmax + ((o + <usize>c) << 2), sample, first + c, channels, row);
        }
        if (c < channels) {
          c = channels - 4;
          maxOfFour2x2(out + ((o + <usize>c) << 2), argmax + ((o + <usize>c) << 2), sample, first + c, channels, row);
        }
        o += <usize>channels;
      }
    }
  }
}

/**
 * The gradient of max_pool_forward: dx[b][argmax[b][i]] += dout[b][i] for every output element i of
 * every sample b, in order (an input chosen by several overlapping windows gets their sum). dx is
 * [batch × inputSize], dout and argmax [batch × outputSize]. With accumulate = 0, dx is set to 0 first
 * ("="); else added to ("+="). A scatter, one element at a time: the four lanes of a vector go to four
 * unrelated places.
 */
export function max_pool_backward(
  dx: usize, dout: usize, argmax: Int32Ptr, batch: i32, inputSize: i32, outputSize: i32, accumulate: i32,
): void {
  const inputBytes = <usize>inputSize << 2;
  if (accumulate == 0) memory.fill(dx, 0, <usize>batch * inputBytes);
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const sample = dx + <usize>b * inputBytes;
    for (let i = 0; i < outputSize; i++, o++) {
      const target = sample + (<usize>load<i32>(argmax + (o << 2)) << 2);
      store<f32>(target, load<f32>(target) + load<f32>(dout + (o << 2)));
    }
  }
}

// The divisor of one window: kernelH·kernelW when padding counts (with ceil_mode false no window
// reaches past the padding), else the elements of the window inside the input.
@inline function windowCount(rows: i32, columns: i32, kernelH: i32, kernelW: i32, countIncludePad: i32): f32 {
  return <f32>(countIncludePad != 0 ? kernelH * kernelW : rows * columns);
}

/**
 * PyTorch's avg_pool2d (ceil_mode false) over x[batch × height × width × channels] into
 * out[batch × outHeight × outWidth × channels] (the geometry of max_pool_forward): each window's
 * in-bounds elements summed row-major in float32, then divided by kernelH·kernelW when countIncludePad ≠ 0
 * (padding counts as zeros), else by the number of in-bounds elements.  "="
 */
export function avg_pool_forward(
  out: usize, x: usize, batch: i32, height: i32, width: i32, channels: i32, outHeight: i32, outWidth: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, countIncludePad: i32,
): void {
  const sampleBytes = <usize>(height * width * channels) << 2;
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const sample = x + <usize>b * sampleBytes;
    for (let oh = 0; oh < outHeight; oh++) {
      const rowStart = windowStart(oh, strideH, padH);
      const rowEnd = windowEnd(oh, strideH, padH, kernelH, height);
      for (let ow = 0; ow < outWidth; ow++) {
        const columnStart = windowStart(ow, strideW, padW);
        const columnEnd = windowEnd(ow, strideW, padW, kernelW, width);
        const count = windowCount(rowEnd - rowStart, columnEnd - columnStart, kernelH, kernelW, countIncludePad);
        let c = 0;
        for (; c + 4 <= channels; c += 4) {
          let sum = f32x4.splat(0);
          for (let ih = rowStart; ih < rowEnd; ih++) {
            for (let iw = columnStart; iw < columnEnd; iw++) {
              sum = f32x4.add(sum, v128.load(sample + (<usize>((ih * width + iw) * channels + c) << 2)));
            }
          }
          v128.store(out + ((o + <usize>c) << 2), f32x4.div(sum, f32x4.splat(count)));
        }
        for (; c < channels; c++) {
          let sum: f32 = 0;
          for (let ih = rowStart; ih < rowEnd; ih++) {
            for (let iw = columnStart; iw < columnEnd; iw++) sum += load<f32>(sample + (<usize>((ih * width + iw) * channels + c) << 2));
          }
          store<f32>(out + ((o + <usize>c) << 2), sum / count);
        }
        o += <usize>channels;
      }
    }
  }
}

/**
 * The gradient of avg_pool_forward: for each output element in order, dout/count (its window's divisor)
 * is added to every in-bounds element of its window, row-major, in dx[batch × height × width × channels].
 * With accumulate = 0, dx is set to 0 first ("="); else added to ("+=").
 */
export function avg_pool_backward(
  dx: usize, dout: usize, batch: i32, height: i32, width: i32, channels: i32, outHeight: i32, outWidth: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, countIncludePad: i32, accumulate: i32,
): void {
  const sampleBytes = <usize>(height * width * channels) << 2;
  if (accumulate == 0) memory.fill(dx, 0, <usize>batch * sampleBytes);
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const sample = dx + <usize>b * sampleBytes;
    for (let oh = 0; oh < outHeight; oh++) {
      const rowStart = windowStart(oh, strideH, padH);
      const rowEnd = windowEnd(oh, strideH, padH, kernelH, height);
      for (let ow = 0; ow < outWidth; ow++) {
        const columnStart = windowStart(ow, strideW, padW);
        const columnEnd = windowEnd(ow, strideW, padW, kernelW, width);
        const count = windowCount(rowEnd - rowStart, columnEnd - columnStart, kernelH, kernelW, countIncludePad);
        let c = 0;
        for (; c + 4 <= channels; c += 4) {
          const share = f32x4.div(v128.load(dout + ((o + <usize>c) << 2)), f32x4.splat(count));
          for (let ih = rowStart; ih < rowEnd; ih++) {
            for (let iw = columnStart; iw < columnEnd; iw++) {
              const target = sample + (<usize>((ih * width + iw) * channels + c) << 2);
              v128.store(target, f32x4.add(v128.load(target), share));
            }
          }
        }
        for (; c < channels; c++) {
          const share = load<f32>(dout + ((o + <usize>c) << 2)) / count;
          for (let ih = rowStart; ih < rowEnd; ih++) {
            for (let iw = columnStart; iw < columnEnd; iw++) {
              const target = sample + (<usize>((ih * width + iw) * channels + c) << 2);
              store<f32>(target, load<f32>(target) + share);
            }
          }
        }
        o += <usize>channels;
      }
    }
  }
}

/**
 * PyTorch's adaptive_avg_pool2d(x, 1) flattened: out[b][c] = Σ_p x[b][p][c] / positions over
 * x[batch × positions × channels] (positions = height·width, or the length of a 1-D sample), summed in
 * position order in float32, then divided. out is [batch × channels].  "="
 */
export function global_avg_pool_forward(out: usize, x: usize, batch: i32, positions: i32, channels: i32): void {
  const rowBytes = <usize>channels << 2;
  const count = f32x4.splat(<f32>positions);
  for (let b = 0; b < batch; b++) {
    const sample = x + <usize>b * <usize>positions * rowBytes;
    const outRow = out + <usize>b * rowBytes;
    let c = 0;
    // Sixteen channels a step in four accumulators: four chains of adds instead of one, each lane's
    // sum still in position order.
    for (; c + 16 <= channels; c += 16) {
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      for (let p = 0; p < positions; p++) {
        const at = sample + <usize>p * rowBytes + (<usize>c << 2);
        s0 = f32x4.add(s0, v128.load(at));
        s1 = f32x4.add(s1, v128.load(at, 16));
        s2 = f32x4.add(s2, v128.load(at, 32));
        s3 = f32x4.add(s3, v128.load(at, 48));
      }
      const at = outRow + (<usize>c << 2);
      v128.store(at, f32x4.div(s0, count));
      v128.store(at, f32x4.div(s1, count), 16);
      v128.store(at, f32x4.div(s2, count), 32);
      v128.store(at, f32x4.div(s3, count), 48);
    }
    for (; c + 4 <= channels; c += 4) {
      let sum = f32x4.splat(0);
      for (let p = 0; p < positions; p++) sum = f32x4.add(sum, v128.load(sample + <usize>p * rowBytes + (<usize>c << 2)));
      v128.store(outRow + (<usize>c << 2), f32x4.div(sum, count));
    }
    for (; c < channels; c++) {
      let sum: f32 = 0;
      for (let p = 0; p < positions; p++) sum += load<f32>(sample + <usize>p * rowBytes + (<usize>c << 2));
      store<f32>(outRow + (<usize>c << 2), sum / <f32>positions);
    }
  }
}

/**
 * The gradient of global_avg_pool_forward: dx[b][p][c] = dout[b][c] / positions for every position p,
 * over dx[batch × positions × channels]; "+=" when accumulate ≠ 0, else "=".
 */
export function global_avg_pool_backward(dx: usize, dout: usize, batch: i32, positions: i32, channels: i32, accumulate: i32): void {
  const rowBytes = <usize>channels << 2;
  const count = f32x4.splat(<f32>positions);
  for (let b = 0; b < batch; b++) {
    const sample = dx + <usize>b * <usize>positions * rowBytes;
    const doutRow = dout + <usize>b * rowBytes;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const share = f32x4.div(v128.load(doutRow + (<usize>c << 2)), count);
      for (let p = 0; p < positions; p++) {
        const target = sample + <usize>p * rowBytes + (<usize>c << 2);
        v128.store(target, accumulate != 0 ? f32x4.add(v128.load(target), share) : share);
      }
    }
    for (; c < channels; c++) {
      const share = load<f32>(doutRow + (<usize>c << 2)) / <f32>positions;
      for (let p = 0; p < positions; p++) {
        const target = sample + <usize>p * rowBytes + (<usize>c << 2);
        store<f32>(target, accumulate != 0 ? load<f32>(target) + share : share);
      }
    }
  }
}
