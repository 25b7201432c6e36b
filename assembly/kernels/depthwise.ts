// Depthwise 2-D convolution (groups = inChannels = outChannels) over channels-last images [batch,
// height, width, channels] float32, with the weight stored [kernelH, kernelW, channels]: each channel
// is convolved with its own kernel, so channels are independent and contiguous — SIMD runs over
// them, 16 channels (4 vectors, 4 chains in flight) per step, then 4, then the last 1–3 in one
// vector loaded and stored lane by lane, so that every channel's sum is the same chain of madd in
// any of the three (what makes a split of the channels between threads bit-identical).
//
// Every output element is a window dot product over taps that lie inside the image: each kernel
// computes, per position, the range of taps in bounds (and, for the input gradient, those that land
// on a stride) once, so the loops over taps and channels carry no bounds checks, at the border or
// inside. Sums run in one fixed order (taps by row then column; positions by sample, row, column).
// Threads: the forward and the input gradient split by batch (offset the image pointers and pass
// the sub-batch); the weight gradient by channels (firstChannel, channelCount), since a split by
// batch would add partial sums in an order that depends on the split.

import { activate } from './dense';
import { ACCUMULATE, finishVector, WRITE } from './finish';
import { outputSize } from './conv';
import { madd } from './gemm';

// `lanes` (a constant at each call) of the 4 floats at p; lanes past them read 0.
@inline function loadLanes(p: usize, lanes: i32): v128 {
  if (lanes == 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

// output (mode) sum for `lanes` channels: whole vectors, or lane by lane for the last 1–3.
@inline function finishLanes(mode: i32, output: usize, sum: v128, lanes: i32): void {
  if (lanes == 4) {
    finishVector(mode, output, sum);
    return;
  }
  const add = mode == ACCUMULATE;
  store<f32>(output, add ? load<f32>(output) + f32x4.extract_lane(sum, 0) : f32x4.extract_lane(sum, 0));
  if (lanes > 1) store<f32>(output, add ? load<f32>(output, 4) + f32x4.extract_lane(sum, 1) : f32x4.extract_lane(sum, 1), 4);
  if (lanes > 2) store<f32>(output, add ? load<f32>(output, 8) + f32x4.extract_lane(sum, 2) : f32x4.extract_lane(sum, 2), 8);
}

// One window dot product over channels c … c + 4·vectors − 1 (`vectors` 4 or 1, `lanes` 4 or the
// last 1–3: constants at each call): out (mode) start + Σ a·b, a and b walked by signed byte steps
// over outer × rows × cols terms. `start` is a pointer to the first channel's start value, or 0 for
// zeros.
@inline function windowDot(
  out: usize, mode: i32, start: usize, a: usize, b: usize,
  outer: i32, outerA: i32, outerB: i32, rows: i32, rowA: i32, rowB: i32, cols: i32, colA: i32, colB: i32,
  vectors: i32, lanes: i32,
): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  if (start != 0) {
    s0 = loadLanes(start, lanes);
    if (vectors == 4) {
      s1 = v128.load(start, 16);
      s2 = v128.load(start, 32);
      s3 = v128.load(start, 48);
    }
  }
  for (let o = 0; o < outer; o++) {
    let rowOfA = a + <usize>(o * outerA);
    let rowOfB = b + <usize>(o * outerB);
    for (let r = 0; r < rows; r++) {
      let pa = rowOfA;
      let pb = rowOfB;
      for (let c = 0; c < cols; c++) {
        s0 = madd(s0, loadLanes(pa, lanes), loadLanes(pb, lanes));
        if (vectors == 4) {
          s1 = madd(s1, v128.load(pa, 16), v128.load(pb, 16));
          s2 = madd(s2, v128.load(pa, 32), v128.load(pb, 32));
          s3 = madd(s3, v128.load(pa, 48), v128.load(pb, 48));
        }
        pa += <usize>colA;
        pb += <usize>colB;
      }
      rowOfA += <usize>rowA;
      rowOfB += <usize>rowB;
    }
  }
  finishLanes(mode, out, s0, lanes);
  if (vectors == 4) {
    finishVector(mode, out + 16, s1);
    finishVector(mode, out + 32, s2);
    finishVector(mode, out + 48, s3);
  }
}

// windowDot over channels first … first + count − 1 (byte offsets of the channel added to out,
// start, a and b), 16, then 4, then the rest at a time.
@inline function channelDots(
  out: usize, mode: i32, start: usize, a: usize, b: usize, first: i32, count: i32,
  outer: i32, outerA: i32, outerB: i32, rows: i32, rowA: i32, rowB: i32, cols: i32, colA: i32, colB: i32,
): void {
  const end = first + count;
  let c = first;
  for (; c + 16 <= end; c += 16) {
    const at = <usize>c << 2;
    windowDot(out + at, mode, start != 0 ? start + at : 0, a + at, b + at, outer, outerA, outerB, rows, rowA, rowB, cols, colA, colB, 4, 4);
  }
  for (; c + 4 <= end; c += 4) {
    const at = <usize>c << 2;
    windowDot(out + at, mode, start != 0 ? start + at : 0, a + at, b + at, outer, outerA, outerB, rows, rowA, rowB, cols, colA, colB, 1, 4);
  }
  const at = <usize>c << 2;
  const rest = end - c;
  const s = start != 0 ? start + at : 0;
  if (rest == 3) windowDot(out + at, mode, s, a + at, b + at, outer, outerA, outerB, rows, rowA, rowB, cols, colA, colB, 1, 3);
  else if (rest == 2) windowDot(out + at, mode, s, a + at, b + at, outer, outerA, outerB, rows, rowA, rowB, cols, colA, colB, 1, 2);
  else if (rest == 1) windowDot(out + at, mode, s, a + at, b + at, outer, outerA, outerB, rows, rowA, rowB, cols, colA, colB, 1, 1);
}

// The taps k of a kernel of `kernel` taps, `dilation` apart, starting at input coordinate `origin`,
// that fall inside [0, size): tapFirst … tapEnd − 1 (an empty range when none do).
let tapFirst: i32 = 0;
let tapEnd: i32 = 0;

@inline function tapsInside(origin: i32, size: i32, kernel: i32, dilation: i32): void {
  tapFirst = origin >= 0 ? 0 : (dilation - 1 - origin) / dilation;
  const last = size - 1 - origin;
  tapEnd = last < 0 ? 0 : min(kernel, last / dilation + 1);
  if (tapFirst > tapEnd) tapFirst = tapEnd;
}

// For the input gradient: the taps k whose output coordinate (coordinate + pad − k·dilation)/stride
// is a whole number in [0, outSize): gatherCount of them, gatherFirst, gatherFirst + gatherStep, …,
// reaching output coordinate gatherOutput, then gatherOutput − gatherOutputStep, … .
let gatherFirst: i32 = 0;
let gatherCount: i32 = 0;
let gatherStep: i32 = 1;
let gatherOutput: i32 = 0;
let gatherOutputStep: i32 = 0;

@inline function gatherTaps(coordinate: i32, pad: i32, kernel: i32, stride: i32, dilation: i32, outSize: i32, period: i32): void {
  const reach = coordinate + pad;
  // reach − k·dilation in [0, (outSize − 1)·stride].
  const below = reach - (outSize - 1) * stride;
  const low = below <= 0 ? 0 : (below + dilation - 1) / dilation;
  const end = min(kernel, reach / dilation + 1);
  let k = low;
  while (k < end && k < low + period && (reach - k * dilation) % stride != 0) k++;
  gatherFirst = k;
  gatherCount = k < end && k < low + period ? (end - k + period - 1) / period : 0;
  gatherStep = period;
  gatherOutput = (reach - k * dilation) / stride;
  gatherOutputStep = (period * dilation) / stride;
}

// Taps k and k + p land on outputs alike modulo the stride when p·dilation is a multiple of it.
@inline function tapPeriod(stride: i32, dilation: i32): i32 {
  let a = stride, b = dilation;
  while (b != 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return stride / a;
}

/**
 * A depthwise convolution's forward pass over channels-last images: z[batch, outH, outW, channels],
 * z[n, oy, ox, c] = Σ over kh, kw of x[n, oy·strideH − padH + kh·dilationH, ox·strideW − padW +
 * kw·dilationW, c]·w[kh, kw, c] (+ bias[c] when bias ≠ 0), zero padding, outH = ⌊(height + 2·padH −
 * dilationH·(kernelH − 1) − 1)/strideH⌋ + 1 (likewise outW); then a = f(z) for the activation at place
 * `activation` of ACTIVATIONS (0 linear: a is not written; a may be z), `slope` leakyRelu's, one output
 * row at a time while it is in cache. No scratch.  "="
 */
export function depthwise_conv2d_forward(
  z: usize, a: usize, x: usize, w: usize, bias: usize, batch: i32, height: i32, width: i32, channels: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32,
  activation: i32, slope: f32,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const pixelBytes = channels << 2;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      const top = oy * strideH - padH;
      tapsInside(top, height, kernelH, dilationH);
      const khFirst = tapFirst, rows = tapEnd - tapFirst;
      const zRow = z + <usize>((n * outH + oy) * outW) * <usize>pixelBytes;
      for (let ox = 0; ox < outW; ox++) {
        const left = ox * strideW - padW;
        tapsInside(left, width, kernelW, dilationW);
        const kwFirst = tapFirst, cols = tapEnd - tapFirst;
        // The first in-bounds tap of the window, in x and in w (unread when the window is empty).
        const pixel = x + <usize>(((n * height + top + khFirst * dilationH) * width + left + kwFirst * dilationW) * pixelBytes);
        const weights = w + <usize>((khFirst * kernelW + kwFirst) * pixelBytes);
        channelDots(zRow + <usize>(ox * pixelBytes), WRITE, bias, pixel, weights, 0, channels,
          1, 0, 0, rows, dilationH * width * pixelBytes, kernelW * pixelBytes, cols, dilationW * pixelBytes, pixelBytes);
      }
      const rowOffset = <usize>((n * outH + oy) * outW) * <usize>pixelBytes;
      activate(activation, a + rowOffset, z + rowOffset, outW, channels, slope);
    }
  }
}

/**
 * The input gradient of depthwise_conv2d_forward: dx[batch, height, width, channels] (accumulate ≠ 0:
 * +=) from dz[batch, outH, outW, channels] and w[kernelH, kernelW, channels], each element the sum
 * over the windows that hold it of dz·w, formed whole and then written or added. The geometry is the
 * forward's. No scratch.  "=" or "+="
 */
export function depthwise_conv2d_input_grad(
  dx: usize, dz: usize, w: usize, batch: i32, height: i32, width: i32, channels: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32,
  accumulate: i32,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const pixelBytes = channels << 2;
  const periodH = tapPeriod(strideH, dilationH);
  const periodW = tapPeriod(strideW, dilationW);
  const mode = accumulate != 0 ? ACCUMULATE : WRITE;
  for (let n = 0; n < batch; n++) {
    for (let iy = 0; iy < height; iy++) {
      gatherTaps(iy, padH, kernelH, strideH, dilationH, outH, periodH);
      const khFirst = gatherFirst, rows = gatherCount, oyFirst = gatherOutput, oyStep = gatherOutputStep;
      const dxRow = dx + <usize>((n * height + iy) * width) * <usize>pixelBytes;
      for (let ix = 0; ix < width; ix++) {
        gatherTaps(ix, padW, kernelW, strideW, dilationW, outW, periodW);
        const kwFirst = gatherFirst, cols = gatherCount, oxFirst = gatherOutput, oxStep = gatherOutputStep;
        // The output gradient and the weight of the first tap that reaches this input element; later
        // taps step back through dz and forward through w.
        const grad = dz + <usize>(((n * outH + oyFirst) * outW + oxFirst) * pixelBytes);
        const weights = w + <usize>((khFirst * kernelW + kwFirst) * pixelBytes);
        channelDots(dxRow + <usize>(ix * pixelBytes), mode, 0, grad, weights, 0, channels,
          1, 0, 0, rows, -oyStep * outW * pixelBytes, periodH * kernelW * pixelBytes, cols, -oxStep * pixelBytes, periodW * pixelBytes);
      }
    }
  }
}

/**
 * The weight gradient of depthwise_conv2d_forward for channels firstChannel … firstChannel +
 * channelCount − 1 (threads split the channels): dw[kh, kw, c] = Σ over every output position of
 * x's element under tap (kh, kw) times dz, and, when dbias ≠ 0, dbias[c] = Σ dz[…, c], in the same
 * call while the channels' dz is in cache. Positions run by sample, row, column; accumulate ≠ 0 adds
 * the finished sums to dw and dbias, else they are written. No scratch.  "+=" or "="
 */
export function depthwise_conv2d_weight_grad(
  dw: usize, dbias: usize, x: usize, dz: usize, batch: i32, height: i32, width: i32, channels: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32,
  firstChannel: i32, channelCount: i32, accumulate: i32,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const pixelBytes = channels << 2;
  const imageBytes = height * width * pixelBytes;
  const gradBytes = outH * outW * pixelBytes;
  const mode = accumulate != 0 ? ACCUMULATE : WRITE;
  for (let kh = 0; kh < kernelH; kh++) {
    // Output rows whose window row kh is inside the image: oy·strideH − padH + kh·dilationH in [0, height).
    const rowOrigin = kh * dilationH - padH;
    const oyFirst = rowOrigin >= 0 ? 0 : (strideH - 1 - rowOrigin) / strideH;
    const rowLast = height - 1 - rowOrigin;
    const oyEnd = rowLast < 0 ? oyFirst : max(oyFirst, min(outH, rowLast / strideH + 1));
    for (let kw = 0; kw < kernelW; kw++) {
      const colOrigin = kw * dilationW - padW;
      const oxFirst = colOrigin >= 0 ? 0 : (strideW - 1 - colOrigin) / strideW;
      const colLast = width - 1 - colOrigin;
      const oxEnd = colLast < 0 ? oxFirst : max(oxFirst, min(outW, colLast / strideW + 1));
      const pixel = x + <usize>(((oyFirst * strideH + rowOrigin) * width + oxFirst * strideW + colOrigin) * pixelBytes);
      const grad = dz + <usize>((oyFirst * outW + oxFirst) * pixelBytes);
      channelDots(dw + <usize>((kh * kernelW + kw) * pixelBytes), mode, 0, pixel, grad, firstChannel, channelCount, batch, imageBytes, gradBytes,
        oyEnd - oyFirst, strideH * width * pixelBytes, outW * pixelBytes, oxEnd - oxFirst, strideW * pixelBytes, pixelBytes);
    }
  }
  // The positions are one run of batch·outH·outW pixels: the bias gradient sums the rows of a [P × C] matrix.
  if (dbias != 0) biasSums(dbias, dz, batch * outH * outW, pixelBytes, firstChannel, channelCount, mode);
}

// dbias[c] (mode) Σ over `positions` pixels of dz[p, c], for channels first … first + count − 1, in
// the same vector chains (16, 4, then the rest) as the weights'.
function biasSums(dbias: usize, dz: usize, positions: i32, pixelBytes: i32, first: i32, count: i32, mode: i32): void {
  const end = first + count;
  let c = first;
  for (; c + 16 <= end; c += 16) biasSum(dbias, dz, positions, pixelBytes, c, mode, 4, 4);
  for (; c + 4 <= end; c += 4) biasSum(dbias, dz, positions, pixelBytes, c, mode, 1, 4);
  const rest = end - c;
  if (rest == 3) biasSum(dbias, dz, positions, pixelBytes, c, mode, 1, 3);
  else if (rest == 2) biasSum(dbias, dz, positions, pixelBytes, c, mode, 1, 2);
  else if (rest == 1) biasSum(dbias, dz, positions, pixelBytes, c, mode, 1, 1);
}

// dbias (mode) the sums of dz over the positions for the 4·vectors channels at c (`lanes` of the last vector).
@inline function biasSum(dbias: usize, dz: usize, positions: i32, pixelBytes: i32, c: i32, mode: i32, vectors: i32, lanes: i32): void {
  const at = <usize>c << 2;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let p = dz + at;
  for (let i = 0; i < positions; i++) {
    s0 = f32x4.add(s0, loadLanes(p, lanes));
    if (vectors == 4) {
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
    }
    p += <usize>pixelBytes;
  }
  finishLanes(mode, dbias + at, s0, lanes);
  if (vectors == 4) {
    finishVector(mode, dbias + at + 16, s1);
    finishVector(mode, dbias + at + 32, s2);
    finishVector(mode, dbias + at + 48, s3);
  }
}
