// The one interface every layer kind implements, and the types the graph and the layers share.
// Shapes are per sample (the batch dimension is implied and leads in memory: a batch of `rows`
// samples of shape [T, C] is rows·T·C floats, row-major). An op declares, from its input types, its
// output type, its parameters, the tensors its backward needs saved and the scratch it uses; the
// plan gives it every pointer once per layout (an OpCall), and its forward and backward are kernel
// calls over them. An op knows nothing of the graph, the tape, threads or files.
import type { Kernels } from '../backend/kernels.js';

export type DType = 'float32' | 'int32';
export type Shape = readonly number[];

export interface TensorType {
  readonly shape: Shape;
  readonly dtype: DType;
  /**
   * How PyTorch orders the same values, where it differs: 'channelsFirst' for a feature map (a conv's
   * or pool's output: simdprop's [H, W, C] is PyTorch's [C, H, W]), or, for a flatten of one, the
   * channels-last shape it came from (PyTorch's flatten runs channels first, so a dense layer reading
   * it permutes its weight in files).
   */
  readonly torchOrder?: TorchOrder;
}

export type TorchOrder = 'channelsFirst' | { readonly flattenedFrom: Shape };

/** How a parameter or buffer starts: from the model's seeded RNG, or a constant. */
export type Initializer =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' }
  /** N(0, std²). */
  | { readonly kind: 'normal'; readonly std: number }
  /** U(−limit, limit). */
  | { readonly kind: 'uniform'; readonly limit: number };

/**
 * A tensor PyTorch keeps in another order: `shape` as PyTorch has it, whose values are simdprop's
 * tensor seen with the axes `view` (its own shape when absent) permuted so that PyTorch's axis i is
 * axis order[i] of the view. A dense weight [in, out] is PyTorch's [out, in]: order [1, 0].
 */
export interface TorchLayout {
  readonly shape: readonly number[];
  readonly order: readonly number[];
  readonly view?: readonly number[];
}

export interface ParameterSpec {
  /** The tensor's name within its layer ('weight', 'bias'); the model's name is `<layer name>.<name>`. */
  readonly name: string;
  /** simdprop's layout. */
  readonly shape: readonly number[];
  readonly init: Initializer;
  /**
   * What optimizer groups select it by: its kind ('weight', 'bias') and 'decay' or 'noDecay' (norm and
   * bias parameters, which nanoGPT and most recipes exclude from weight decay).
   */
  readonly tags: readonly string[];
  /** PyTorch's layout, where it differs. */
  readonly torch?: TorchLayout;
  /**
   * The parameter is another layer's, shared (weight tying: a language model's head and its token
   * embedding): one tensor in the model, of the same shape in simdprop's layout, whose gradient is the
   * sum of both layers' uses. Its init, tags and torch layout are the owner's.
   */
  readonly tiedTo?: { readonly layer: Op; readonly name: string };
}

/**
 * State that is saved with the model but not trained (batch norm's running statistics). An 'int64'
 * buffer (a counter, as PyTorch's num_batches_tracked) holds each element as two int32 words, low
 * first, is saved as I64 and starts at 0 (its init must be zeros).
 */
export interface BufferSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Initializer;
  readonly torch?: TorchLayout;
  /** 'float32' (the default) or 'int64'. */
  readonly dtype?: BufferDType;
}

export type BufferDType = 'float32' | 'int64';

/** A tensor one application of an op keeps from its forward for its backward: floats per sample, and any fixed floats more. */
export interface SavedSpec {
  readonly name: string;
  readonly floatsPerSample: number;
  readonly floats?: number;
}

/** What one application of an op needs, given its input types. */
export interface NodeSpec {
  readonly output: TensorType;
  readonly saved?: readonly SavedSpec[];
  /** Bytes of scratch its kernels use for a batch of `rows` samples (the GEMMs pack operands there). */
  scratchBytes?(rows: number): number;
  /** Multiply-adds of its largest product per sample: above a threshold a step's products go to threads. */
  readonly macsPerSample?: number;
  /**
   * The output is input `aliasOf` itself, reinterpreted (reshape, flatten): no memory, no kernel calls,
   * and its gradient is the input's gradient.
   */
  readonly aliasOf?: number;
  /** The op runs JavaScript between kernel calls (a custom layer), so its step cannot be one tape. */
  readonly callsJavaScript?: boolean;
  /** Its int32 input holds indices into a table of this many rows (an embedding): the model checks them first. */
  readonly indexBound?: number;
  /**
   * In training mode the batch must have at least this many samples (batch norm on one value per
   * channel has no variance): the model refuses a smaller batch before anything runs.
   */
  readonly minTrainingRows?: number;
}

/** The random stream a model gives its ops: `stream` is bumped by each draw, so every mask is new. */
export interface RandomStream {
  readonly seed: number;
  stream: number;
  /** Set while the masks the last forward drew are to be used again (a gradient check's evaluations). */
  reuse: boolean;
}

/**
 * Every pointer one application of an op needs, made once per layout by the plan and reused every step
 * (only `rows`, `training` and the accumulate flags change). Pointers are byte offsets; 0 means none.
 */
export interface OpCall<N extends NodeSpec = NodeSpec> {
  /** What the op said this application needs (its own subtype of NodeSpec: per-node constants). */
  readonly node: N;
  /** Samples in the batch. */
  rows: number;
  /** Training mode: dropout applies, batch norm uses and updates batch statistics. */
  training: boolean;
  readonly inputs: number[];
  readonly output: number;
  /** The layer's parameters in the order of its ParameterSpecs, and their gradients. */
  readonly params: number[];
  readonly buffers: number[];
  readonly saved: number[];
  readonly scratch: number;
  readonly random: RandomStream;
  /**
   * The memory the pointers index, as floats (4 bytes an element; a Float64Array in the float64
   * gradient check): for ops that run JavaScript over it (custom layers). Fetch it on each call.
   */
  readonly memory: () => Float32Array;
  /** dL/d(output), complete when backward runs. */
  readonly outputGrad: number;
  /**
   * Where the op may put a gradient it works from (dense's dz): outputGrad itself, which it may then
   * overwrite (nobody reads it after), or a region apart where outputGrad must stay (a model output's).
   */
  readonly workGrad: number;
  /** Where dL/d(input i) goes, or 0 when nobody needs it (an int32 input, nothing trainable upstream). */
  readonly inputGrads: number[];
  /** 1: add to inputGrads[i] ("+="); 0: write it ("="), as its first writer. */
  readonly accumulateInputs: number[];
  /** The parameters' gradients, or 0 each while the layer is frozen (or nothing reaches it). */
  readonly paramGrads: number[];
  /** 1: add to the parameter gradients ("+=", a shared layer's later use, or backward()'s accumulation); 0: write them. */
  accumulateParams: number;
  /**
   * Set when backward runs a second time after a complete backward, for input gradients only (a
   * model's inputGrad(), asked for after the step): parameter gradients are 0, and an op that left
   * its working gradient in workGrad must start from it.
   */
  again: boolean;
}

/** One layer kind: what the graph asks of it. Implemented in src/layers/<kind>.ts. */
export interface Op<N extends NodeSpec = NodeSpec> {
  /** The layer kind, e.g. 'dense'. */
  readonly kind: string;
  /** What one application needs, from its inputs' types; a SHAPE error naming the layer otherwise. */
  node(inputs: readonly TensorType[]): N;
  /** The layer's parameters (the same for every application of it). */
  parameters(inputs: readonly TensorType[]): readonly ParameterSpec[];
  buffers(inputs: readonly TensorType[]): readonly BufferSpec[];
  forward(kernels: Kernels, call: OpCall<N>): void;
  /** Gradients for the inputs and parameters whose pointers are not 0, honouring the accumulate flags. */
  backward(kernels: Kernels, call: OpCall<N>): void;
  /**
   * An op that runs this one and then `next` on its output as one node (a dense layer and the activation
   * after it), where this op's output has no other reader; undefined when they do not fuse.
   */
  fuseWith?(next: Op): Op | undefined;
  /** Whether the layer's parameters are updated (frozen layers get no gradient and no update). */
  readonly trainable: boolean;
  /**
   * For generation one position at a time (generate()'s cache), an op whose output at a position depends
   * on the positions before it, or on where it is: the floats of state it keeps across the positions of
   * a context of `positions` (attention's keys and values), and its forward for position `position`
   * alone (of `positions`), on a call made for a one-position input, with that state at byte offset
   * `state` (0 for an op that keeps none: no decodeFloats). Ops without decode that act on each position
   * alone run their forward on the one position.
   */
  decodeFloats?(positions: number): number;
  decode?(kernels: Kernels, call: OpCall, position: number, positions: number, state: number): void;
}
