// simdprop's kernels: the module's exports, one file per op under kernels/ (the list is generated from
// them by scripts/kernels.ts). Memory is imported.
export * from './generated/exports';
export { run_tape } from './kernels/tape';
// 1 in the relaxed-SIMD build (fused multiply-add in the GEMMs), 0 in the baseline SIMD build.
export const relaxed_simd: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
