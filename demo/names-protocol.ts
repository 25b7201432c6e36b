// What the Names GPT tab's page and its worker (demo/names-worker.ts) say to each other, and the
// settings of the worker's training that the page shows.
import type { CharTokenizerJSON } from '../src/index.js';
import type { Windows } from '../examples/names-task.js';

/** The cosine's length; after it the lr stays at its floor as training goes on. */
export const SCHEDULE_STEPS = 3000;
/** Held-out loss every this many steps (with 367 windows of 16, about as long as 3 training steps). */
export const EVALUATE_EVERY = 50;
/** Names sampled at a time. */
export const NAMES_AT_ONCE = 10;

export type NamesRequest =
  | { type: 'start'; wasmUrl: string; tokenizer: CharTokenizerJSON; trainStream: Int32Array; heldOut: Windows }
  | { type: 'train' }
  | { type: 'stop' };

export type NamesReport =
  | { type: 'ready'; description: string; parameters: number }
  /** After each chunk: `heldOutLoss` when the chunk ended on a multiple of EVALUATE_EVERY steps (step 0 included). */
  | { type: 'progress'; steps: number; trainLoss: number; heldOutLoss?: number; lr: number; tokensPerSecond: number }
  | { type: 'names'; steps: number; names: string[] }
  | { type: 'stopped' }
  | { type: 'error'; message: string };
