// A tape of kernel calls run in one crossing from JavaScript into the module. A training step of a
// tiny network is a dozen calls of a few hundred nanoseconds each, and each JS → wasm crossing costs
// about as much as the work: recording the calls as they are made and running them here in one go
// takes the crossings out. The calls are the same kernels with the same arguments in the same order,
// so the results are bit-identical to calling them one by one.
//
// A record is 16 slots of 8 bytes: the opcode (the kernel's place in KERNEL_NAMES of
// src/backend/wasm/names.ts, from 1), its arguments in the kernel's order, then at STOP_AT a flag
// and at RESULT_AT the value a kernel returns (an f64). Integers and pointers (and the opcode and
// the flag) are int32 in the low 4 bytes of their slot, as the JS → wasm call's ToInt32 makes them:
// a plain load, where an f64 to convert took a checked truncation each. Floats are f64, and f32
// arguments are rounded from them to nearest, as the JS → wasm call rounds them.

import { gemm_nn, gemm_nt, gemm_tn } from './gemm';
import { relu_forward, relu_backward } from './relu';
import { leaky_relu_forward, leaky_relu_backward } from './leaky_relu';
import { sigmoid_forward, sigmoid_backward } from './sigmoid';
import { tanh_forward, tanh_backward } from './tanh';
import { gelu_forward, gelu_backward } from './gelu';
import { softmax_forward, softmax_backward } from './softmax';
import { softmax_cross_entropy_labels, softmax_cross_entropy_targets } from './softmax_cross_entropy';
import { bce, bce_with_logits } from './bce';
import { mse } from './mse';
import { huber } from './huber';
import { bias_grad, sum_squares, count_nonfinite, count_outside } from './reduce';
import { fill, scale, axpy, copy, clamp } from './elementwise';
import { dropout_mask, mul } from './dropout';
import { sgd_update } from './sgd';
import { adam_update } from './adam';
import { rmsprop_update } from './rmsprop';
import { dense_forward } from './dense';

const RECORD_BYTES: usize = 16 << 3;
// Where a record keeps its stop flag (1: end the tape here when the result is not 0) and its result.
const STOP_AT: usize = 14 << 3;
const RESULT_AT: usize = 15 << 3;

// Argument `i` (from 1) of the record at `r`, as the kernel's parameter type wants it.
@inline function int(r: usize, i: usize): i32 {
  return load<i32>(r + (i << 3));
}
@inline function ptr(r: usize, i: usize): usize {
  return <usize>load<u32>(r + (i << 3));
}
@inline function f32of(r: usize, i: usize): f32 {
  return <f32>load<f64>(r + (i << 3));
}
@inline function f64of(r: usize, i: usize): f64 {
  return load<f64>(r + (i << 3));
}

// Runs one record; returns what its kernel returns (0 for those that return nothing).
function runRecord(r: usize): f64 {
  switch (load<i32>(r)) {
    case 1: gemm_nn(ptr(r, 1), ptr(r, 2), ptr(r, 3), ptr(r, 4), int(r, 5), int(r, 6), int(r, 7), ptr(r, 8)); return 0;
    case 2: gemm_nt(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4), int(r, 5), int(r, 6), ptr(r, 7)); return 0;
    case 3: gemm_tn(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4), int(r, 5), int(r, 6), int(r, 7), int(r, 8), ptr(r, 9)); return 0;
    case 4: relu_forward(ptr(r, 1), ptr(r, 2), int(r, 3)); return 0;
    case 5: relu_backward(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4)); return 0;
    case 6: leaky_relu_forward(ptr(r, 1), ptr(r, 2), int(r, 3), f32of(r, 4)); return 0;
    case 7: leaky_relu_backward(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4), f32of(r, 5)); return 0;
    case 8: sigmoid_forward(ptr(r, 1), ptr(r, 2), int(r, 3)); return 0;
    case 9: sigmoid_backward(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4)); return 0;
    case 10: tanh_forward(ptr(r, 1), ptr(r, 2), int(r, 3)); return 0;
    case 11: tanh_backward(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4)); return 0;
    case 12: gelu_forward(ptr(r, 1), ptr(r, 2), int(r, 3)); return 0;
    case 13: gelu_backward(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4)); return 0;
    case 14: softmax_forward(ptr(r, 1), ptr(r, 2), int(r, 3), int(r, 4)); return 0;
    case 15: softmax_backward(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4), int(r, 5)); return 0;
    case 16: return softmax_cross_entropy_labels(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4), int(r, 5));
    case 17: return softmax_cross_entropy_targets(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4), int(r, 5));
    case 18: return bce(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4));
    case 19: return bce_with_logits(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4));
    case 20: return mse(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4));
    case 21: return huber(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4), f32of(r, 5));
    case 22: bias_grad(ptr(r, 1), ptr(r, 2), int(r, 3), int(r, 4), int(r, 5)); return 0;
    case 23: return sum_squares(ptr(r, 1), int(r, 2));
    case 24: return <f64>count_nonfinite(ptr(r, 1), int(r, 2));
    case 25: fill(ptr(r, 1), int(r, 2), f32of(r, 3)); return 0;
    case 26: scale(ptr(r, 1), int(r, 2), f32of(r, 3)); return 0;
    case 27: axpy(ptr(r, 1), ptr(r, 2), int(r, 3), f32of(r, 4)); return 0;
    case 28: copy(ptr(r, 1), ptr(r, 2), int(r, 3)); return 0;
    case 29: mul(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4)); return 0;
    case 30: clamp(ptr(r, 1), int(r, 2), f32of(r, 3), f32of(r, 4)); return 0;
    case 31: dropout_mask(ptr(r, 1), int(r, 2), f64of(r, 3), int(r, 4), int(r, 5)); return 0;
    case 32:
      sgd_update(ptr(r, 1), ptr(r, 2), ptr(r, 3), int(r, 4),
        f32of(r, 5), f32of(r, 6), f32of(r, 7), int(r, 8), f32of(r, 9), int(r, 10));
      return 0;
    case 33:
      adam_update(ptr(r, 1), ptr(r, 2), ptr(r, 3), ptr(r, 4), int(r, 5),
        f64of(r, 6), f64of(r, 7), f64of(r, 8), f64of(r, 9), f64of(r, 10), int(r, 11), int(r, 12));
      return 0;
    case 34:
      rmsprop_update(ptr(r, 1), ptr(r, 2), ptr(r, 3), ptr(r, 4), ptr(r, 5), int(r, 6),
        f64of(r, 7), f64of(r, 8), f64of(r, 9), f64of(r, 10), f64of(r, 11), int(r, 12));
      return 0;
    case 35: return <f64>count_outside(ptr(r, 1), int(r, 2), f32of(r, 3), f32of(r, 4));
    case 36:
      dense_forward(ptr(r, 1), ptr(r, 2), ptr(r, 3), ptr(r, 4), ptr(r, 5), int(r, 6), int(r, 7), int(r, 8),
        int(r, 9), f32of(r, 10), ptr(r, 11));
      return 0;
  }
  unreachable();
  return 0;
}

/**
 * Runs `count` records from `tape`, writing each one's result into it. Returns −1 when all ran, or the
 * index of the record whose stop flag ended the tape (its result was not 0: nothing after it ran).
 */
export function run_tape(tape: usize, count: i32): i32 {
  let r = tape;
  for (let i = 0; i < count; i++, r += RECORD_BYTES) {
    const result = runRecord(r);
    store<f64>(r + RESULT_AT, result);
    if (result != 0 && load<i32>(r + STOP_AT) != 0) return i;
  }
  return -1;
}
