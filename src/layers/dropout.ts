// Dropout: during training, each output of the layer before it is zeroed with probability `rate` and
// the rest scaled by 1/(1 − rate) (inverted dropout); in eval mode it passes values through.
import { SimdpropError, describe } from '../errors.js';

export class Dropout {
  constructor(readonly rate: number) {
    if (!(typeof rate === 'number' && rate >= 0 && rate < 1)) {
      throw new SimdpropError('OPTION', `dropout rate must be a number in [0, 1), got ${describe(rate)}`);
    }
  }
}

/** Dropout of the previous layer's outputs: `new Sequential([dense(784, 256, 'relu'), dropout(0.5), dense(256, 10)])`. */
export function dropout(rate: number): Dropout {
  return new Dropout(rate);
}
