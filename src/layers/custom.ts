// A custom layer: forward and backward as JavaScript functions over Float32Array views of the model's
// memory — the escape hatch for research code, like torch.autograd.Function. A model with one runs
// its steps call by call, off the tape. Its backward adds its gradients into zeroed arrays; the layer
// then writes or adds them where they go, as the graph's accumulate flags say.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { Initializer, NodeSpec, OpCall, ParameterSpec, SavedSpec, TensorType } from '../graph/op.js';
import { checkShape } from '../graph/symbolic.js';
import { Layer, sizeOf } from './layer.js';

/** What a custom layer's forward sees: views valid during the call. */
export interface CustomForward {
  /** Samples in the batch; each view holds rows × the tensor's values per sample, row-major. */
  readonly rows: number;
  readonly training: boolean;
  readonly inputs: readonly Float32Array[];
  readonly params: readonly Float32Array[];
  /** Write the output here ("="). */
  readonly output: Float32Array;
}

/** What a custom layer's backward sees: the forward's views, dL/d(output), and zeroed arrays for its gradients. */
export interface CustomBackward extends CustomForward {
  readonly outputGrad: Float32Array;
  /** dL/d(input i), to add into (it starts at 0); undefined where no gradient is needed. */
  readonly inputGrads: readonly (Float32Array | undefined)[];
  /** dL/d(parameter p), likewise; undefined while the layer is frozen. */
  readonly paramGrads: readonly (Float32Array | undefined)[];
}

export interface CustomParameter {
  name: string;
  shape: number[];
  /** Default zeros. */
  init?: Initializer;
  /** Default ['weight', 'decay']. */
  tags?: string[];
}

export interface CustomLayerDefinition {
  /** The kind it is saved under: Model.load(bytes, { layers: { [kind]: (config) => layer } }) remakes it (default 'custom'). */
  kind?: string;
  /** Its PyTorch attribute path (see LayerOptions). */
  name?: string;
  /** The output's per-sample shape for the inputs' (default: the first input's). */
  outputShape?(inputShapes: readonly (readonly number[])[]): readonly number[];
  /** Its parameters, saved and trained like any layer's. */
  parameters?: CustomParameter[];
  forward(context: CustomForward): void;
  backward(context: CustomBackward): void;
  /** Settings saved with the model and given back to the factory on load. */
  config?: Record<string, unknown>;
}

interface CustomNode extends NodeSpec {
  readonly inputSizes: readonly number[];
  readonly outputSize: number;
}

// Views of one call, re-made when the memory or the batch size changes: the contexts handed to the
// functions, and every gradient region's view (a context shows those that are wanted).
interface Views {
  buffer: ArrayBufferLike | undefined;
  rows: number;
  forward: CustomForward & { training: boolean };
  backward: CustomBackward & { training: boolean; inputGrads: (Float32Array | undefined)[]; paramGrads: (Float32Array | undefined)[] };
  inputGrads: Float32Array[];
  paramGrads: Float32Array[];
}

export class CustomLayer extends Layer<CustomNode> {
  readonly kind: string;
  private readonly definition: CustomLayerDefinition;
  private readonly views = new WeakMap<OpCall, Views>();

  constructor(definition: CustomLayerDefinition) {
    super({ name: definition?.name });
    if (typeof definition !== 'object' || definition === null || typeof definition.forward !== 'function' || typeof definition.backward !== 'function') {
      throw new SimdpropError('OPTION', `customLayer needs { forward(context), backward(context) } functions, got ${describe(definition)}`);
    }
    this.kind = definition.kind ?? 'custom';
    if (typeof this.kind !== 'string' || this.kind.length === 0) throw new SimdpropError('OPTION', `customLayer kind must be a non-empty string, got ${describe(definition.kind)}`);
    (definition.parameters ?? []).forEach((parameter, i) => {
      if (typeof parameter?.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(parameter.name)) {
        throw new SimdpropError('OPTION', `customLayer parameters[${i}].name must be an identifier, got ${describe(parameter?.name)}`);
      }
      checkShape(parameter.shape, `customLayer parameters[${i}].shape`);
    });
    this.definition = definition;
  }

  config(): Record<string, unknown> {
    return { ...(this.definition.config ?? {}), name: this.name };
  }

  node(inputs: readonly TensorType[]): CustomNode {
    if (inputs.length === 0) throw new SimdpropError('SHAPE', `${this.label} takes at least one input`);
    inputs.forEach((input, i) => {
      if (input.dtype !== 'float32') throw new SimdpropError('TYPE', `${this.label} takes float32 inputs, but input ${i} is ${input.dtype}`);
    });
    let shape: readonly number[];
    try {
      shape = this.definition.outputShape ? this.definition.outputShape(inputs.map((input) => input.shape)) : inputs[0].shape;
    } catch (error) {
      throw new SimdpropError('SHAPE', `${this.label}: its outputShape failed for inputs ${inputs.map((input) => `[${input.shape.join(', ')}]`).join(', ')}: ${(error as Error).message}`);
    }
    const outputShape = checkShape(shape, `${this.label}'s output shape`);
    const inputSizes = inputs.map((input) => sizeOf(input.shape));
    // A zeroed gradient for each input and each parameter to add into, then put where it goes.
    const saved: SavedSpec[] = [
      ...inputSizes.map((size, i) => ({ name: `inputGrad${i}`, floatsPerSample: size })),
      ...this.parameters().map((parameter) => ({ name: `${parameter.name}Grad`, floatsPerSample: 0, floats: sizeOf(parameter.shape) })),
    ];
    return { output: { shape: outputShape, dtype: 'float32' }, inputSizes, outputSize: sizeOf(outputShape), saved, callsJavaScript: true };
  }

  override parameters(): readonly ParameterSpec[] {
    return (this.definition.parameters ?? []).map((parameter) => ({
      name: parameter.name, shape: parameter.shape, init: parameter.init ?? { kind: 'zeros' }, tags: parameter.tags ?? ['weight', 'decay'],
    }));
  }

  // The call's views, made again when the memory grew or the batch changed.
  private viewsOf(call: OpCall<CustomNode>): Views {
    const memory = call.memory();
    let views = this.views.get(call);
    if (views !== undefined && views.buffer === memory.buffer && views.rows === call.rows) return views;
    const view = (pointer: number, length: number): Float32Array => memory.subarray(pointer >> 2, (pointer >> 2) + length);
    const { inputSizes, outputSize } = call.node;
    const parameters = this.parameters();
    const rows = call.rows;
    const forward = {
      rows, training: call.training,
      inputs: call.inputs.map((pointer, i) => view(pointer, rows * inputSizes[i])),
      params: call.params.map((pointer, p) => view(pointer, sizeOf(parameters[p].shape))),
      output: view(call.output, rows * outputSize),
    };
    const inputGrads = inputSizes.map((size, i) => view(call.saved[i], rows * size));
    const paramGrads = parameters.map((parameter, p) => view(call.saved[inputSizes.length + p], sizeOf(parameter.shape)));
    const backward = {
      ...forward, outputGrad: view(call.outputGrad, rows * outputSize),
      inputGrads: inputGrads.map(() => undefined), paramGrads: paramGrads.map(() => undefined),
    };
    views = { buffer: memory.buffer, rows, forward, backward, inputGrads, paramGrads };
    this.views.set(call, views);
    return views;
  }

  forward(_kernels: Kernels, call: OpCall<CustomNode>): void {
    const views = this.viewsOf(call);
    views.forward.training = call.training;
    this.definition.forward(views.forward);
  }

  backward(kernels: Kernels, call: OpCall<CustomNode>): void {
    const views = this.viewsOf(call);
    const context = views.backward;
    context.training = call.training;
    const { inputSizes } = call.node;
    const inputs = inputSizes.length;
    const sizes = this.parameters().map((parameter) => sizeOf(parameter.shape));
    // The gradients wanted, zeroed for the function to add into.
    for (let i = 0; i < inputs; i++) {
      const wanted = call.inputGrads[i] !== 0;
      context.inputGrads[i] = wanted ? views.inputGrads[i] : undefined;
      if (wanted) kernels.fill(call.saved[i], call.rows * inputSizes[i], 0);
    }
    for (let p = 0; p < sizes.length; p++) {
      const wanted = call.paramGrads[p] !== 0;
      context.paramGrads[p] = wanted ? views.paramGrads[p] : undefined;
      if (wanted) kernels.fill(call.saved[inputs + p], sizes[p], 0);
    }
    this.definition.backward(context);
    const put = (to: number, from: number, n: number, accumulate: number): void => {
      if (accumulate !== 0) kernels.axpy(to, from, n, 1);
      else kernels.copy(to, from, n);
    };
    for (let i = 0; i < inputs; i++) if (call.inputGrads[i] !== 0) put(call.inputGrads[i], call.saved[i], call.rows * inputSizes[i], call.accumulateInputs[i]);
    for (let p = 0; p < sizes.length; p++) if (call.paramGrads[p] !== 0) put(call.paramGrads[p], call.saved[inputs + p], sizes[p], call.accumulateParams);
  }
}

/** A layer whose forward and backward are your JavaScript functions: see CustomLayerDefinition. */
export function customLayer(definition: CustomLayerDefinition): CustomLayer {
  return new CustomLayer(definition);
}
