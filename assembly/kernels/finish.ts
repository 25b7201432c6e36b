// What a finished sum becomes in the output, shared by the GEMM kernels and the bias gradient: the
// sum itself, the sum started from a bias row, or the output plus the sum. "+=" adds the finished
// sum, so accumulating the same product twice doubles it exactly.
export const WRITE: i32 = 0;
export const WRITE_WITH_BIAS: i32 = 1;
export const ACCUMULATE: i32 = 2;

/** output (mode) sum, four lanes. */
@inline export function finishVector(mode: i32, output: usize, sum: v128): void {
  v128.store(output, mode == ACCUMULATE ? f32x4.add(v128.load(output), sum) : sum);
}

/** output (mode) sum's first two lanes. */
@inline export function finishPair(mode: i32, output: usize, sum: v128): void {
  v128.store64_lane(output, mode == ACCUMULATE ? f32x4.add(v128.load64_zero(output), sum) : sum, 0);
}

/** output (mode) sum, one float. */
@inline export function finishScalar(mode: i32, output: usize, sum: f32): void {
  store<f32>(output, mode == ACCUMULATE ? load<f32>(output) + sum : sum);
}
