// One way to assert a refusal: the call throws a SimdpropError of the code given, whose message matches.
import { expect } from 'vitest';
import { SimdpropError, type ErrorCode } from '../src/index.js';

export function expectError(run: () => unknown, code: ErrorCode, message: RegExp): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected a ${code} error`).toBeInstanceOf(SimdpropError);
  expect((thrown as SimdpropError).code).toBe(code);
  expect((thrown as SimdpropError).message).toMatch(message);
}
