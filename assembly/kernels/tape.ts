// A tape of kernel calls run in one crossing from JavaScript into the module. A training step of a
// tiny network is a dozen calls of a few hundred nanoseconds each, and each JS → wasm crossing costs
// about as much as the work: recording the calls as they are made and running them here in one go
// takes the crossings out. The calls are the same kernels with the same arguments in the same order,
// so the results are bit-identical to calling them one by one.
//
// A record is RECORD_SLOTS slots of 8 bytes (scripts/kernels.ts): the opcode (the kernel's place in
// the table it reads from kernels/, from 1), its arguments in the kernel's order, then at STOP_AT a
// flag and at RESULT_AT the value a kernel returns (an f64). Integers and pointers (and the opcode and the flag)
// are int32 in the low 4 bytes of their slot, as the JS → wasm call's ToInt32 makes them: a plain
// load, where an f64 to convert took a checked truncation each. Floats are f64, and f32 arguments
// are rounded from them to nearest, as the JS → wasm call rounds them. The decoder (runRecord) is
// generated from the same table.

// The stop flag is 1 to end the tape at its record when the result is not 0.
import { RECORD_BYTES, RESULT_AT, runRecord, STOP_AT } from '../generated/dispatch';

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
