// The kernel contract: every function both backends implement, with the same signature.
// Pointers are byte offsets into the backend's one memory (0 means "none"); sizes are element
// counts. Matrices are row-major float32; labels are int32. "=" writes the output, "+=" accumulates.

export interface Kernels {
  // ---- GEMM: the three products of a dense layer's forward and backward pass ----
  // Each GEMM takes `scratch`, gemmScratchBytes(K) bytes (or gemmScratchBytes(K, M) when M is known) the
  // kernel may overwrite (wasm packs operands there); threads pass one scratch each.
  /** out[M×N] = x[M×K] · w[K×N] (+ bias[N] broadcast over rows when bias ≠ 0).  "=" */
  gemm_nn(out: number, x: number, w: number, bias: number, M: number, K: number, N: number, scratch: number): void;
  /**
   * A dense layer's forward pass: z = x·w (+ bias) as gemm_nn, then a = f(z) with f the activation
   * whose place in ACTIVATIONS is `activation` (0, linear, leaves a unwritten; a may be z otherwise);
   * `slope` is leakyRelu's. Bit-identical to gemm_nn then the activation's kernel.  "="
   */
  dense_forward(
    z: number, a: number, x: number, w: number, bias: number, M: number, K: number, N: number,
    activation: number, slope: number, scratch: number,
  ): void;
  /** out[M×N] = a[M×K] · b[N×K]ᵀ — dX = dZ·Wᵀ with W stored [in × out].  "=" */
  gemm_nt(out: number, a: number, b: number, M: number, K: number, N: number, scratch: number): void;
  /**
   * out[M×N] += a[K×M]ᵀ · b[K×N] — dW += Xᵀ·dZ, where rows of a are lda ≥ M floats apart (lda = M for a
   * whole matrix; a larger lda computes a block of output rows on its own).  "+=" The complete sum Σ_k is formed first and then added
   * to out, so accumulating the same product twice doubles out exactly (a forgotten zeroGrad doubles).
   * With accumulate = 0 the sums are written instead ("="): a step's gradient, without zeroing first.
   */
  gemm_tn(out: number, a: number, b: number, M: number, K: number, N: number, lda: number, accumulate: number, scratch: number): void;

  // ---- activations over n elements (softmax: rows × cols). Backward "=", dz may alias da ----
  relu_forward(out: number, z: number, n: number): void;
  /** dz = da · (a > 0), from the activation's output a. */
  relu_backward(dz: number, da: number, a: number, n: number): void;
  /** out = z > 0 ? z : slope·z */
  leaky_relu_forward(out: number, z: number, n: number, slope: number): void;
  /** dz = da · (z > 0 ? 1 : slope), from the pre-activation z. */
  leaky_relu_backward(dz: number, da: number, z: number, n: number, slope: number): void;
  sigmoid_forward(out: number, z: number, n: number): void;
  /** dz = da · a·(1 − a) */
  sigmoid_backward(dz: number, da: number, a: number, n: number): void;
  tanh_forward(out: number, z: number, n: number): void;
  /** dz = da · (1 − a²) */
  tanh_backward(dz: number, da: number, a: number, n: number): void;
  /** gelu, tanh approximation: 0.5·z·(1 + tanh(√(2/π)·(z + 0.044715·z³))) */
  gelu_forward(out: number, z: number, n: number): void;
  /** dz = da · gelu'(z), from the pre-activation z. */
  gelu_backward(dz: number, da: number, z: number, n: number): void;
  /** Row-wise softmax, max subtracted first. */
  softmax_forward(out: number, z: number, rows: number, cols: number): void;
  /** dz = a ⊙ (da − rowsum(da ⊙ a)), from the softmax output a. */
  softmax_backward(dz: number, da: number, a: number, rows: number, cols: number): void;

  // ---- losses: write dL/d(output) into grad ("="), return the mean loss ----
  /**
   * Softmax + cross-entropy on logits with int32 class labels, each in [0, cols) (callers check: the
   * kernel does not); grad = (p − onehot)/rows; loss averaged over rows.
   */
  softmax_cross_entropy_labels(grad: number, logits: number, labels: number, rows: number, cols: number): number;
  /** Same with target rows (one-hot or soft); grad = (p − y)/rows; loss = −Σ y·log p averaged over rows. */
  softmax_cross_entropy_targets(grad: number, logits: number, targets: number, rows: number, cols: number): number;
  /** Binary cross-entropy on probabilities, PyTorch's clamps: log terms ≥ −100, grad = (p − y)/max(p(1−p), 1e-12)/n. */
  bce(grad: number, probs: number, targets: number, n: number): number;
  /** BCE on logits, stable: max(z,0) − z·y + log(1 + e^−|z|); grad = (σ(z) − y)/n. */
  bce_with_logits(grad: number, logits: number, targets: number, n: number): number;
  /** Mean squared error; grad = 2(p − y)/n. */
  mse(grad: number, pred: number, targets: number, n: number): number;
  /** Huber loss (PyTorch's HuberLoss): mean of 0.5d² if |d| ≤ delta else delta(|d| − delta/2); grad = clamp(d, −delta, delta)/n. */
  huber(grad: number, pred: number, targets: number, n: number, delta: number): number;

  // ---- reductions ----
  /** db[cols] += column sums of dz[rows×cols]; like gemm_tn, each finished sum is added to db.  "+=" (accumulate = 0: "=") */
  bias_grad(db: number, dz: number, rows: number, cols: number, accumulate: number): void;
  /** Σ x², accumulated in float64. */
  sum_squares(x: number, n: number): number;
  /** How many of the n elements are NaN or ±Infinity. */
  count_nonfinite(x: number, n: number): number;
  /** How many of the n elements are NaN or outside [low, high]. */
  count_outside(x: number, n: number, low: number, high: number): number;

  // ---- elementwise ----
  fill(x: number, n: number, value: number): void;
  /** x *= s */
  scale(x: number, n: number, s: number): void;
  /** y += a·x */
  axpy(y: number, x: number, n: number, a: number): void;
  copy(dst: number, src: number, n: number): void;
  /** x = min(max(x, low), high); NaN stays NaN. */
  clamp(x: number, n: number, low: number, high: number): void;
  /** out = a ⊙ b (out may be a or b). */
  mul(out: number, a: number, b: number, n: number): void;

  // ---- dropout ----
  /**
   * mask[i] = 1/(1 − rate) where fmix32(i·0x9e3779b1 + (seed ⊕ stream·0x85ebca77)) ≥ ⌊rate·2³²⌋ (unsigned),
   * else 0: inverted dropout from a counter-based hash, the same bits on every backend.
   */
  dropout_mask(mask: number, n: number, rate: number, seed: number, stream: number): void;

  // ---- optimizers, over the whole flat parameter block ----
  /**
   * PyTorch's SGD: g = grad + weightDecay·p; with momentum μ ≠ 0: v = firstStep ? g : μv + (1 − dampening)·g,
   * then g = nesterov ? g + μv : v; finally p −= lr·g. velocity is 0 when μ = 0. Grads are not modified.
   */
  sgd_update(
    params: number, grads: number, velocity: number, n: number,
    lr: number, momentum: number, dampening: number, nesterov: number, weightDecay: number, firstStep: number,
  ): void;
  /**
   * PyTorch's Adam and AdamW. Weight decay (none when weightDecay = 0): decoupled = 0 (Adam) g = grad + weightDecay·p;
   * decoupled = 1 (AdamW) p = p·(1 − lr·weightDecay) first, g = grad. Then
   * expAvg = β1·expAvg + (1 − β1)·g, expAvgSq = β2·expAvgSq + ((1 − β2)·g)·g, and with bc1 = 1 − β1^step,
   * bc2 = 1 − β2^step (step counts from 1): p = p − ((lr/bc1)·expAvg) / (√expAvgSq/√bc2 + eps).
   * The scalar constants (lr/bc1, √bc2, 1 − β, 1 − lr·weightDecay) are formed in float64 once per call, then
   * used in float32, as PyTorch forms them in Python floats. Grads are not modified.
   */
  adam_update(
    params: number, grads: number, expAvg: number, expAvgSq: number, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: number, step: number,
  ): void;
  /**
   * PyTorch's RMSprop: g = grad + weightDecay·p (none when weightDecay = 0); squareAvg = α·squareAvg + ((1 − α)·g)·g;
   * centered ≠ 0: gradAvg = α·gradAvg + (1 − α)·g and avg = √(squareAvg − gradAvg²) + eps, else avg = √squareAvg + eps;
   * momentum μ > 0: momentumBuffer = μ·momentumBuffer + g/avg and p = p − lr·momentumBuffer, else p = p − (lr·g)/avg.
   * gradAvg is 0 unless centered, momentumBuffer 0 unless μ > 0. Constants (1 − α) are formed in float64, used in
   * float32. Grads are not modified.
   */
  rmsprop_update(
    params: number, grads: number, squareAvg: number, gradAvg: number, momentumBuffer: number, n: number,
    lr: number, alpha: number, eps: number, weightDecay: number, momentum: number, centered: number,
  ): void;
}

export type KernelName = keyof Kernels;

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
