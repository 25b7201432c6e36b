import { it } from 'vitest';
import { AdamW, SGD, gpt, init, Rng } from '../../src/index.js';
import { allocationDuring } from '../allocation.js';
it('measures', async () => {
  await init({ threads: 1 });
  const rng = new Rng(7);
  const x = Int32Array.from({ length: 12 }, () => rng.below(9));
  const y = Int32Array.from({ length: 12 }, () => rng.below(9));
  for (const variant of ['adamw-groups', 'adamw', 'sgd', 'adamw-groups-noclip']) {
    const model = gpt({ vocabSize: 9, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8 }, { seed: 3, backend: 'wasm' });
    const optimizer = variant === 'sgd' ? new SGD(model, { lr: 0.01 }) : variant === 'adamw' ? new AdamW(model, { lr: 1e-3 }) : new AdamW(model, { lr: 1e-3, weightDecay: 0.1, groups: [{ params: 'noDecay', weightDecay: 0 }] });
    const options = { loss: 'softmaxCrossEntropy' as const, optimizer, clipNorm: variant.endsWith('noclip') ? undefined : 1 };
    for (let i = 0; i < 10000; i++) model.trainStep(x, y, options);
    for (let k = 0; k < 3; k++) {
      const r = await allocationDuring(() => { for (let i = 0; i < 5000; i++) model.trainStep(x, y, options); });
      console.log(variant, r.heapGrowth / 5000, r.collections);
    }
  }
});
