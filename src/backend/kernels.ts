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
