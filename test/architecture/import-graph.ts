/**
 * The import graph of the server (src/) and the verifier kit (packages/verifier/src), and the
 * layer rules it must keep. Read with the TypeScript compiler's own pre-processor, so `import
 * type`, `export … from`, `require()` and `import()` all count as edges.
 */
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

/** Repository-relative posix paths of a file to the targets it imports: files, or `pkg:<name>`. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

const ROOT = path.resolve(__dirname, '../..');
export const KIT = 'packages/verifier/src/';

function listSources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return listSources(rel);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [rel] : [];
  });
}

function resolveRelative(from: string, specifier: string): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [base, `${base}.ts`, `${base}/index.ts`]) {
    const file = path.join(ROOT, candidate);
    if (fs.existsSync(file) && fs.statSync(file).isFile()) return candidate;
  }
  return base; // a JSON file or a path that does not exist: still an edge to that place
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`, `node:fs` → `node:fs`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

export function readImportGraph(dirs: readonly string[] = ['src', 'packages/verifier/src']): ImportGraph {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap(listSources)) {
    const info = ts.preProcessFile(fs.readFileSync(path.join(ROOT, file), 'utf8'), true, true);
    graph.set(
      file,
      info.importedFiles.map(({ fileName }) =>
        fileName.startsWith('.') ? resolveRelative(file, fileName) : `pkg:${packageName(fileName)}`,
      ),
    );
  }
  return graph;
}

export function isEdge(file: string): boolean {
  return (
    file.startsWith('src/http/') || file.startsWith('src/cli/') || file === 'src/app.ts' || file === 'src/server.ts'
  );
}

/** The domain: records and their rules, behind stores; no use cases above them, no HTTP. */
const DOMAIN = ['src/users/', 'src/clients/', 'src/tokens/', 'src/sessions/', 'src/revocation/'];
const isCore = (file: string) => file.startsWith('src/') && !isEdge(file);
const isDomain = (file: string) => DOMAIN.some((dir) => file.startsWith(dir));
/** A store implementation (SQL): only the composition root, the CLI and its own folder open one. */
const isStoreImplementation = (file: string) => /^src\/[^/]+\/[^/]+-repository\.ts$/.test(file);
const isStoreConsumer = (file: string) => file.startsWith('src/oauth/') || file.startsWith('src/http/');
/** Express and its middleware belong to the edge alone. */
const HTTP_PACKAGES = new Set(['pkg:express', 'pkg:helmet', 'pkg:supertest']);

/** src/http/token.ts → src/http; src/services.ts → src/services; the kit is one unit. */
export function unitOf(file: string): string {
  if (file.startsWith(KIT)) return 'packages/verifier';
  const parts = file.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : file.replace(/\.ts$/, '');
}

export interface BoundaryOptions {
  /** Packages the kit may import (its package.json dependencies and peers). */
  kitPackages: ReadonlySet<string>;
}

export function kitPackages(): Set<string> {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'packages/verifier/package.json'), 'utf8')) as Record<
    string,
    Record<string, string> | undefined
  >;
  return new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
}

const isBuiltin = (name: string) => name.startsWith('node:') || builtinModules.includes(name);

/** Every broken rule, as `file -> target: rule`; empty when the graph keeps the layers. */
export function checkBoundaries(graph: ImportGraph, options: BoundaryOptions): string[] {
  const violations: string[] = [];
  const flag = (file: string, target: string, rule: string) => violations.push(`${file} -> ${target}: ${rule}`);
  for (const [file, targets] of graph) {
    for (const target of targets) {
      if (file.startsWith(KIT)) {
        const name = target.startsWith('pkg:') ? target.slice(4) : undefined;
        if (name === undefined ? !target.startsWith(KIT) : !isBuiltin(name) && !options.kitPackages.has(name)) {
          flag(file, target, 'the verifier kit imports nothing outside itself');
        }
        continue;
      }
      if (target.startsWith(KIT)) flag(file, target, 'the server imports the kit by its package name, @authd/verifier');
      if (isCore(file) && isEdge(target)) flag(file, target, 'core never imports the HTTP edge');
      if (isCore(file) && HTTP_PACKAGES.has(target)) flag(file, target, 'express types live only in the HTTP edge');
      if (isDomain(file) && (target.startsWith('src/oauth/') || target.startsWith('src/http/'))) {
        flag(file, target, 'the domain never imports oauth or http');
      }
      if (isStoreConsumer(file) && isStoreImplementation(target)) {
        flag(file, target, 'use cases and the edge depend on store interfaces, never on a repository');
      }
    }
  }
  for (const cycle of unitCycles(graph)) violations.push(`cycle between ${cycle.join(', ')}`);
  return violations;
}

/** The strongly connected sets of two or more top-level units (Tarjan). */
export function unitCycles(graph: ImportGraph): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const [file, targets] of graph) {
    const from = unitOf(file);
    const out = edges.get(from) ?? new Set<string>();
    edges.set(from, out);
    for (const target of targets) {
      if (target.startsWith('pkg:')) continue;
      const to = unitOf(target);
      if (to !== from) out.add(to);
    }
  }
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (unit: string) => {
    index.set(unit, counter);
    low.set(unit, counter++);
    stack.push(unit);
    onStack.add(unit);
    for (const next of edges.get(unit) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(unit, Math.min(low.get(unit)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(unit, Math.min(low.get(unit)!, index.get(next)!));
      }
    }
    if (low.get(unit) === index.get(unit)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== unit);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const unit of [...edges.keys()].sort()) if (!index.has(unit)) visit(unit);
  return cycles;
}
