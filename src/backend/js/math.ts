// Scalar formulas shared by several JS twins (activations and losses), each defined once.
// Plain doubles in, doubles out; callers store the results into their float arrays.

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

/** σ(z) = 1 / (1 + e^−z), evaluated on the side where the exponential cannot overflow. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log(1 + e^−|z|), the softplus term of the stable logistic losses; never overflows. */
export function log1pExpNegAbs(z: number): number {
  return Math.log1p(Math.exp(-Math.abs(z)));
}

/** gelu, tanh approximation: 0.5·z·(1 + tanh(√(2/π)·(z + 0.044715·z³))). */
export function gelu(z: number): number {
  const t = Math.tanh(SQRT_2_OVER_PI * (z + GELU_CUBIC * z * z * z));
  return 0.5 * z * (1 + t);
}

/** d gelu / dz = 0.5(1 + t) + 0.5·z·(1 − t²)·√(2/π)·(1 + 3·0.044715·z²), t as in gelu. */
export function geluDerivative(z: number): number {
  const t = Math.tanh(SQRT_2_OVER_PI * (z + GELU_CUBIC * z * z * z));
  return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * z * z);
}
