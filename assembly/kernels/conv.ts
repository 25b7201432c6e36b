// 2-D convolution over channels-last images ([batch, height, width, channels] float32, row-major),
// with the weight stored [kernelH, kernelW, inChannels, outChannels] — a row-major [K × N] matrix,
// K = kernelH·kernelW·inChannels, N = outChannels — so that the three products are GEMMs on gemm.ts's
// micro-kernel, with the im2col done by the packing step (no im2col matrix is ever made):
// - forward: z[positions × N] = im2col(x)·w (+ bias): through a padded band (below) where it fits the
//   scratch, else each row block of output positions packed as gemm.ts packs A, reading every window
//   element straight from the image (and always so for grouped convolutions);
// - input gradient: dx[input positions × C] = gather(dz)·w′, each input position gathering the output
//   positions whose windows hold it (w′ = w with each [C × N] tap transposed, packed per panel); at
//   stride 1 with 'same'-like padding over C < 64 channels, as the forward of the transposed
//   convolution through a padded band; else over few input channels (C ≤ 8, C < N) by col2im: columns
//   dz·wᵀ for a chunk of positions, each added into the pixels its taps read;
// - weight gradient: dw[K × N] = im2col(x)ᵀ·dz, over the positions in chunks of CHUNK, so the packed
//   block stays in L2 however large the batch.
// The band paths read the window elements in place from a zero-padded copy of a band of image rows
// instead of packing them; the weight gradient takes one over C < 8 channels (LeNet's 1 and 6, RGB's 3).
// Every output element is one chain of sums in a fixed order (in chunks for the weight gradient), so a
// split of the batch or of the weight's rows between threads gives bit-identical results.
//
// Grouped convolutions (PyTorch's groups: group g maps input channels g·C/groups … to output channels
// g·N/groups …) store the weight [groups][kernelH, kernelW, C/groups, N/groups]: each group's weight is
// the [K × N/groups] matrix of an ungrouped convolution over C/groups channels, so a group is the same
// three products, run with the image pointer moved to the group's first channel (the taps count
// channels from there; a pixel stays sourceC apart) and the outputs written N/groups wide at the
// full row stride. groups = 1 is the ungrouped convolution itself, through the same loops.
//
// The window elements of one k = (kh·kernelW + kw)·C + c sit at a fixed offset (kh·dilation − pad,
// kw·dilation − pad, c) from a position's origin: a table of those offsets (TAP_BYTES per k, in scratch)
// and, per group of 4 consecutive k, whether the 4 are contiguous in memory (then one vector load
// fetches them) lets the packers run without a division per element.

import { activate } from './dense';
import { finishRow, gemm_nt, madd, packRows, packTransposed, PANEL, PANEL_BYTES, ROW_BLOCK, storeTransposed, tile1, tile4 } from './gemm';
import { addRow, copyRow, fill } from './elementwise';
import { ACCUMULATE, WRITE, WRITE_WITH_BIAS } from './finish';
import { LINEAR } from '../generated/activations';

/** Positions per chunk of the weight gradient's inner dimension. */
const CHUNK: i32 = 256;
/**
 * A position's image (byte offset), origin (y, x), and the index of the pixel the last group read, for
 * the weight gradient's packing.
 */
const ORIGIN_BYTES: usize = 16;
/** Per k: offset y, offset x, channel (i32 each); per group of 4 k: 1 when contiguous. */
const TAP_BYTES: usize = 12;
const SAME_PIXEL: i32 = 1;
const NEXT_PIXELS: i32 = 2;
/** SAME_PIXEL, and the next 4 channels of the previous group's pixel: its index is that one's + 4. */
const CONTINUES: i32 = 3;
/** An offset no position reaches: a lane past the last k reads as 0. */
const NOWHERE: i32 = -(1 << 30);

// The geometry of the call being run: the image the packers read (height, width, channels), the
// output grid, and the divisor of the input gradient's gather (the stride; 1 elsewhere).
let sourceH: i32 = 0;
let sourceW: i32 = 0;
let sourceC: i32 = 0;
let gridW: i32 = 0;
let gridPositions: i32 = 0;
let stepY: i32 = 1;
let stepX: i32 = 1;

/** Output positions along an axis (PyTorch's formula). */
@inline export function outputSize(size: i32, kernel: i32, stride: i32, pad: i32, dilation: i32): i32 {
  return (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// taps[i] = (offset y, offset x, channel) of k = first + i, for i < count, in a kernel of kernelW ×
// channels taps per row at offsets kh·dilationY + baseY, kw·dilationX + baseX; past count, to a
// multiple of 4, taps NOWHERE (read as 0). groups[g], after them: how the 4 taps of group g lie in
// memory: SAME_PIXEL (4 consecutive channels of one pixel), CONTINUES (the same, right after the
// previous group's 4), NEXT_PIXELS (4 consecutive floats of one image row across pixels, where the
// pixels are adjacent: a dilation of 1, and a tap's channels are the pixel's: one group), or 0 (read
// lane by lane). sourceC must be set first.
function writeTaps(
  taps: usize, first: i32, count: i32, kernelW: i32, channels: i32, dilationY: i32, dilationX: i32, baseY: i32, baseX: i32,
): void {
  const padded = (count + 3) & ~3;
  for (let i = 0; i < padded; i++) {
    const k = first + i;
    const t = taps + <usize>i * TAP_BYTES;
    const tap = k / channels;
    store<i32>(t, i < count ? (tap / kernelW) * dilationY + baseY : NOWHERE);
    store<i32>(t, i < count ? (tap % kernelW) * dilationX + baseX : NOWHERE, 4);
    store<i32>(t, i < count ? k % channels : 0, 8);
  }
  const groups = taps + <usize>padded * TAP_BYTES;
  for (let g = 0; 4 * g < count; g++) {
    const t = taps + <usize>(4 * g) * TAP_BYTES;
    let samePixel = 4 * g + 4 <= count;
    let nextPixels = samePixel && channels == sourceC;
    for (let i = 1; i < 4; i++) {
      const u = t + <usize>i * TAP_BYTES;
      const sameRow = load<i32>(u) == load<i32>(t);
      samePixel = samePixel && sameRow && load<i32>(u, 4) == load<i32>(t, 4) && load<i32>(u, 8) == load<i32>(t, 8) + i;
      // Consecutive floats of one image row: the next channel, or the next pixel's first after the last.
      nextPixels = nextPixels && sameRow && load<i32>(u, 4) * channels + load<i32>(u, 8) == load<i32>(t, 4) * channels + load<i32>(t, 8) + i;
    }
    const p = t - 4 * TAP_BYTES;
    const continues = samePixel && g > 0 && load<i32>(groups + (<usize>(g - 1) << 2)) >= SAME_PIXEL && load<i32>(groups + (<usize>(g - 1) << 2)) != NEXT_PIXELS &&
      load<i32>(p) == load<i32>(t) && load<i32>(p, 4) == load<i32>(t, 4) && load<i32>(p, 8) + 4 == load<i32>(t, 8);
    store<i32>(groups + (<usize>g << 2), continues ? CONTINUES : samePixel ? SAME_PIXEL : nextPixels ? NEXT_PIXELS : 0);
  }
}

// Float index in its image of source pixel (y + offset y, x + offset x), channel c — divided by the
// steps for the input gradient's gather — or −1 where it falls outside (padding, or between strides).
@inline function sourceIndex(y: i32, x: i32, t: usize, divide: bool): i32 {
  let sy = y + load<i32>(t);
  let sx = x + load<i32>(t, 4);
  if (divide) {
    if (sy < 0 || sx < 0 || sy % stepY != 0 || sx % stepX != 0) return -1;
    sy /= stepY;
    sx /= stepX;
  }
  if (<u32>sy >= <u32>sourceH || <u32>sx >= <u32>sourceW) return -1;
  return (sy * sourceW + sx) * sourceC + load<i32>(t, 8);
}

// The 4 elements of tap group g at the position whose image starts at `image` and whose origin is
// (y, x): one vector load when the group is contiguous and wholly inside the image, else lane by lane.
@inline function gather4(image: usize, y: i32, x: i32, taps: usize, groups: usize, g: i32, divide: bool): v128 {
  const t = taps + <usize>(4 * g) * TAP_BYTES;
  const layout = load<i32>(groups + (<usize>g << 2));
  if (layout == SAME_PIXEL || layout == CONTINUES) {
    const first = sourceIndex(y, x, t, divide);
    return first >= 0 ? v128.load(image + (<usize>first << 2)) : f32x4.splat(0);
  }
  if (layout == NEXT_PIXELS) {
    const first = sourceIndex(y, x, t, divide);
    if (first >= 0 && sourceIndex(y, x, t + 3 * TAP_BYTES, divide) == first + 3) return v128.load(image + (<usize>first << 2));
  }
  const lanes = f32x4.splat(element(image, y, x, t, divide));
  const two = f32x4.replace_lane(lanes, 1, element(image, y, x, t + TAP_BYTES, divide));
  const three = f32x4.replace_lane(two, 2, element(image, y, x, t + 2 * TAP_BYTES, divide));
  return f32x4.replace_lane(three, 3, element(image, y, x, t + 3 * TAP_BYTES, divide));
}

// The 4 floats from float index `at` of an image, or zeros for −1.
@inline function pixelVector(image: usize, at: i32): v128 {
  return at >= 0 ? v128.load(image + (<usize>at << 2)) : f32x4.splat(0);
}

// The element of tap t at the position whose image starts at `image` with origin (y, x), or 0 outside.
@inline function element(image: usize, y: i32, x: i32, t: usize, divide: bool): f32 {
  const at = sourceIndex(y, x, t, divide);
  return at >= 0 ? load<f32>(image + (<usize>at << 2)) : 0;
}

// A position's image and origin: position p of the output grid (forward and weight gradient) or of
// the input (input gradient), as `image` (byte offset), `originY` and `originX`.
let image: usize = 0;
let originY: i32 = 0;
let originX: i32 = 0;

@inline function locate(source: usize, p: i32, strideY: i32, strideX: i32): void {
  const n = p / gridPositions;
  const q = p - n * gridPositions;
  const gy = q / gridW;
  image = source + <usize>n * <usize>(sourceH * sourceW * sourceC) * 4;
  originY = gy * strideY;
  originX = (q - gy * gridW) * strideX;
}

// block[g][k][r] = A's element (position first + 4g + r, k) for K taps: as gemm.ts's packRowBlock, with
// the rows gathered through the taps. A last group of fewer than 4 rows gets zeros in its unused lanes.
function packWindows(block: usize, source: usize, first: i32, rows: i32, K: i32, taps: usize, strideY: i32, strideX: i32, divide: bool): void {
  const groupBytes = <usize>K << 4;
  const fullGroups = K >> 2;
  const groups = taps + <usize>((K + 3) & ~3) * TAP_BYTES;
  for (let r = 0; r < rows; r += 4) {
    // Images and origins of the group's 4 rows (a row past the block reads nothing: zeros).
    locate(source, first + r, strideY, strideX);
    const m0 = image, y0 = originY, x0 = originX;
    let m1: usize = 0, y1 = NOWHERE, x1 = NOWHERE, m2: usize = 0, y2 = NOWHERE, x2 = NOWHERE, m3: usize = 0, y3 = NOWHERE, x3 = NOWHERE;
    if (r + 1 < rows) { locate(source, first + r + 1, strideY, strideX); m1 = image; y1 = originY; x1 = originX; }
    if (r + 2 < rows) { locate(source, first + r + 2, strideY, strideX); m2 = image; y2 = originY; x2 = originX; }
    if (r + 3 < rows) { locate(source, first + r + 3, strideY, strideX); m3 = image; y3 = originY; x3 = originX; }
    let target = block + <usize>(r >> 2) * groupBytes;
    // Each row's index of its group's first element, carried from group to group along a pixel's channels.
    let a0 = -1, a1 = -1, a2 = -1, a3 = -1;
    for (let g = 0; g < fullGroups; g++) {
      const layout = load<i32>(groups + (<usize>g << 2));
      if (layout == CONTINUES || layout == SAME_PIXEL) {
        if (layout == CONTINUES) {
          a0 = a0 >= 0 ? a0 + 4 : -1; a1 = a1 >= 0 ? a1 + 4 : -1; a2 = a2 >= 0 ? a2 + 4 : -1; a3 = a3 >= 0 ? a3 + 4 : -1;
        } else {
          const t = taps + <usize>(4 * g) * TAP_BYTES;
          a0 = sourceIndex(y0, x0, t, divide); a1 = sourceIndex(y1, x1, t, divide);
          a2 = sourceIndex(y2, x2, t, divide); a3 = sourceIndex(y3, x3, t, divide);
        }
        storeTransposed(target, 16, pixelVector(m0, a0), pixelVector(m1, a1), pixelVector(m2, a2), pixelVector(m3, a3));
      } else {
        storeTransposed(target, 16, gather4(m0, y0, x0, taps, groups, g, divide), gather4(m1, y1, x1, taps, groups, g, divide),
          gather4(m2, y2, x2, taps, groups, g, divide), gather4(m3, y3, x3, taps, groups, g, divide));
      }
      target += 64;
    }
    for (let k = fullGroups << 2; k < K; k++) {
      const t = taps + <usize>k * TAP_BYTES;
      const first = f32x4.splat(element(m0, y0, x0, t, divide));
      const second = f32x4.replace_lane(first, 1, element(m1, y1, x1, t, divide));
      const third = f32x4.replace_lane(second, 2, element(m2, y2, x2, t, divide));
      const line = f32x4.replace_lane(third, 3, element(m3, y3, x3, t, divide));
      v128.store(target, line);
      target += 16;
    }
  }
}

// out[rows × N] (mode) block·B over K, out's rows rowBytes apart, where `block` holds the rows packed
// (packWindows) and `transposedTaps` says how B's panels are packed: false row-major [K × N] at b,
// true the input gradient's w′ (taps of [tapRows × N] transposed, `tapCount` of them, each `tapK` long).
@inline function windowGemm(
  out: usize, rowBytes: usize, block: usize, b: usize, bias: usize, rows: i32, K: i32, N: i32, mode: i32, scratch: usize,
  transposedTaps: bool, tapCount: i32, tapK: i32, tapRows: i32,
): void {
  const panel = scratch;
  const biasPanel = scratch + <usize>K * PANEL_BYTES;
  const tile = biasPanel + PANEL_BYTES;
  const groupBytes = <usize>K << 4;
  for (let j = 0; j < N; j += PANEL) {
    const width = min(PANEL, N - j);
    if (transposedTaps) {
      for (let t = 0; t < tapCount; t++) {
        packTransposed(panel + <usize>(t * tapK) * PANEL_BYTES, b + <usize>(t * tapRows * tapK) * 4, tapK, j, width);
      }
    } else {
      packRows(panel, b, K, N, j, width);
    }
    let start0 = f32x4.splat(0);
    let start1 = f32x4.splat(0);
    if (mode == WRITE_WITH_BIAS) {
      packRows(biasPanel, bias, 1, N, j, width);
      start0 = v128.load(biasPanel);
      start1 = v128.load(biasPanel, 16);
    }
    const outColumn = out + (<usize>j << 2);
    let i = 0;
    for (; i + 4 <= rows; i += 4) {
      tile4(mode, outColumn + <usize>i * rowBytes, rowBytes, block + <usize>(i >> 2) * groupBytes, groupBytes, panel, PANEL_BYTES,
        false, 0, start0, start1, width, tile);
    }
    for (; i < rows; i++) {
      tile1(mode, outColumn + <usize>i * rowBytes, block + <usize>(i >> 2) * groupBytes + (<usize>(i & 3) << 2), groupBytes, panel,
        PANEL_BYTES, start0, start1, width, tile);
    }
  }
}

// Scratch layout of the forward and input gradient (convScratchBytes in src/backend/kernels.ts): the
// [K × 8] panel, two 8-float rows, the packed block (ROW_BLOCK × K), then the taps (K of them and
// their groups).
@inline function blockAt(scratch: usize, K: i32): usize {
  return scratch + <usize>K * PANEL_BYTES + 2 * PANEL_BYTES;
}
@inline function tapsAt(scratch: usize, K: i32): usize {
  return blockAt(scratch, K) + <usize>ROW_BLOCK * <usize>K * 4;
}

// The forward pass of a convolution in `groups` groups (a constant 1 at conv2d_forward's call), 128
// output positions at a time: each group's window rows packed and multiplied into its columns of z,
// then the block's activation while it is in cache.
@inline function convolve(
  z: usize, a: usize, x: usize, w: usize, bias: usize, batch: i32, height: i32, width: i32, inChannels: i32, outChannels: i32,
  groups: i32, kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32,
  activation: i32, slope: f32, scratch: usize,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const groupIn = inChannels / groups;
  const groupOut = outChannels / groups;
  const K = kernelH * kernelW * groupIn;
  const M = batch * outH * outW;
  sourceH = height; sourceW = width; sourceC = inChannels;
  gridW = outW; gridPositions = outH * outW;
  const block = blockAt(scratch, K);
  const taps = tapsAt(scratch, K);
  writeTaps(taps, 0, K, kernelW, groupIn, dilationH, dilationW, -padH, -padW);
  const rowBytes = <usize>outChannels << 2;
  const groupWeightBytes = <usize>K * <usize>groupOut * 4;
  for (let first = 0; first < M; first += ROW_BLOCK) {
    const rows = min(ROW_BLOCK, M - first);
    const zb = z + <usize>first * rowBytes;
    for (let g = 0; g < groups; g++) {
      const column = <usize>(g * groupOut) << 2;
      packWindows(block, x + (<usize>(g * groupIn) << 2), first, rows, K, taps, strideH, strideW, false);
      const weights = w + <usize>g * groupWeightBytes;
      if (bias != 0) windowGemm(zb + column, rowBytes, block, weights, bias + column, rows, K, groupOut, WRITE_WITH_BIAS, scratch, false, 0, 0, 0);
      else windowGemm(zb + column, rowBytes, block, weights, 0, rows, K, groupOut, WRITE, scratch, false, 0, 0, 0);
    }
    activate(activation, a + <usize>first * rowBytes, zb, rows, outChannels, slope);
  }
}

// ---- Windows read in place from a padded band ----
// Over C < 8 channels a window's taps run across pixels, so the packers' 4-channel loads straddle them
// and go lane by lane, and the products are narrow (LeNet's first: K = 25, N = 6): packing costs more
// than the product; over more, packing a block's windows still costs about a tenth of its product (3×3
// 32 → 32 on 32×32: 44 GFLOP/s packed, 49 in place). Instead, per band of output rows of one image, the image rows the band reads are
// copied with their padding as zeros (paddedW pixels of C floats a row, then a tail of zeros), and the
// micro-kernel reads the window elements from the copy in place: tap k = (kh·kernelW + kw)·C + c of
// the position whose window starts at byte p is at p + tapOffset(k), and the next position along the
// row starts strideW·C floats on.

/** Channels below which a convolution's weight gradient takes the padded band (from 4 of them in place, see inPlaceWeightGrad). */
const FEW_CHANNELS: i32 = 8;
/**
 * Input channels below which a stride-1 input gradient with 'same'-like padding runs as the transposed
 * convolution's band forward: 3×3 32 → 32 on 32×32 45 → 48 GFLOP/s, 64 → 64 on 16×16 50 → 48 (the gather wins).
 */
const TRANSPOSED_CHANNELS: i32 = 64;
/** Output positions of a band, about: its dz panel (32 bytes each) stays in L1. */
const BAND_POSITIONS: i32 = 512;

// Image rows a band of `rows` output rows reads.
@inline function bandLines(rows: i32, kernelH: i32, strideH: i32, dilationH: i32): i32 {
  return (rows - 1) * strideH + (kernelH - 1) * dilationH + 1;
}

// Pixels of a padded band's row: the first output position's window through the last one's.
@inline function paddedPixels(outW: i32, kernelW: i32, strideW: i32, dilationW: i32): i32 {
  return (outW - 1) * strideW + (kernelW - 1) * dilationW + 1;
}

// padded[lines × paddedW × C] (then tailBytes of zeros) = image rows y0 … y0 + lines − 1, each as padW
// pixels of zeros, the row (as much as fits), then zeros; rows outside the image all zeros.
@inline function padBand(
  padded: usize, image: usize, height: i32, width: i32, C: i32, y0: i32, lines: i32, padW: i32, paddedW: i32, tailBytes: usize,
): void {
  const paddedRowBytes = <usize>(paddedW * C) << 2;
  memory.fill(padded, 0, <usize>lines * paddedRowBytes + tailBytes);
  const floats = min(width, paddedW - padW) * C;
  for (let line = 0; line < lines; line++) {
    const y = y0 + line;
    if (<u32>y < <u32>height && floats > 0) copyRow(padded + <usize>line * paddedRowBytes + (<usize>(padW * C) << 2), image + <usize>(y * width * C) * 4, floats);
  }
}

// Byte offset of tap t's window element from its position's window start in the padded band.
@inline function tapOffset(t: i32, kernelW: i32, C: i32, dilationH: i32, dilationW: i32, paddedRowBytes: usize): usize {
  const pixel = t / C;
  const kh = pixel / kernelW;
  return <usize>(kh * dilationH) * paddedRowBytes + (<usize>((pixel - kh * kernelW) * dilationW * C + t - pixel * C) << 2);
}

// z for 4 positions of one output row (`count` ≤ 4 of them kept, rowBytes apart), columns j … j + width
// − 1: bias (8 floats at biasPanel) plus Σ over the K taps of each position's window element (the
// first position's at xp + offsets[k], the others step, 2·step, 3·step bytes on) times the tap's 8
// weights (panel[k]). gemm.ts's 4 × 8 tile, with A read from the band in place.
@inline function bandTile(
  mode: i32, z: usize, rowBytes: usize, count: i32, width: i32, xp: usize, step: usize, offsets: usize, panel: usize, K: i32, biasPanel: usize,
  tile: usize,
): void {
  let c00 = v128.load(biasPanel), c01 = v128.load(biasPanel, 16);
  let c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
  const step2 = step << 1;
  const step3 = step2 + step;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(panel + <usize>k * PANEL_BYTES);
    const b1 = v128.load(panel + <usize>k * PANEL_BYTES, 16);
    const at = xp + <usize>load<u32>(offsets + (<usize>k << 2));
    let t = v128.load32_splat(at);
    c00 = madd(c00, t, b0);
    c01 = madd(c01, t, b1);
    t = v128.load32_splat(at + step);
    c10 = madd(c10, t, b0);
    c11 = madd(c11, t, b1);
    t = v128.load32_splat(at + step2);
    c20 = madd(c20, t, b0);
    c21 = madd(c21, t, b1);
    t = v128.load32_splat(at + step3);
    c30 = madd(c30, t, b0);
    c31 = madd(c31, t, b1);
  }
  finishRow(mode, z, c00, c01, width, tile);
  if (count > 1) finishRow(mode, z + rowBytes, c10, c11, width, tile);
  if (count > 2) finishRow(mode, z + 2 * rowBytes, c20, c21, width, tile);
  if (count > 3) finishRow(mode, z + 3 * rowBytes, c30, c31, width, tile);
}

// panel[k][t] (k < K = kernelH·kernelW·C) = the weight of tap k and output channel j + t (t < width, 0
// beyond) of the transposed convolution the input gradient is at stride 1: the forward's w[kh, kw, t,
// k mod C] for the flipped tap kh = kernelH − 1 − kh′, kw = kernelW − 1 − kw′, where C (the transposed
// convolution's input channels) are the forward's outputs and N its inputs.
@inline function packFlipped(panel: usize, w: usize, kernelH: i32, kernelW: i32, C: i32, N: i32, j: i32, width: i32): void {
  let target = panel;
  for (let kh = kernelH - 1; kh >= 0; kh--) {
    for (let kw = kernelW - 1; kw >= 0; kw--) {
      const tap = w + <usize>((kh * kernelW + kw) * N + j) * <usize>C * 4;
      for (let c = 0; c < C; c++) {
        v128.store(target, f32x4.splat(0));
        v128.store(target, f32x4.splat(0), 16);
        for (let t = 0; t < width; t++) store<f32>(target + (<usize>t << 2), load<f32>(tap + (<usize>(t * C + c) << 2)));
        target += PANEL_BYTES;
      }
    }
  }
}

// Scratch bytes of the forward's band path before its band: the tile, a bias panel, one weight panel
// (K × 8) and the K tap offsets.
@inline function bandForwardFixedBytes(K: i32): usize {
  return PANEL_BYTES * 2 + <usize>K * PANEL_BYTES + (<usize>((K + 3) & ~3) << 2);
}

// Zero bytes after a forward band: the last group of 4 positions of a row may run 3 positions past it.
@inline function bandForwardTailBytes(C: i32, strideW: i32): usize {
  return <usize>(4 * strideW * C) << 2;
}

// The forward pass of an ungrouped convolution through padded bands (see above): 4
// positions × 8 output channels at a time from the weights packed 8 columns a tap, then the band's
// activation while it is in cache. `rows` output rows a band (bandForwardRows). z (mode: WRITE or
// ACCUMULATE) the sums; `flipped`: w is the weight of the convolution whose input gradient this is
// (packFlipped).
function bandForward(
  z: usize, a: usize, x: usize, w: usize, bias: usize, batch: i32, height: i32, width: i32, C: i32, N: i32, kernelH: i32, kernelW: i32,
  strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32, paddedW: i32, rows: i32,
  activation: i32, slope: f32, mode: i32, flipped: bool, scratch: usize,
): void {
  const K = kernelH * kernelW * C;
  const rowBytes = <usize>N << 2;
  const paddedRowBytes = <usize>(paddedW * C) << 2;
  const step = <usize>(strideW * C) << 2;
  const tile = scratch;
  const biasPanel = tile + PANEL_BYTES;
  const panel = biasPanel + PANEL_BYTES;
  const offsets = panel + <usize>K * PANEL_BYTES;
  const padded = scratch + bandForwardFixedBytes(K);
  const tailBytes = bandForwardTailBytes(C, strideW);
  for (let k = 0; k < K; k++) store<u32>(offsets + (<usize>k << 2), <u32>tapOffset(k, kernelW, C, dilationH, dilationW, paddedRowBytes));
  // One panel of outputs is packed once for the call; more, once per band and panel.
  const onePanel = N <= PANEL;
  if (onePanel) packBandWeights(panel, biasPanel, w, bias, kernelH, kernelW, C, N, 0, flipped);
  for (let n = 0; n < batch; n++) {
    const image = x + <usize>n * <usize>(height * width * C) * 4;
    for (let top = 0; top < outH; top += rows) {
      const bandRows = min(rows, outH - top);
      padBand(padded, image, height, width, C, top * strideH - padH, bandLines(bandRows, kernelH, strideH, dilationH), padW, paddedW, tailBytes);
      const zBand = z + <usize>(n * outH + top) * <usize>outW * rowBytes;
      for (let j = 0; j < N; j += PANEL) {
        const columns = min(PANEL, N - j);
        if (!onePanel) packBandWeights(panel, biasPanel, w, bias, kernelH, kernelW, C, N, j, flipped);
        for (let r = 0; r < bandRows; r++) {
          const xRow = padded + <usize>(r * strideH) * paddedRowBytes;
          const zRow = zBand + <usize>(r * outW) * rowBytes + (<usize>j << 2);
          for (let ow = 0; ow < outW; ow += 4) {
            const count = min(4, outW - ow);
            const zp = zRow + <usize>ow * rowBytes;
            const xp = xRow + <usize>ow * step;
            if (mode == ACCUMULATE) bandTile(ACCUMULATE, zp, rowBytes, count, columns, xp, step, offsets, panel, K, biasPanel, tile);
            else bandTile(WRITE, zp, rowBytes, count, columns, xp, step, offsets, panel, K, biasPanel, tile);
          }
        }
      }
      activate(activation, a + (zBand - z), zBand, bandRows * outW, N, slope);
    }
  }
}

// The weights of output channels j … j + 7 (panel: K × 8, zeros past N) and their bias (biasPanel: 8,
// zeros without one) for bandForward.
@inline function packBandWeights(
  panel: usize, biasPanel: usize, w: usize, bias: usize, kernelH: i32, kernelW: i32, C: i32, N: i32, j: i32, flipped: bool,
): void {
  const columns = min(PANEL, N - j);
  if (flipped) packFlipped(panel, w, kernelH, kernelW, C, N, j, columns);
  else packRows(panel, w, kernelH * kernelW * C, N, j, columns);
  v128.store(biasPanel, f32x4.splat(0));
  v128.store(biasPanel, f32x4.splat(0), 16);
  if (bias != 0) copyRow(biasPanel, bias + (<usize>j << 2), columns);
}

// Output rows per band of the forward's band path (0: not one fits in `room` bytes of scratch), about
// BAND_POSITIONS positions.
@inline function bandForwardRows(
  outH: i32, outW: i32, paddedW: i32, C: i32, kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, dilationH: i32, room: usize,
): i32 {
  const fixed = bandForwardFixedBytes(kernelH * kernelW * C) + bandForwardTailBytes(C, strideW);
  let rows = min(outH, max(1, BAND_POSITIONS / outW));
  while (rows > 0 && fixed + (<usize>(bandLines(rows, kernelH, strideH, dilationH) * paddedW * C) << 2) > room) rows--;
  return rows;
}

/**
 * A convolution's forward pass over channels-last images: z[batch, outH, outW, outChannels] = the
 * convolution of x[batch, height, width, inChannels] with w[kernelH, kernelW, inChannels, outChannels]
 * (+ bias[outChannels] when bias ≠ 0), zero padding padH/padW on each side, outH = ⌊(height + 2·padH −
 * dilationH·(kernelH − 1) − 1)/strideH⌋ + 1 (likewise outW); then a = f(z) for the activation at place
 * `activation` of ACTIVATIONS (0 linear: a is not written; a may be z), `slope` leakyRelu's. Scratch:
 * convScratchBytes(kernelH·kernelW·inChannels).  "="
 */
export function conv2d_forward(
  z: usize, a: usize, x: usize, w: usize, bias: usize, batch: i32, height: i32, width: i32, inChannels: i32, outChannels: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32,
  activation: i32, slope: f32, scratch: usize,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const paddedW = paddedPixels(outW, kernelW, strideW, dilationW);
  const rows = bandForwardRows(outH, outW, paddedW, inChannels, kernelH, kernelW, strideH, strideW, dilationH, gemmScratch(kernelH * kernelW * inChannels));
  if (rows > 0) {
    bandForward(z, a, x, w, bias, batch, height, width, inChannels, outChannels, kernelH, kernelW, strideH, strideW, padH, padW,
      dilationH, dilationW, outH, outW, paddedW, rows, activation, slope, WRITE, false, scratch);
    return;
  }
  convolve(z, a, x, w, bias, batch, height, width, inChannels, outChannels, 1, kernelH, kernelW, strideH, strideW, padH, padW,
    dilationH, dilationW, activation, slope, scratch);
}

/**
 * conv2d_forward in `groups` groups, without the activation: z[batch, outH, outW, outChannels], group
 * g's output channels g·outChannels/groups … the convolution of its input channels g·inChannels/groups
 * … with w[groups][kernelH, kernelW, inChannels/groups, outChannels/groups] (+ bias). A kernel apart
 * from conv2d_forward because a group count there would make 22 arguments (a tape record holds 21);
 * the caller runs the activation's kernel after it. Scratch: convScratchBytes(kernelH·kernelW·
 * inChannels/groups).  "="
 */
export function conv2d_grouped_forward(
  z: usize, x: usize, w: usize, bias: usize, batch: i32, height: i32, width: i32, inChannels: i32, outChannels: i32, groups: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, scratch: usize,
): void {
  convolve(z, z, x, w, bias, batch, height, width, inChannels, outChannels, groups, kernelH, kernelW, strideH, strideW, padH, padW,
    dilationH, dilationW, LINEAR, 0, scratch);
}

/** Input channels up to which an ungrouped convolution's input gradient goes through col2im. */
const COL2IM_CHANNELS: i32 = 8;

// The input gradient of a convolution over few input channels (LeNet's second: 6 → 16), where the
// gather would spend its lanes on the windows' padding and on C < 8 outputs: for a chunk of output
// positions, their columns cols[positions × kernelH·kernelW·C] = dz·wᵀ in one GEMM (w is [K × N]
// row-major, so its rows are the columns' weights), then each column's C values added into the input
// pixel its tap reads (col2im), positions in order and taps in order: one order of sums for every
// split of the batch. The chunk is as many positions as the scratch holds (convScratchBytes(kH·kW·N)).
function col2imInputGrad(
  dx: usize, dz: usize, w: usize, batch: i32, height: i32, width: i32, C: i32, N: i32, kernelH: i32, kernelW: i32,
  strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32, accumulate: i32, scratch: usize,
): void {
  const Kc = kernelH * kernelW * C;
  const cols = scratch + gemmScratch(N);
  const chunk = col2imChunk(kernelH * kernelW, C, N);
  if (accumulate == 0) fill(dx, batch * height * width * C, 0);
  const positions = batch * outH * outW;
  const grid = outH * outW;
  const imageFloats = height * width * C;
  const pixelBytes = <usize>C << 2;
  for (let p0 = 0; p0 < positions; p0 += chunk) {
    const length = min(chunk, positions - p0);
    gemm_nt(cols, dz + <usize>p0 * <usize>N * 4, w, length, N, Kc, 0, scratch);
    for (let p = 0; p < length; p++) {
      const position = p0 + p;
      const n = position / grid;
      const q = position - n * grid;
      const oy = q / outW;
      const y0 = oy * strideH - padH;
      const x0 = (q - oy * outW) * strideW - padW;
      const image = dx + <usize>n * <usize>imageFloats * 4;
      let column = cols + <usize>p * <usize>Kc * 4;
      for (let ky = 0; ky < kernelH; ky++) {
        const y = y0 + ky * dilationH;
        if (<u32>y >= <u32>height) {
          column += <usize>(kernelW * C) << 2;
          continue;
        }
        const row = image + <usize>(y * width) * pixelBytes;
        if (dilationW == 1 && x0 >= 0 && x0 + kernelW <= width) {
          // The kernel row's pixels are adjacent, as are their columns: one run of kernelW·C floats.
          addRow(row + <usize>x0 * pixelBytes, column, kernelW * C);
          column += <usize>kernelW * pixelBytes;
          continue;
        }
        for (let kx = 0; kx < kernelW; kx++) {
          const x = x0 + kx * dilationW;
          if (<u32>x < <u32>width) addRow(row + <usize>x * pixelBytes, column, C);
          column += pixelBytes;
        }
      }
    }
  }
}

// gemmScratchBytes(K) of src/backend/kernels.ts: the GEMM part of the scratch convScratchBytes(K) gives,
// and what col2imInputGrad's GEMM (K = N) takes.
@inline function gemmScratch(N: i32): usize {
  return <usize>(8 * N + 16 + ROW_BLOCK * N) << 2;
}

// Output positions per chunk of col2imInputGrad: as many rows of columns as the scratch the contract gives
// (gemmScratchBytes(taps·N)) holds beyond the GEMM's own, 4 at a time, at most 256; under 4 (a 1×1
// kernel leaves none) the gather runs instead.
@inline function col2imChunk(taps: i32, C: i32, N: i32): i32 {
  const room = <i32>(((<usize>(136 * taps * N + 16) << 2) - gemmScratch(N)) / <usize>(taps * C * 4));
  return min(256, room & ~3);
}

/**
 * The input gradient of conv2d_forward or conv2d_grouped_forward: dx[batch, height, width, inChannels]
 * (accumulate ≠ 0: +=) from dz[batch, outH, outW, outChannels] and w (groups = 1: [kernelH, kernelW,
 * inChannels, outChannels]; else [groups][kernelH, kernelW, inChannels/groups, outChannels/groups]),
 * each input element the sum over the windows that hold it. The geometry is the forward's. Scratch:
 * convScratchBytes(kernelH·kernelW·outChannels/groups).  "=" or "+="
 */
export function conv2d_input_grad(
  dx: usize, dz: usize, w: usize, batch: i32, height: i32, width: i32, inChannels: i32, outChannels: i32, groups: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32,
  accumulate: i32, scratch: usize,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const groupIn = inChannels / groups;
  const groupOut = outChannels / groups;
  // At stride 1 over fewer than 64 input channels, the input gradient is the forward of the transposed
  // convolution: dz padded by (kernel − 1)·dilation − pad, correlated with the flipped weights (its
  // outputs are the C channels), through the padded band. It multiplies every input position's whole
  // window, padding included: with 'same' padding that is the forward's work, but without padding
  // (LeNet's second: 14² inputs, 10² outputs) twice it, and col2im does less.
  const padH2 = (kernelH - 1) * dilationH - padH;
  const padW2 = (kernelW - 1) * dilationW - padW;
  if (groups == 1 && inChannels < TRANSPOSED_CHANNELS && strideH == 1 && strideW == 1 && padH2 >= 0 && padW2 >= 0 &&
    4 * height * width <= 5 * outH * outW) {
    const paddedW = paddedPixels(width, kernelW, 1, dilationW);
    const rows = bandForwardRows(height, width, paddedW, outChannels, kernelH, kernelW, 1, 1, dilationH, gemmScratch(kernelH * kernelW * outChannels));
    if (rows > 0) {
      bandForward(dx, dx, dz, w, 0, batch, outH, outW, outChannels, inChannels, kernelH, kernelW, 1, 1, padH2, padW2, dilationH, dilationW,
        height, width, paddedW, rows, LINEAR, 0, accumulate != 0 ? ACCUMULATE : WRITE, true, scratch);
      return;
    }
  }
  if (groups == 1 && inChannels <= COL2IM_CHANNELS && inChannels < outChannels && col2imChunk(kernelH * kernelW, inChannels, outChannels) >= 4) {
    col2imInputGrad(dx, dz, w, batch, height, width, inChannels, outChannels, kernelH, kernelW, strideH, strideW, padH, padW,
      dilationH, dilationW, outH, outW, accumulate, scratch);
    return;
  }
  // Rows are input positions; the inner dimension runs over (kh, kw, the group's output channel).
  const K = kernelH * kernelW * groupOut;
  const M = batch * height * width;
  sourceH = outH; sourceW = outW; sourceC = outChannels;
  gridW = width; gridPositions = height * width;
  stepY = strideH; stepX = strideW;
  const block = blockAt(scratch, K);
  const taps = tapsAt(scratch, K);
  // Input pixel (y, x) is read by output pixel ((y + padH − kh·dilationH)/strideH, …) where that divides.
  writeTaps(taps, 0, K, kernelW, groupOut, -dilationH, -dilationW, padH, padW);
  const divide = strideH != 1 || strideW != 1;
  const rowBytes = <usize>inChannels << 2;
  const tapCount = kernelH * kernelW;
  const groupWeightBytes = <usize>K * <usize>groupIn * 4;
  for (let first = 0; first < M; first += ROW_BLOCK) {
    const rows = min(ROW_BLOCK, M - first);
    const out = dx + <usize>first * rowBytes;
    for (let g = 0; g < groups; g++) {
      const grad = dz + (<usize>(g * groupOut) << 2);
      if (divide) packWindows(block, grad, first, rows, K, taps, 1, 1, true);
      else packWindows(block, grad, first, rows, K, taps, 1, 1, false);
      const column = out + (<usize>(g * groupIn) << 2);
      const weights = w + <usize>g * groupWeightBytes;
      if (accumulate != 0) windowGemm(column, rowBytes, block, weights, 0, rows, K, groupIn, ACCUMULATE, scratch, true, tapCount, groupOut, groupIn);
      else windowGemm(column, rowBytes, block, weights, 0, rows, K, groupIn, WRITE, scratch, true, tapCount, groupOut, groupIn);
    }
  }
  stepY = 1; stepX = 1;
}

/** Output positions of the weight gradient's in-place path summed at a time: their images and dz stay in L1. */
const IN_PLACE_POSITIONS: i32 = 128;

// The first and one past the last output position (along one axis, of `count`) whose window tap at
// `offset` from its origin (output position · stride) falls inside an input of `size`.
@inline function firstInside(offset: i32, stride: i32): i32 {
  return offset >= 0 ? 0 : (stride - 1 - offset) / stride;
}
@inline function endInside(offset: i32, stride: i32, size: i32, count: i32): i32 {
  return size - 1 - offset < 0 ? 0 : min(count, (size - 1 - offset) / stride + 1);
}

// Four rows × 8 columns of the weight gradient, added to o: Σ over `lines` runs of `steps` positions
// of the 4 channels at a (aStep bytes from position to position, aLine from run to run) times the 8
// gradients at b (bStep, bLine) — the micro-kernel reading the image and dz where they are.
@inline function inPlaceTile(
  o: usize, rowBytes: usize, a: usize, aStep: usize, aLine: usize, b: usize, bStep: usize, bLine: usize, steps: i32, lines: i32, tile: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let line = 0; line < lines; line++) {
    let ap = a + <usize>line * aLine;
    let bp = b + <usize>line * bLine;
    for (let step = 0; step < steps; step++) {
      const b0 = v128.load(bp);
      const b1 = v128.load(bp, 16);
      let t = v128.load32_splat(ap);
      c00 = madd(c00, t, b0);
      c01 = madd(c01, t, b1);
      t = v128.load32_splat(ap, 4);
      c10 = madd(c10, t, b0);
      c11 = madd(c11, t, b1);
      t = v128.load32_splat(ap, 8);
      c20 = madd(c20, t, b0);
      c21 = madd(c21, t, b1);
      t = v128.load32_splat(ap, 12);
      c30 = madd(c30, t, b0);
      c31 = madd(c31, t, b1);
      ap += aStep;
      bp += bStep;
    }
  }
  finishRow(ACCUMULATE, o, c00, c01, PANEL, tile);
  finishRow(ACCUMULATE, o + rowBytes, c10, c11, PANEL, tile);
  finishRow(ACCUMULATE, o + 2 * rowBytes, c20, c21, PANEL, tile);
  finishRow(ACCUMULATE, o + 3 * rowBytes, c30, c31, PANEL, tile);
}

// The weight gradient of `rows` rows (whole groups of 4 channels of one pixel each) and N columns (a
// multiple of 8) at dwRows, with no packing: for each tap, the output positions whose window holds it
// are a rectangle, and the micro-kernel runs over it reading 4 channels of the image and 8 of dz in
// place, IN_PLACE_POSITIONS output positions (whole rows) of one image at a time. Each element of dw
// is the same chain of sums whatever rows a thread takes.
function inPlaceWeightGrad(
  dwRows: usize, image0: usize, grad0: usize, batch: i32, height: i32, width: i32, inChannels: i32, outChannels: i32,
  outH: i32, outW: i32, strideH: i32, strideW: i32, N: i32, rows: i32, taps: usize, accumulate: i32, tile: usize,
): void {
  const rowBytes = <usize>N << 2;
  if (accumulate == 0) memory.fill(dwRows, 0, <usize>rows * rowBytes);
  const pixelBytes = <usize>inChannels << 2;
  const gradBytes = <usize>outChannels << 2;
  const aStep = <usize>strideW * pixelBytes;
  const aLine = <usize>(strideH * width) * pixelBytes;
  const bLine = <usize>outW * gradBytes;
  const band = max(1, IN_PLACE_POSITIONS / outW);
  for (let n = 0; n < batch; n++) {
    const image = image0 + <usize>n * <usize>(height * width) * pixelBytes;
    const grads = grad0 + <usize>n * <usize>(outH * outW) * gradBytes;
    for (let top = 0; top < outH; top += band) {
      const bottom = min(outH, top + band);
      for (let q = 0; 4 * q < rows; q++) {
        const t = taps + <usize>(4 * q) * TAP_BYTES;
        const offsetY = load<i32>(t);
        const offsetX = load<i32>(t, 4);
        const y0 = max(top, firstInside(offsetY, strideH));
        const y1 = min(bottom, endInside(offsetY, strideH, height, outH));
        const x0 = firstInside(offsetX, strideW);
        const x1 = endInside(offsetX, strideW, width, outW);
        if (y0 >= y1 || x0 >= x1) continue;
        const a = image + <usize>((y0 * strideH + offsetY) * width + x0 * strideW + offsetX) * pixelBytes + (<usize>load<i32>(t, 8) << 2);
        const b = grads + <usize>(y0 * outW + x0) * gradBytes;
        const o = dwRows + <usize>(4 * q) * rowBytes;
        for (let j = 0; j < N; j += PANEL) {
          inPlaceTile(o + (<usize>j << 2), rowBytes, a, aStep, aLine, b + (<usize>j << 2), gradBytes, bLine, x1 - x0, y1 - y0, tile);
        }
      }
    }
  }
}

/** Scratch bytes the weight gradient's band path may use (of convWeightScratchBytes' ~145 KB), after its tile. */
const BAND_WEIGHT_ROOM: usize = 96 * 1024;

// How many of a position's gradients 4 … 7 of a panel the band weight gradient loads: all four, two (a
// panel of 6: no read past the position's row), or none (a panel of 4).
const HIGH_FOUR: i32 = 0;
const HIGH_TWO: i32 = 1;
const HIGH_NONE: i32 = 2;

// dw rows (taps) tap … tap + count − 1 (count ≤ 4), columns j … j + width − 1, plus: over `rows` output
// rows of `outW` positions, each position's 4 window elements (at byte offsets 0, o1, o2, o3 from its
// window start in the padded band; xStep bytes from output row to output row, step from position to
// position) times its 8 gradients (dzStep bytes from position to position; `high` says how many of the
// last 4 are there). 8 accumulators, as gemm.ts's tile: 5 taps a pass made 10, which spilled. A group
// of fewer than 4 taps repeats its last (computed, not kept). Each element of dw gets one chain of sums
// in position order, whichever taps share its pass.
@inline function fourTapsTile(
  dwRow: usize, rowBytes: usize, count: i32, width: i32, xp0: usize, o1: usize, o2: usize, o3: usize, xStep: usize, step: usize,
  dz0: usize, dzStep: usize, rows: i32, outW: i32, high: i32, tile: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let bp = dz0;
  for (let r = 0; r < rows; r++) {
    let xp = xp0 + <usize>r * xStep;
    for (let ow = 0; ow < outW; ow++) {
      const b0 = v128.load(bp);
      const b1 = high == HIGH_FOUR ? v128.load(bp, 16) : high == HIGH_TWO ? v128.load64_zero(bp + 16) : f32x4.splat(0);
      let t = v128.load32_splat(xp);
      c00 = madd(c00, t, b0);
      c01 = madd(c01, t, b1);
      t = v128.load32_splat(xp + o1);
      c10 = madd(c10, t, b0);
      c11 = madd(c11, t, b1);
      t = v128.load32_splat(xp + o2);
      c20 = madd(c20, t, b0);
      c21 = madd(c21, t, b1);
      t = v128.load32_splat(xp + o3);
      c30 = madd(c30, t, b0);
      c31 = madd(c31, t, b1);
      xp += step;
      bp += dzStep;
    }
  }
  finishRow(ACCUMULATE, dwRow, c00, c01, width, tile);
  if (count > 1) finishRow(ACCUMULATE, dwRow + rowBytes, c10, c11, width, tile);
  if (count > 2) finishRow(ACCUMULATE, dwRow + 2 * rowBytes, c20, c21, width, tile);
  if (count > 3) finishRow(ACCUMULATE, dwRow + 3 * rowBytes, c30, c31, width, tile);
}

// Output rows per band of the band weight gradient (0: none fit in BAND_WEIGHT_ROOM): the band's padded
// image rows and its dz packed 8 columns a position.
@inline function bandWeightRows(outH: i32, outW: i32, paddedW: i32, C: i32, kernelH: i32, strideH: i32, dilationH: i32): i32 {
  let rows = min(outH, max(1, BAND_POSITIONS / outW));
  while (rows > 0 && (<usize>(bandLines(rows, kernelH, strideH, dilationH) * paddedW * C + rows * outW * PANEL) << 2) > BAND_WEIGHT_ROOM) rows--;
  return rows;
}

// The weight gradient of an ungrouped convolution over few channels through padded bands (see the
// forward's), for taps (= dw's rows) first … end − 1: per band, the taps, 4 at a time, summed against 8
// columns of dz in registers, dz read in place (or packed to 8 columns where fewer remain than 8, 6 or
// 4). A GEMM of 25 rows and 6 columns (LeNet's first) is too narrow to pack well. dw: accumulate ≠ 0
// adds, else the rows are written.
function bandWeightGrad(
  dw: usize, x: usize, dz: usize, batch: i32, height: i32, width: i32, C: i32, N: i32, kernelH: i32, kernelW: i32,
  strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32, paddedW: i32, rows: i32,
  first: i32, end: i32, accumulate: i32, scratch: usize,
): void {
  const rowBytes = <usize>N << 2;
  if (accumulate == 0) memory.fill(dw + <usize>first * rowBytes, 0, <usize>(end - first) * rowBytes);
  const tile = scratch;
  const panel = scratch + PANEL_BYTES;
  const padded = panel + <usize>rows * <usize>outW * PANEL_BYTES;
  const paddedRowBytes = <usize>(paddedW * C) << 2;
  const xStep = <usize>strideH * paddedRowBytes;
  const step = <usize>(strideW * C) << 2;
  for (let n = 0; n < batch; n++) {
    const image = x + <usize>n * <usize>(height * width * C) * 4;
    for (let top = 0; top < outH; top += rows) {
      const bandRows = min(rows, outH - top);
      padBand(padded, image, height, width, C, top * strideH - padH, bandLines(bandRows, kernelH, strideH, dilationH), padW, paddedW, 0);
      const grads = dz + <usize>(n * outH + top) * <usize>outW * rowBytes;
      const positions = bandRows * outW;
      for (let j = 0; j < N; j += PANEL) {
        const columns = min(PANEL, N - j);
        // dz in place where the panel's columns are whole vectors (8, 4 + 2 or 4), else packed to 8.
        const inPlace = columns == PANEL || columns == 6 || columns == 4;
        if (!inPlace) packRows(panel, grads, positions, N, j, columns);
        const b = inPlace ? grads + (<usize>j << 2) : panel;
        const dzStep = inPlace ? rowBytes : PANEL_BYTES;
        const high = columns == 6 ? HIGH_TWO : columns == 4 ? HIGH_NONE : HIGH_FOUR;
        for (let t = first; t < end; t += 4) {
          const count = min(4, end - t);
          const o0 = tapOffset(t, kernelW, C, dilationH, dilationW, paddedRowBytes);
          const o1 = tapOffset(t + min(1, count - 1), kernelW, C, dilationH, dilationW, paddedRowBytes) - o0;
          const o2 = tapOffset(t + min(2, count - 1), kernelW, C, dilationH, dilationW, paddedRowBytes) - o0;
          const o3 = tapOffset(t + min(3, count - 1), kernelW, C, dilationH, dilationW, paddedRowBytes) - o0;
          const o = dw + <usize>t * rowBytes + (<usize>j << 2);
          const xp = padded + o0;
          if (high == HIGH_TWO) fourTapsTile(o, rowBytes, count, columns, xp, o1, o2, o3, xStep, step, b, dzStep, bandRows, outW, HIGH_TWO, tile);
          else if (high == HIGH_NONE) fourTapsTile(o, rowBytes, count, columns, xp, o1, o2, o3, xStep, step, b, dzStep, bandRows, outW, HIGH_NONE, tile);
          else fourTapsTile(o, rowBytes, count, columns, xp, o1, o2, o3, xStep, step, b, dzStep, bandRows, outW, HIGH_FOUR, tile);
        }
      }
    }
  }
}

/**
 * The weight gradient of conv2d_forward or conv2d_grouped_forward for rows first … first + count − 1
 * of dw[groups·kernelH·kernelW·inChannels/groups × outChannels/groups] (groups = 1: the [kernelH·
 * kernelW·inChannels × outChannels] matrix; threads split the rows; first a multiple of 4): Σ over
 * every output position of the window element times dz, summed CHUNK positions at a time.
 * accumulate ≠ 0 adds to dw; else dw is written. Scratch: convWeightScratchBytes().  "+=" or "="
 */
export function conv2d_weight_grad(
  dw: usize, x: usize, dz: usize, batch: i32, height: i32, width: i32, inChannels: i32, outChannels: i32, groups: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32,
  first: i32, count: i32, accumulate: i32, scratch: usize,
): void {
  const outH = outputSize(height, kernelH, strideH, padH, dilationH);
  const outW = outputSize(width, kernelW, strideW, padW, dilationW);
  const groupIn = inChannels / groups;
  const N = outChannels / groups;
  const groupRows = kernelH * kernelW * groupIn;
  const positions = batch * outH * outW;
  sourceH = height; sourceW = width; sourceC = inChannels;
  gridW = outW; gridPositions = outH * outW;
  const panel = scratch;
  const tile = scratch + <usize>CHUNK * PANEL_BYTES + PANEL_BYTES;
  const block = tile + PANEL_BYTES;
  const taps = block + <usize>ROW_BLOCK * <usize>CHUNK * 4;
  const origins = taps + <usize>ROW_BLOCK * 13;
  const rowBytes = <usize>N << 2;
  const gradRowBytes = <usize>outChannels << 2;
  const end = first + count;
  if (inChannels < FEW_CHANNELS && groups == 1) {
    const paddedW = paddedPixels(outW, kernelW, strideW, dilationW);
    const bandRows = bandWeightRows(outH, outW, paddedW, inChannels, kernelH, strideH, dilationH);
    if (bandRows > 0) {
      bandWeightGrad(dw, x, dz, batch, height, width, inChannels, N, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW,
        outH, outW, paddedW, bandRows, first, end, accumulate, scratch);
      return;
    }
  }
  // The groups whose rows meet first … end − 1, each over its own rows: images from its first channel,
  // dz from its first output channel.
  for (let g = first / groupRows; g * groupRows < end; g++) {
    const image0 = x + (<usize>(g * groupIn) << 2);
    const grad0 = dz + (<usize>(g * N) << 2);
    const dw0 = dw + <usize>(g * groupRows) * rowBytes;
    const groupEnd = min(end, (g + 1) * groupRows) - g * groupRows;
    for (let row = max(first - g * groupRows, 0); row < groupEnd; row += ROW_BLOCK) {
      const rows = min(ROW_BLOCK, groupEnd - row);
      writeTaps(taps, row, rows, kernelW, groupIn, dilationH, dilationW, -padH, -padW);
      const tapGroups = taps + <usize>((rows + 3) & ~3) * TAP_BYTES;
      if ((groupIn & 3) == 0 && (row & 3) == 0 && (rows & 3) == 0 && (N & 7) == 0) {
        inPlaceWeightGrad(dw0 + <usize>row * rowBytes, image0, grad0, batch, height, width, inChannels, outChannels, outH, outW,
          strideH, strideW, N, rows, taps, accumulate, tile);
        continue;
      }
      for (let p0 = 0; p0 < positions; p0 += CHUNK) {
        const length = min(CHUNK, positions - p0);
        const groupBytes = <usize>length << 4;
        // block[q][p][r] = the window element of row (tap) row + 4q + r at position p0 + p, written tap
        // group by tap group: position by position, the stores would be groupBytes (4 KiB) apart, all in
        // one of L1's sets.
        for (let p = 0; p < length; p++) {
          locate(image0, p0 + p, strideH, strideW);
          const at = origins + <usize>p * ORIGIN_BYTES;
          store<u32>(at, <u32>image);
          store<i32>(at, originY, 4);
          store<i32>(at, originX, 8);
        }
        for (let q = 0; 4 * q < rows; q++) {
          let target = block + <usize>q * groupBytes;
          const layout = load<i32>(tapGroups + (<usize>q << 2));
          const t = taps + <usize>(4 * q) * TAP_BYTES;
          for (let p = 0; p < length; p++) {
            const at = origins + <usize>p * ORIGIN_BYTES;
            const pixels = <usize>load<u32>(at);
            if (layout == CONTINUES) {
              // The next 4 channels of the pixel the previous group read (its index kept in the origin's last slot).
              const index = load<i32>(at, 12);
              const next = index >= 0 ? index + 4 : -1;
              store<i32>(at, next, 12);
              v128.store(target, pixelVector(pixels, next));
            } else if (layout == SAME_PIXEL) {
              const index = sourceIndex(load<i32>(at, 4), load<i32>(at, 8), t, false);
              store<i32>(at, index, 12);
              v128.store(target, pixelVector(pixels, index));
            } else {
              v128.store(target, gather4(pixels, load<i32>(at, 4), load<i32>(at, 8), taps, tapGroups, q, false));
            }
            target += 16;
          }
        }
        const mode = accumulate != 0 || p0 > 0 ? ACCUMULATE : WRITE;
        const out = dw0 + <usize>row * rowBytes;
        for (let j = 0; j < N; j += PANEL) {
          const width8 = min(PANEL, N - j);
          packRows(panel, grad0 + <usize>p0 * gradRowBytes, length, outChannels, j, width8);
          const outColumn = out + (<usize>j << 2);
          let i = 0;
          const zero = f32x4.splat(0);
          for (; i + 4 <= rows; i += 4) {
            const ap = block + <usize>(i >> 2) * groupBytes;
            if (mode == ACCUMULATE) tile4(ACCUMULATE, outColumn + <usize>i * rowBytes, rowBytes, ap, groupBytes, panel, PANEL_BYTES, false, 0, zero, zero, width8, tile);
            else tile4(WRITE, outColumn + <usize>i * rowBytes, rowBytes, ap, groupBytes, panel, PANEL_BYTES, false, 0, zero, zero, width8, tile);
          }
          for (; i < rows; i++) {
            const ap = block + <usize>(i >> 2) * groupBytes + (<usize>(i & 3) << 2);
            if (mode == ACCUMULATE) tile1(ACCUMULATE, outColumn + <usize>i * rowBytes, ap, groupBytes, panel, PANEL_BYTES, zero, zero, width8, tile);
            else tile1(WRITE, outColumn + <usize>i * rowBytes, ap, groupBytes, panel, PANEL_BYTES, zero, zero, width8, tile);
          }
        }
      }
    }
  }
}
