// The runtime smoke test's program: the built package (dist/) trains the toy in whatever runtime runs
// this file, and prints what it used and the loss it reached, as one JSON line.
import { init, Sequential, dense, SGD, linearlySeparable } from '../../dist/index.js';

const options = JSON.parse(globalThis.process?.env?.SIMDPROP_INIT ?? '{}');
const report = await init(options);
const { x, y } = linearlySeparable(100, 42);
const model = new Sequential([dense(2, 8, 'relu'), dense(8, 1, 'sigmoid')], { seed: 1 });
const history = await model.fit(x, y, { epochs: 200, batchSize: 100, loss: 'bce', optimizer: new SGD(model, { lr: 0.3 }) });
console.log(JSON.stringify({
  description: report.description, threads: report.threads, reason: report.reason ?? null,
  first: history.loss[0], last: history.loss[history.loss.length - 1],
}));
