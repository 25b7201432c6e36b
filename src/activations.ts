// Activation names, and how a dense layer runs each one forward and backward through the kernels.
import type { Kernels } from './backend/kernels.js';
import { SimdpropError, describe } from './errors.js';

export type ActivationName = 'linear' | 'relu' | 'leakyRelu' | 'sigmoid' | 'tanh' | 'gelu' | 'softmax';

export const ACTIVATIONS: readonly ActivationName[] = ['linear', 'relu', 'leakyRelu', 'sigmoid', 'tanh', 'gelu', 'softmax'];

export function checkActivation(name: unknown): ActivationName {
  if (typeof name === 'string' && (ACTIVATIONS as readonly string[]).includes(name)) return name as ActivationName;
  throw new SimdpropError('UNKNOWN_NAME', `unknown activation ${describe(name)}: expected one of ${ACTIVATIONS.join(', ')}`);
}

/** Whether the backward pass needs the pre-activation z kept apart from the output a. */
export function keepsPreActivation(name: ActivationName): boolean {
  return name === 'leakyRelu' || name === 'gelu';
}

/** He initialization suits the relu family; Glorot the rest. */
export function usesHeInit(name: ActivationName): boolean {
  return name === 'relu' || name === 'leakyRelu' || name === 'gelu';
}

/** The activation's number for the dense_forward kernel: its place in ACTIVATIONS. */
export function activationCode(name: ActivationName): number {
  return ACTIVATIONS.indexOf(name);
}

/** a = f(z) over rows × cols (a may be z; "linear" writes nothing: a is z), for a layer whose product cannot fuse it. */
export function activationForward(kernels: Kernels, name: ActivationName, a: number, z: number, rows: number, cols: number, slope: number): void {
  const n = rows * cols;
  switch (name) {
    case 'linear': return;
    case 'relu': return kernels.relu_forward(a, z, n);
    case 'leakyRelu': return kernels.leaky_relu_forward(a, z, n, slope);
    case 'sigmoid': return kernels.sigmoid_forward(a, z, n);
    case 'tanh': return kernels.tanh_forward(a, z, n);
    case 'gelu': return kernels.gelu_forward(a, z, n);
    case 'softmax': return kernels.softmax_forward(a, z, rows, cols);
  }
}

/** dz = da ⊙ f'(z) over rows × cols (dz may be da; "linear" writes nothing: dz is da). */
export function activationBackward(
  kernels: Kernels, name: ActivationName, dz: number, da: number, z: number, a: number,
  rows: number, cols: number, slope: number,
): void {
  const n = rows * cols;
  switch (name) {
    case 'linear': return;
    case 'relu': return kernels.relu_backward(dz, da, a, n);
    case 'leakyRelu': return kernels.leaky_relu_backward(dz, da, z, n, slope);
    case 'sigmoid': return kernels.sigmoid_backward(dz, da, a, n);
    case 'tanh': return kernels.tanh_backward(dz, da, a, n);
    case 'gelu': return kernels.gelu_backward(dz, da, z, n);
    case 'softmax': return kernels.softmax_backward(dz, da, a, rows, cols);
  }
}
