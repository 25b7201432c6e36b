// CharTokenizer: the vocabulary (specials first, then code-point order), encode/decode round trips on
// astral text, the errors a user meets, and the JSON that is saved beside a model.
import { describe, expect, it } from 'vitest';
import { CharTokenizer } from '../../src/index.js';
import { expectError } from '../expect-error.js';

describe('CharTokenizer', () => {
  it('is nanoGPT\'s shakespeare_char vocabulary without specials: sorted distinct characters', () => {
    const tokenizer = CharTokenizer.fromText('First Citizen:\nBefore we proceed');
    expect(tokenizer.chars).toEqual(['\n', ' ', ':', 'B', 'C', 'F', 'c', 'd', 'e', 'f', 'i', 'n', 'o', 'p', 'r', 's', 't', 'w', 'z']);
    expect(tokenizer.vocabSize).toBe(19);
    expect(tokenizer.specials).toBe(0);
    expect(Array.from(tokenizer.encode('Be fine'))).toEqual([3, 8, 1, 9, 10, 11, 8]);
  });

  it('is makemore\'s vocabulary with specials [\'.\']: \'.\' is 0, the letters 1 … 26', () => {
    const tokenizer = CharTokenizer.fromText(['emma', 'olivia', 'ava', 'zbqxjkyghfuwtcdnprs'].join(''), { specials: ['.'] });
    expect(tokenizer.vocabSize).toBe(27);
    expect(tokenizer.chars.join('')).toBe('.abcdefghijklmnopqrstuvwxyz');
    expect(tokenizer.specials).toBe(1);
    expect(Array.from(tokenizer.encode('.emma.'))).toEqual([0, 5, 13, 13, 1, 0]);
    expect(tokenizer.decode([0, 1, 22, 1, 0])).toBe('.ava.');
  });

  it('puts specials first in the order given, once, whether the text holds them or not', () => {
    const tokenizer = CharTokenizer.fromText('b\na\n', { specials: ['\n', '\u0003'] });
    expect(tokenizer.chars).toEqual(['\n', '\u0003', 'a', 'b']);
    expect(Array.from(tokenizer.encode('ab\n\u0003'))).toEqual([2, 3, 0, 1]);
  });

  it('round-trips text, and ids to text', () => {
    const text = 'To be, or not to be: that is the question.\n';
    const tokenizer = CharTokenizer.fromText(text);
    const tokens = tokenizer.encode(text);
    expect(tokens).toBeInstanceOf(Int32Array);
    expect(tokens.length).toBe(text.length);
    expect(tokenizer.decode(tokens)).toBe(text);
    const ids = Array.from({ length: tokenizer.vocabSize }, (_, id) => id);
    expect(Array.from(tokenizer.encode(tokenizer.decode(ids)))).toEqual(ids);
    expect(tokenizer.encode('').length).toBe(0);
    expect(tokenizer.decode([])).toBe('');
  });

  it('treats an astral character as one character, sorted by code point, not by UTF-16 unit', () => {
    // U+1F600 is the pair D83D DE00 in UTF-16: a sort by units would put it before U+FF01.
    const text = '\u{1F600}a\uFF01\u{1D11E}a';
    const tokenizer = CharTokenizer.fromText(text);
    expect(tokenizer.chars).toEqual(['a', '\uFF01', '\u{1D11E}', '\u{1F600}']);
    const tokens = tokenizer.encode(text);
    expect(Array.from(tokens)).toEqual([3, 0, 1, 2, 0]);
    expect(tokens.length).toBe(5); // text.length is 7 UTF-16 units
    expect(tokenizer.decode(tokens)).toBe(text);
  });

  it('names the character and its position when encode meets one outside the vocabulary', () => {
    const tokenizer = CharTokenizer.fromText('abc', { specials: ['.'] });
    expectError(() => tokenizer.encode('ab.cd'), 'LABEL', /the character "d" \(U\+0064\) at position 4 is not in the vocabulary of 4 characters/);
    expectError(() => tokenizer.encode('a\n'), 'LABEL', /the character "\\n" \(U\+000A\) at position 1 /);
    // Positions count characters: the emoji before 'x' is one.
    expectError(() => CharTokenizer.fromText('\u{1F600}a').encode('\u{1F600}x'), 'LABEL', /"x" \(U\+0078\) at position 1 /);
    expectError(() => tokenizer.encode('\u{1F600}'), 'LABEL', /"\u{1F600}" \(U\+1F600\) at position 0 /u);
  });

  it('names the id and its position when decode meets one out of range', () => {
    const tokenizer = CharTokenizer.fromText('abc');
    expectError(() => tokenizer.decode([0, 1, 3]), 'LABEL', /token 3 at position 2 is not an id in \[0, 3\)/);
    expectError(() => tokenizer.decode(new Int32Array([-1])), 'LABEL', /token -1 at position 0 is not an id in \[0, 3\)/);
    expectError(() => tokenizer.decode([1.5]), 'LABEL', /token 1.5 at position 0 /);
    expectError(() => tokenizer.decode([NaN]), 'LABEL', /token NaN at position 0 /);
  });

  it('refuses specials that are not one character each, or given twice, and an empty vocabulary', () => {
    expectError(() => CharTokenizer.fromText('abc', { specials: ['<eot>'] }), 'OPTION', /token 0 is "<eot>", not one character/);
    expectError(() => CharTokenizer.fromText('abc', { specials: [''] }), 'OPTION', /token 0 is "", not one character/);
    expectError(() => CharTokenizer.fromText('abc', { specials: ['.', '.'] }), 'OPTION', /the character "\." \(U\+002E\) is in the vocabulary twice \(tokens 0 and 1\)/);
    expectError(() => CharTokenizer.fromText(''), 'OPTION', /the vocabulary would be empty/);
    expectError(() => CharTokenizer.fromText(42 as unknown as string), 'TYPE', /the text is number 42, not a string/);
  });

  it('saves as JSON and loads back the same tokenizer', () => {
    const tokenizer = CharTokenizer.fromText('hello \u{1F600}', { specials: ['.'] });
    const json = JSON.stringify(tokenizer);
    expect(JSON.parse(json)).toEqual({ kind: 'char', chars: ['.', ' ', 'e', 'h', 'l', 'o', '\u{1F600}'], specials: 1 });
    for (const again of [CharTokenizer.fromJSON(json), CharTokenizer.fromJSON(tokenizer.toJSON())]) {
      expect(again.chars).toEqual(tokenizer.chars);
      expect(again.specials).toBe(1);
      expect(Array.from(again.encode('.hello \u{1F600}.'))).toEqual(Array.from(tokenizer.encode('.hello \u{1F600}.')));
    }
  });

  it('refuses a saved tokenizer that is not one', () => {
    expectError(() => CharTokenizer.fromJSON('{"kind":'), 'FILE', /the tokenizer is not JSON/);
    expectError(() => CharTokenizer.fromJSON('[1, 2]'), 'FILE', /the tokenizer is an array of length 2: expected \{ kind: 'char'/);
    expectError(() => CharTokenizer.fromJSON({ kind: 'char', chars: ['a', 'a'], specials: 0 }), 'FILE', /does not hold together: the character "a" .* twice/);
    expectError(() => CharTokenizer.fromJSON({ kind: 'char', chars: ['a'], specials: 2 }), 'FILE', /specials is number 2: expected an integer in \[0, 1\]/);
  });

  it('keeps its vocabulary read-only', () => {
    const tokenizer = CharTokenizer.fromText('ab');
    expect(() => (tokenizer.chars as string[]).push('c')).toThrow(TypeError);
    expect(tokenizer.vocabSize).toBe(2);
  });
});
