// The module structure: imports run one way (no cycle, type-only imports included), and a layer kind
// knows nothing of the graph's execution, the tape, threads or files.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

function sources(folder: string): string[] {
  return readdirSync(folder).flatMap((entry) => {
    const path = join(folder, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return entry.endsWith('.ts') && !entry.endsWith('.d.ts') ? [path] : [];
  });
}

/** Each module's relative imports and re-exports (static, dynamic and type-only), as source paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gms),
    ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((match) => match[1]);
  return specifiers.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

const files = sources(src);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const name = (file: string): string => relative(root, file);

/** Every cycle found by depth-first search, each as the list of modules around it. */
function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].map(name));
      else if (!state.has(next) && graph.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return found;
}

describe('the module structure', () => {
  it('reads every source module and resolves its imports', () => {
    expect(files.length).toBeGreaterThan(50);
    for (const [file, imports] of graph) {
      for (const target of imports) expect(graph.has(target), `${name(file)} imports ${name(target)}, which does not exist`).toBe(true);
    }
  });

  it('has no import cycle: modules import downward only', () => {
    expect(cycles().map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    graph.set('a', ['b']);
    graph.set('b', ['a']);
    files.push('a', 'b');
    try {
      expect(cycles().some((cycle) => cycle.includes('a') && cycle.includes('b'))).toBe(true);
    } finally {
      graph.delete('a');
      graph.delete('b');
      files.splice(files.length - 2, 2);
    }
  });

  it('gives layer kinds no import of the graph\'s execution, the tape, threads or files', () => {
    const forbidden = [/src\/graph\/(model|plan)\.ts$/, /src\/backend\/wasm\//, /src\/threads\//, /src\/io\//, /src\/train\//, /src\/optim\//];
    for (const file of files.filter((f) => /src\/layers\/(?!registry\.ts)[^/]+\.ts$/.test(f))) {
      for (const target of graph.get(file)!) {
        expect(forbidden.some((pattern) => pattern.test(target)), `${name(file)} imports ${name(target)}`).toBe(false);
      }
    }
  });
});
