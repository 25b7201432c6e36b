// The kernel contract, generated from the kernels themselves (scripts/kernels.ts reads
// assembly/kernels/*.ts): every function both backends implement, with the same signature. Pointers
// are byte offsets into the backend's one memory (0 means "none"); sizes are element counts.
export { KERNEL_NAMES, OPCODES, type Kernels, type KernelName } from './generated/kernels.js';


/**
 * Scratch bytes a GEMM with inner dimension K needs: a packed [K × 8] panel of the right operand, two
 * 8-float rows, and the left operand packed up to 128 rows at a time (assembly/kernels/gemm.ts,
 * ROW_BLOCK). `rows` bounds the output rows M of every call where the caller knows it (gemm_tn
 * callers pass M), which shrinks the last part; 0 means any M.
 */
export function gemmScratchBytes(K: number, rows = 0): number {
  const packedRows = rows > 0 ? Math.min(128, Math.ceil(rows / 4) * 4) : 128;
  return (8 * K + 16 + packedRows * K) * 4;
}

/**
 * Scratch bytes conv2d_forward (K = kernelH·kernelW·inChannels), conv2d_grouped_forward (K =
 * kernelH·kernelW·inChannels/groups) or conv2d_input_grad (K = kernelH·kernelW·outChannels/groups) needs: gemmScratchBytes(K)'s panel, rows and packed block, then a
 * 12-byte tap and a 4-byte group entry per k, to a multiple of 4 (assembly/kernels/conv.ts).
 */
export function convScratchBytes(K: number): number {
  return gemmScratchBytes(K) + Math.ceil(K / 4) * 4 * 13;
}

/**
 * Scratch bytes conv2d_weight_grad needs: a GEMM's over its inner dimension's chunks of 256 positions,
 * the taps of a block of 128 rows, and the 256 positions' images and origins.
 */
export const CONV_WEIGHT_SCRATCH_BYTES = gemmScratchBytes(256) + 128 * 13 + 256 * 16;

/**
 * Scratch bytes attention_forward and attention_backward need for a head of headDim columns over `keys`
 * keys: the head's keys and values packed transposed (in panels of 16 keys), headDim × (keys rounded up
 * to 4) floats each, and two rows of keys rounded up to 4 floats, for the scores and their gradient
 * (assembly/kernels/attention.ts).
 */
export function attentionScratchBytes(headDim: number, keys: number): number {
  return (2 * headDim + 2) * Math.ceil(keys / 4) * 4 * 4;
}
