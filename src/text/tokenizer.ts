// A character-level tokenizer: one token per Unicode code point (astral characters included), ids
// 0 … vocabSize − 1 with the special tokens first, then the text's characters in code-point order.
import { SimdpropError, describe } from '../errors.js';

/** Options of {@link CharTokenizer.fromText}. */
export interface CharTokenizerOptions {
  /**
   * Characters that take the first ids, in the order given, whether or not the text holds them: a
   * start/end marker such as makemore's `'.'`, or an end-of-text character. Each is one character,
   * so that every token is one character and `decode(encode(s)) === s` for any `s` in the vocabulary.
   */
  specials?: readonly string[];
}

/** A tokenizer as {@link CharTokenizer.toJSON} writes it: the characters by id, the first `specials` of them special. */
export interface CharTokenizerJSON {
  kind: 'char';
  chars: string[];
  specials: number;
}

/**
 * Maps text to token ids, one id per character (code point), and back.
 *
 * `CharTokenizer.fromText(text)` is nanoGPT's shakespeare_char vocabulary (`sorted(set(text))`, ids in
 * that order); `CharTokenizer.fromText(words.join(''), { specials: ['.'] })` is makemore's (`'.'` is 0,
 * the letters 1 … 26 in order).
 */
export class CharTokenizer {
  /** The vocabulary: `chars[id]` is the character of token `id`. */
  readonly chars: readonly string[];
  /** How many of the first ids are special tokens (the `specials` given to {@link CharTokenizer.fromText}). */
  readonly specials: number;
  private readonly ids: ReadonlyMap<string, number>;

  /**
   * A tokenizer whose token `id` is `chars[id]`, of which the first `specials` are special. Each entry
   * must be one character (code point), and no two alike. Most code wants {@link CharTokenizer.fromText}.
   */
  constructor(chars: readonly string[], specials = 0) {
    const ids = new Map<string, number>();
    chars.forEach((char, id) => {
      if (typeof char !== 'string' || !isOneCharacter(char)) {
        throw new SimdpropError('OPTION', `token ${id} is ${describe(char)}, not one character`);
      }
      if (ids.has(char)) throw new SimdpropError('OPTION', `the character ${show(char)} is in the vocabulary twice (tokens ${ids.get(char)} and ${id})`);
      ids.set(char, id);
    });
    if (!Number.isInteger(specials) || specials < 0 || specials > chars.length) {
      throw new SimdpropError('OPTION', `specials is ${describe(specials)}: expected an integer in [0, ${chars.length}]`);
    }
    this.chars = Object.freeze([...chars]);
    this.specials = specials;
    this.ids = ids;
  }

  /**
   * The vocabulary of `text`: the `specials` first (ids 0, 1, … in the order given), then every other
   * distinct character of the text, sorted by code point.
   */
  static fromText(text: string, options: CharTokenizerOptions = {}): CharTokenizer {
    if (typeof text !== 'string') throw new SimdpropError('TYPE', `the text is ${describe(text)}, not a string`);
    const specials = options.specials ?? [];
    const distinct = new Set<string>();
    for (const char of text) distinct.add(char);
    for (const special of specials) distinct.delete(special);
    // By code point, as Python's sorted() orders str: the default sort compares UTF-16 units, which
    // puts astral characters (lead surrogates, U+D800–U+DBFF) before U+E000–U+FFFF.
    const sorted = [...distinct].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    const chars = [...specials, ...sorted];
    if (chars.length === 0) throw new SimdpropError('OPTION', 'the vocabulary would be empty: the text is empty and there are no specials');
    return new CharTokenizer(chars, specials.length);
  }

  /** A tokenizer from what {@link CharTokenizer.toJSON} returned, as an object or as JSON text. */
  static fromJSON(json: CharTokenizerJSON | string): CharTokenizer {
    let value: unknown = json;
    if (typeof json === 'string') {
      try {
        value = JSON.parse(json);
      } catch (error) {
        throw new SimdpropError('FILE', `the tokenizer is not JSON: ${(error as Error).message}`);
      }
    }
    const saved = value as Partial<CharTokenizerJSON> | null;
    if (saved === null || typeof saved !== 'object' || saved.kind !== 'char' || !Array.isArray(saved.chars) || typeof saved.specials !== 'number') {
      throw new SimdpropError('FILE', `the tokenizer is ${describe(value)}: expected { kind: 'char', chars: [...], specials: number }`);
    }
    try {
      return new CharTokenizer(saved.chars, saved.specials);
    } catch (error) {
      throw new SimdpropError('FILE', `the saved tokenizer does not hold together: ${(error as Error).message.replace(/^simdprop: /, '')}`);
    }
  }

  /** How many tokens there are: ids run from 0 to vocabSize − 1. */
  get vocabSize(): number {
    return this.chars.length;
  }

  /** The token ids of `text`, one per character; a character outside the vocabulary is a 'LABEL' error. */
  encode(text: string): Int32Array {
    if (typeof text !== 'string') throw new SimdpropError('TYPE', `the text is ${describe(text)}, not a string`);
    // At most one token per UTF-16 unit; fewer when the text holds astral characters.
    const tokens = new Int32Array(text.length);
    let position = 0;
    for (const char of text) {
      const id = this.ids.get(char);
      if (id === undefined) {
        throw new SimdpropError('LABEL', `the character ${show(char)} at position ${position} is not in the vocabulary of ${this.vocabSize} characters`);
      }
      tokens[position++] = id;
    }
    return position === tokens.length ? tokens : tokens.slice(0, position);
  }

  /** The text of `tokens`; an id that is not an integer in [0, vocabSize) is a 'LABEL' error. */
  decode(tokens: ArrayLike<number>): string {
    const parts = new Array<string>(tokens.length);
    for (let position = 0; position < tokens.length; position++) {
      const id = tokens[position];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new SimdpropError('LABEL', `token ${id} at position ${position} is not an id in [0, ${this.vocabSize})`);
      }
      parts[position] = this.chars[id];
    }
    return parts.join('');
  }

  /** The vocabulary as plain JSON, for saving beside a model; {@link CharTokenizer.fromJSON} reads it back. */
  toJSON(): CharTokenizerJSON {
    return { kind: 'char', chars: [...this.chars], specials: this.specials };
  }
}

function isOneCharacter(text: string): boolean {
  const first = text.codePointAt(0);
  return first !== undefined && text.length === (first > 0xffff ? 2 : 1);
}

// A character for an error message: quoted with escapes (so "\n" is visible) and its code point.
function show(char: string): string {
  return `${JSON.stringify(char)} (U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`;
}
