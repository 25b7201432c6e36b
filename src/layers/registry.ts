// Every layer kind by name, and how to remake a layer from the settings it saves (config()): what
// Model.load() rebuilds a graph from. A kind's entry checks nothing itself: its constructor does.
import { SimdpropError, describe } from '../errors.js';
import { Activation } from './activation.js';
import { CausalSelfAttention } from './attention.js';
import { Conv1d, Conv2d, type ConvOptions } from './conv.js';
import { BatchNorm } from './batch_norm.js';
import { Dense } from './dense.js';
import { Dropout } from './dropout.js';
import { Embedding } from './embedding.js';
import type { Layer } from './layer.js';
import { LayerNorm } from './layer_norm.js';
import { PositionEmbedding } from './position_embedding.js';
import { Add, Concat, Multiply } from './merge.js';
import { AvgPool1d, AvgPool2d, GlobalAvgPool1d, GlobalAvgPool2d, MaxPool1d, MaxPool2d, type PoolSize } from './pool.js';
import { Flatten, Reshape } from './reshape.js';

type Config = Record<string, unknown>;

const KINDS: Record<string, (config: Config) => Layer> = {
  dense: (c) => new Dense(c.inputSize as number, c.outputSize as number, c.activation as never, {
    bias: c.bias as boolean, negativeSlope: c.negativeSlope as number, name: c.name as string | undefined, tiedTo: c.tiedTo as Dense | Embedding | undefined,
  }),
  dropout: (c) => new Dropout(c.rate as number, named(c)),
  activation: (c) => new Activation(c.activation as never, { negativeSlope: c.negativeSlope as number, name: c.name as string | undefined }),
  add: (c) => new Add(named(c)),
  multiply: (c) => new Multiply(named(c)),
  concat: (c) => new Concat({ axis: c.axis as number, name: c.name as string | undefined }),
  reshape: (c) => new Reshape(c.shape as number[], named(c)),
  flatten: (c) => new Flatten(named(c)),
  layerNorm: (c) => new LayerNorm(c.size as number, { eps: c.eps as number, elementwiseAffine: c.elementwiseAffine as boolean, bias: c.bias as boolean | undefined, name: c.name as string | undefined }),
  embedding: (c) => new Embedding(c.count as number, c.dim as number, named(c)),
  causalSelfAttention: (c) => new CausalSelfAttention(c.embedDim as number, c.numHeads as number, {
    dropout: c.dropout as number, bias: c.bias as boolean, probabilities: c.probabilities as 'saved' | 'recomputed', name: c.name as string | undefined,
  }),
  positionEmbedding: (c) => new PositionEmbedding(c.length as number, c.dim as number, named(c)),
  conv2d: (c) => new Conv2d(c.inChannels as number, c.outChannels as number, c.kernelSize as number[], convOptions(c)),
  conv1d: (c) => new Conv1d(c.inChannels as number, c.outChannels as number, c.kernelSize as number[], convOptions(c)),
  maxPool2d: (c) => new MaxPool2d(c.kernelSize as PoolSize, { stride: c.stride as PoolSize, padding: c.padding as PoolSize, name: c.name as string | undefined }),
  avgPool2d: (c) => new AvgPool2d(c.kernelSize as PoolSize, {
    stride: c.stride as PoolSize, padding: c.padding as PoolSize, countIncludePad: c.countIncludePad as boolean, name: c.name as string | undefined,
  }),
  globalAvgPool2d: (c) => new GlobalAvgPool2d(named(c)),
  maxPool1d: (c) => new MaxPool1d(c.kernelSize as number, { stride: c.stride as number, padding: c.padding as number, name: c.name as string | undefined }),
  avgPool1d: (c) => new AvgPool1d(c.kernelSize as number, {
    stride: c.stride as number, padding: c.padding as number, countIncludePad: c.countIncludePad as boolean, name: c.name as string | undefined,
  }),
  globalAvgPool1d: (c) => new GlobalAvgPool1d(named(c)),
  batchNorm: (c) => new BatchNorm(c.channels as number, {
    eps: c.eps as number, momentum: c.momentum as number, affine: c.affine as boolean, name: c.name as string | undefined,
  }),
};

function convOptions(c: Config): ConvOptions {
  return {
    stride: c.stride as number[], padding: c.padding as number[] | 'same', dilation: c.dilation as number[], groups: c.groups as number,
    bias: c.bias as boolean, activation: c.activation as never, negativeSlope: c.negativeSlope as number, name: c.name as string | undefined,
  };
}

function named(config: Config): { name: string | undefined } {
  return { name: config.name as string | undefined };
}

/** Layers a caller makes themselves (custom layers), by the kind they save under. */
export type LayerFactories = Readonly<Record<string, (config: Config) => Layer>>;

/** The layer a file's record describes; a FILE error naming it when the record is not a valid layer. */
export function layerFromConfig(kind: unknown, config: unknown, where: string, custom: LayerFactories = {}): Layer {
  const make = typeof kind === 'string' ? (Object.hasOwn(custom, kind) ? custom[kind] : Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined) : undefined;
  if (make === undefined) {
    throw new SimdpropError('FILE', `${where} is a layer of kind ${describe(kind)}, which simdprop does not know` +
      (typeof kind === 'string' ? ` (pass { layers: { ${kind}: (config) => layer } } to load a custom layer)` : ''));
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new SimdpropError('FILE', `${where} has no settings object`);
  try {
    return make(config as Config);
  } catch (error) {
    if (error instanceof SimdpropError) throw new SimdpropError('FILE', `${where} (${kind}) is not a valid layer: ${error.message.replace(/^simdprop: /, '')}`);
    throw error;
  }
}
