// SGD over the whole flat parameter block: params, grads and velocity share one layout.

/**
 * PyTorch's SGD step: g = grad + weightDecay·p; with momentum μ ≠ 0, v = firstStep ? g : μv + (1 − dampening)g
 * and g = nesterov ? g + μv : v; then p −= lr·g. Grads are left as they are.
 */
export function sgd_update(
  params: usize, grads: usize, velocity: usize, n: i32,
  lr: f32, momentum: f32, dampening: f32, nesterov: i32, weightDecay: f32, firstStep: i32,
): void {
  const lrs = f32x4.splat(lr);
  const decays = f32x4.splat(weightDecay);
  const momenta = f32x4.splat(momentum);
  const keep = f32x4.splat(1 - dampening);
  const useVelocity = momentum != 0;
  const restart = firstStep != 0;
  const lookAhead = nesterov != 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const p = v128.load(params + offset);
    let g = f32x4.add(v128.load(grads + offset), f32x4.mul(decays, p));
    if (useVelocity) {
      const v = restart ? g : f32x4.add(f32x4.mul(momenta, v128.load(velocity + offset)), f32x4.mul(keep, g));
      v128.store(velocity + offset, v);
      g = lookAhead ? f32x4.add(g, f32x4.mul(momenta, v)) : v;
    }
    v128.store(params + offset, f32x4.sub(p, f32x4.mul(lrs, g)));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    const p = load<f32>(params + offset);
    let g = load<f32>(grads + offset) + weightDecay * p;
    if (useVelocity) {
      const v = restart ? g : momentum * load<f32>(velocity + offset) + (1 - dampening) * g;
      store<f32>(velocity + offset, v);
      g = lookAhead ? g + momentum * v : v;
    }
    store<f32>(params + offset, p - lr * g);
  }
}
