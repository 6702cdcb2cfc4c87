import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The shape of src/ (README, "Architecture"): imports between its folders run one
 * way, type imports included. A node is a folder of src/ (`chat/`) or a file at its
 * top (`errors.ts`); an arrow is any relative import from one node into another.
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

const nodeOf = (file: string) => {
  const parts = relative(SRC, file).split(sep);
  return parts.length > 1 ? `${parts[0]}/` : parts[0]!;
};

/** Every relative module specifier of a file: `import`, `import type`, `export … from`, `import()`. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.[^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

/** node → the nodes it imports, with one example import per arrow (for the failure message). */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(SRC)) {
    const from = nodeOf(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const to = nodeOf(resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      if (!graph.get(from)!.has(to)) graph.get(from)!.set(to, `${relative(SRC, file)} imports ${spec}`);
    }
  }
  return graph;
}

/** The cycles of a graph, each as the path that closes it (depth-first search). */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

describe('architecture of src/', () => {
  const graph = folderGraph();
  const importsOf = (node: string) => [...(graph.get(node)?.keys() ?? [])].sort();

  it('has no cycle between its folders and top-level files (type imports included)', () => {
    const found = cycles(graph).map((c) => c.map((n, i) => (i ? graph.get(c[i - 1]!)!.get(n) : n)).join('\n  → '));
    expect(found, found.join('\n\n')).to.deep.equal([]);
  });

  it('keeps the domain (chat/) free of the layers around it', () => {
    expect(importsOf('chat/')).to.deep.equal(['errors.ts']);
  });

  it("imports only what the README's table allows, layer by layer", () => {
    const kernel = ['config.ts', 'errors.ts', 'logger.ts', 'timings.ts', 'paths.ts'];
    const allowed: Record<string, string[]> = {
      'store/': ['chat/', 'realtime/', 'security/'],
      'web/': ['auth/', 'http/', 'chat/', 'security/', 'ops/'],
      'auth/': ['http/', 'chat/', 'session/', 'security/', 'ops/'],
      'realtime/': ['chat/', 'session/', 'security/', 'ops/'],
      'security/': ['ops/'],
      'http/': [],
      'chat/': [],
      'session/': [],
      'ops/': [],
    };
    for (const [layer, may] of Object.entries(allowed)) {
      const beyond = importsOf(layer).filter((n) => !may.includes(n) && !kernel.includes(n));
      expect(beyond, `${layer} imports ${beyond.map((n) => graph.get(layer)!.get(n)).join('; ')}`).to.deep.equal([]);
    }
  });

  it('keeps the kernel files free of every folder', () => {
    for (const kernel of ['config.ts', 'errors.ts', 'logger.ts', 'timings.ts', 'paths.ts']) {
      expect(importsOf(kernel).filter((n) => n.endsWith('/')), kernel).to.deep.equal([]);
    }
  });

  it('lets only the composition (app.ts, start.ts, server.ts) see the stores, and the stores see no transport', () => {
    const seeStores = [...graph.keys()].filter((n) => graph.get(n)!.has('store/')).sort();
    for (const n of seeStores) expect(['app.ts', 'server.ts', 'start.ts'], `${n} imports store/`).to.include(n);
    expect(importsOf('store/')).to.not.include.members(['web/', 'http/', 'auth/']);
  });

  it('finds the arrows it checks (the parser sees type imports)', () => {
    // A check that saw nothing would pass vacuously: these arrows exist, one of them type-only.
    expect(importsOf('realtime/')).to.include('chat/');
    expect(importsOf('store/')).to.include.members(['chat/', 'realtime/']);
    expect(readFileSync(join(SRC, 'store/redis/room-channels.ts'), 'utf8')).to.match(/import type .* from '\.\.\/\.\.\/realtime\/ports\.js'/);
  });
});

describe('architecture of the browser client (public/js/)', () => {
  const PUBLIC = resolve(SRC, '../public/js');
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
  /** The file's code without its comments (the JSDoc types may name DOM types). */
  const code = (file: string) => readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');

  it('keeps its core free of the page: no document, window, storage or DOM elements (so it is unit-tested without one)', () => {
    const core = files(join(PUBLIC, 'chat/core'));
    expect(core.length).to.be.greaterThan(3);
    for (const file of core) expect(code(file), relative(PUBLIC, file)).to.not.match(/\b(document|window|localStorage|sessionStorage|HTMLElement|navigator)\b/);
  });

  it('calls the HTTP API from one module only (chat/api.js)', () => {
    const callers = files(PUBLIC).filter((f) => /\b(fetch|XMLHttpRequest)\s*\(|new XMLHttpRequest/.test(code(f)));
    expect(callers.map((f) => relative(PUBLIC, f))).to.deep.equal(['chat/api.js']);
  });
});
