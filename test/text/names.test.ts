// The names data of examples/names-data.ts: what loads, the seeded split, the token stream, the
// training batches (targets are the inputs shifted by one), the evaluation windows, and the bigram
// baseline against probabilities and a loss computed by hand.
import { describe, expect, it } from 'vitest';
import {
  bigramLoss, fitBigram, loadNames, normalizeNames, rawNames, sampleBatch, splitNames, tokenStream, windows,
} from '../../examples/names-data.js';
import { CharTokenizer, Rng } from '../../src/index.js';
import { BOXED_LOSS, expectStepsWithin } from '../allocation.js';
import { expectError } from '../expect-error.js';

const letters = CharTokenizer.fromText('abcdefghijklmnopqrstuvwxyz', { specials: ['.'] });

describe('the names', () => {
  it('load from both packages: 8,849 names, 19 with a hyphen dropped, 427 met twice, 8,403 kept', () => {
    const raw = rawNames();
    expect(raw.length).toBe(4951 + 3898);
    expect(raw.slice(0, 2)).toEqual(['Aaren', 'Aarika']);
    const { names, dropped, duplicates } = normalizeNames(raw);
    expect(dropped.length).toBe(19);
    expect(dropped.slice(0, 3)).toEqual(['ann-marie', 'anna-diana', 'anna-diane']);
    expect(dropped.every((name) => name.includes('-'))).toBe(true);
    expect(duplicates).toBe(427);
    expect(names.length).toBe(8403);
    expect(loadNames()).toEqual(names);
    expect(names.every((name) => /^[a-z]+$/.test(name))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual(names);
    expect(names.slice(0, 3)).toEqual(['aaren', 'aarika', 'aaron']);
    expect(CharTokenizer.fromText(names.join(''), { specials: ['.'] }).chars).toEqual(letters.chars);
  });

  it('normalize: lowercase, a–z only, each once, sorted', () => {
    const { names, dropped, duplicates } = normalizeNames(['Zoe', 'Ann-Marie', 'ava', 'ZOE', "O'Neil", 'Ava', 'Émile', 'bo']);
    expect(names).toEqual(['ava', 'bo', 'zoe']);
    expect(dropped).toEqual(['ann-marie', "o'neil", 'émile']);
    expect(duplicates).toBe(2);
  });

  it('split by a seed: the same seed the same split, disjoint, 90/10', () => {
    const names = loadNames();
    const split = splitNames(names, 1, 0.1);
    expect(split.heldOut.length).toBe(840);
    expect(split.train.length).toBe(7563);
    expect(splitNames(names, 1, 0.1)).toEqual(split);
    const heldOut = new Set(split.heldOut);
    expect(split.train.some((name) => heldOut.has(name))).toBe(false);
    expect([...split.train, ...split.heldOut].sort()).toEqual(names);
    expect(splitNames(names, 2, 0.1).heldOut).not.toEqual(split.heldOut);
    expect(splitNames(['a', 'b', 'c'], 1, 0).heldOut).toEqual([]);
    expectError(() => splitNames(names, 1, 1.5), 'OPTION', /heldOutFraction is 1.5: expected a number in \[0, 1\]/);
  });
});

describe('the token stream', () => {
  it('frames each name with \'.\', the \'.\' between two names shared', () => {
    const stream = tokenStream(['emma', 'ava'], letters);
    expect(Array.from(stream)).toEqual([0, 5, 13, 13, 1, 0, 1, 22, 1, 0]);
    expect(letters.decode(stream)).toBe('.emma.ava.');
    expect(tokenStream([], letters).length).toBe(1);
    expectError(() => tokenStream(['emma', 'a.b'], letters), 'OPTION', /name 1 is "a.b": a name must be non-empty and hold no '.'/);
    expectError(() => tokenStream(['emma', ''], letters), 'OPTION', /name 1 is ""/);
    expectError(() => tokenStream(['zoë'], letters), 'LABEL', /the character "ë" \(U\+00EB\) at position 3 /);
  });
});

describe('the batches', () => {
  it('are windows of the stream at random offsets: targets are the inputs shifted by one', () => {
    // Token i of this stream is i, so a window's start is its first input.
    const stream = Int32Array.from({ length: 20 }, (_, i) => i);
    const [batchSize, blockSize] = [4, 5];
    const inputs = new Int32Array(batchSize * blockSize);
    const targets = new Int32Array(batchSize * blockSize);
    const rng = new Rng(7);
    const starts = new Set<number>();
    for (let step = 0; step < 200; step++) {
      sampleBatch(stream, batchSize, blockSize, rng, inputs, targets);
      for (let row = 0; row < batchSize; row++) {
        const start = inputs[row * blockSize];
        starts.add(start);
        for (let t = 0; t < blockSize; t++) {
          expect(inputs[row * blockSize + t]).toBe(start + t);
          expect(targets[row * blockSize + t]).toBe(start + t + 1);
        }
      }
    }
    // Every offset of [0, 20 − 5) is drawn, the last window ending on the stream's last token.
    expect([...starts].sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i));
  });

  it('are the same for the same seed, on the real stream', () => {
    const stream = tokenStream(splitNames(loadNames(), 1).train, letters);
    const draw = (): [number[], number[]] => {
      const inputs = new Int32Array(8 * 16);
      const targets = new Int32Array(8 * 16);
      sampleBatch(stream, 8, 16, new Rng(3), inputs, targets);
      return [Array.from(inputs), Array.from(targets)];
    };
    const [inputs, targets] = draw();
    expect(draw()).toEqual([inputs, targets]);
    for (let row = 0; row < 8; row++) {
      for (let t = 0; t + 1 < 16; t++) expect(targets[row * 16 + t]).toBe(inputs[row * 16 + t + 1]);
    }
  });

  it('allocate nothing per step', async () => {
    const stream = tokenStream(splitNames(loadNames(), 1).train, letters);
    const inputs = new Int32Array(32 * 16);
    const targets = new Int32Array(32 * 16);
    const rng = new Rng(1);
    await expectStepsWithin(() => sampleBatch(stream, 32, 16, rng, inputs, targets), 200, 2000, BOXED_LOSS);
  });

  it('draw from the same Rng sequence as ever (its state moved from four fields into a Uint32Array)', () => {
    // The values of Rng(1) before the move, when each draw boxed the state words it stored.
    const rng = new Rng(1);
    expect(Array.from({ length: 5 }, () => rng.nextUint32())).toEqual([2442144158, 3238099751, 3819917871, 2104621829, 2021136066]);
    rng.uniform();
    rng.normal();
    rng.normal();
    rng.below(1000);
    const order = Int32Array.from({ length: 10 }, (_, i) => i);
    rng.shuffle(order);
    expect(Array.from(order)).toEqual([0, 7, 3, 5, 1, 2, 9, 6, 4, 8]);
  });

  it('refuse arrays of the wrong size and a stream shorter than a window', () => {
    const stream = new Int32Array(10);
    expectError(() => sampleBatch(stream, 2, 4, new Rng(1), new Int32Array(7), new Int32Array(8)), 'SHAPE', /hold 7 and 8 tokens: expected batchSize × blockSize = 8/);
    expectError(() => sampleBatch(stream, 1, 10, new Rng(1), new Int32Array(10), new Int32Array(10)), 'SHAPE', /the stream holds 10 tokens: a window needs blockSize \+ 1 = 11/);
    expectError(() => windows(stream, 0), 'OPTION', /blockSize is 0: expected an integer ≥ 1/);
  });
});

describe('the evaluation windows', () => {
  it('make every position 1 … count·T a target once, dropping the tail', () => {
    const stream = Int32Array.from({ length: 11 }, (_, i) => i);
    const { inputs, targets, count } = windows(stream, 3);
    expect(count).toBe(3);
    expect(Array.from(inputs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(targets)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(windows(stream, 10).count).toBe(1);
    expect(windows(stream, 5).targets.length).toBe(10);
  });
});

describe('the bigram baseline', () => {
  // Pairs of [0, 1, 2, 0, 1, 0]: 0→1 twice, 1→2, 2→0, 1→0.
  const stream = Int32Array.from([0, 1, 2, 0, 1, 0]);

  it('has add-one probabilities, by hand', () => {
    const table = fitBigram(stream, 3);
    const expected = [1 / 5, 3 / 5, 1 / 5, 2 / 5, 1 / 5, 2 / 5, 2 / 4, 1 / 4, 1 / 4];
    table.forEach((p, i) => expect(p).toBeCloseTo(expected[i], 15));
  });

  it('has the empirical frequencies with no smoothing, and a row of zeros for a token never followed', () => {
    const table = fitBigram(Int32Array.from([0, 1, 0, 0]), 3, 0);
    expect(Array.from(table)).toEqual([0.5, 0.5, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('averages the loss over exactly the targets of the consecutive windows', () => {
    const table = fitBigram(stream, 3);
    // windows(stream, 2): inputs [0, 1 | 2, 0], targets [1, 2 | 0, 1]; the last pair 1→0 is not counted.
    const expected = -(Math.log(3 / 5) + Math.log(2 / 5) + Math.log(2 / 4) + Math.log(3 / 5)) / 4;
    expect(bigramLoss(table, windows(stream, 2))).toBeCloseTo(expected, 14);
    // windows(stream, 5): every pair.
    const all = -(2 * Math.log(3 / 5) + Math.log(2 / 5) + Math.log(2 / 4) + Math.log(2 / 5)) / 5;
    expect(bigramLoss(table, windows(stream, 5))).toBeCloseTo(all, 14);
  });

  it('refuses tokens outside the vocabulary and a table that is not square', () => {
    expectError(() => fitBigram(Int32Array.from([0, 3]), 3), 'LABEL', /token 3 at position 1 is not in \[0, 3\)/);
    expectError(() => bigramLoss(new Float64Array(8), windows(stream, 2)), 'SHAPE', /the table holds 8 numbers/);
    expectError(() => fitBigram(stream, 3, -1), 'OPTION', /smoothing is -1/);
  });

  it('is 2.4447 nats per position on the held-out names (blockSize 16), trained on the rest', () => {
    const { train, heldOut } = splitNames(loadNames(), 1, 0.1);
    const table = fitBigram(tokenStream(train, letters), letters.vocabSize);
    const evaluation = windows(tokenStream(heldOut, letters), 16);
    expect(evaluation.count).toBe(367);
    const loss = bigramLoss(table, evaluation);
    expect(loss).toBeCloseTo(2.4447, 4);
    // Far below the uniform model's ln 27 = 3.2958.
    expect(loss).toBeLessThan(Math.log(27) - 0.8);
  });
});
