import { checkBoundaries, kitPackages, readImportGraph, unitCycles, type ImportGraph } from './import-graph';

const options = { kitPackages: new Set(['jose', 'ioredis']) };
const graphOf = (edges: Record<string, string[]>): ImportGraph => new Map(Object.entries(edges));

describe('import boundaries', () => {
  it('the server and the verifier kit keep every layer rule', () => {
    const graph = readImportGraph();
    // A reader that found nothing would pass every rule: make sure it read the real graph.
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('src/app.ts')).toEqual(expect.arrayContaining(['src/http/token.ts', 'pkg:express']));
    expect(graph.get('packages/verifier/src/index.ts')).toEqual(
      expect.arrayContaining(['packages/verifier/src/verify.ts']),
    );
    expect(checkBoundaries(graph, { kitPackages: kitPackages() })).toEqual([]);
  });

  it.each<{ description: string; edges: Record<string, string[]>; rule: string }>([
    {
      description: 'core importing the edge',
      edges: { 'src/audit/a.ts': ['src/http/b.ts'] },
      rule: 'core never imports the HTTP edge',
    },
    {
      description: 'the composition root importing the edge',
      edges: { 'src/services.ts': ['src/http/client-auth.ts'] },
      rule: 'core never imports the HTTP edge',
    },
    {
      description: 'a grant importing the edge',
      edges: { 'src/oauth/grants/x.ts': ['src/http/param-schemas.ts'] },
      rule: 'core never imports the HTTP edge',
    },
    {
      description: 'core importing express',
      edges: { 'src/metrics.ts': ['pkg:express'] },
      rule: 'express types live only in the HTTP edge',
    },
    {
      description: 'the domain importing oauth',
      edges: { 'src/users/a.ts': ['src/oauth/scope.ts'] },
      rule: 'the domain never imports oauth or http',
    },
    {
      description: 'the revocation store importing oauth',
      edges: { 'src/revocation/a.ts': ['src/oauth/revoked-key.ts'] },
      rule: 'the domain never imports oauth or http',
    },
    {
      description: 'a grant importing a store implementation',
      edges: { 'src/oauth/grants/x.ts': ['src/sessions/session-repository.ts'] },
      rule: 'use cases and the edge depend on store interfaces, never on a repository',
    },
    {
      description: 'the edge importing a store implementation',
      edges: { 'src/http/x.ts': ['src/clients/client-repository.ts'] },
      rule: 'use cases and the edge depend on store interfaces, never on a repository',
    },
    {
      description: 'the kit importing the server',
      edges: { 'packages/verifier/src/a.ts': ['src/errors.ts'] },
      rule: 'the verifier kit imports nothing outside itself',
    },
    {
      description: 'the kit importing a package it does not declare',
      edges: { 'packages/verifier/src/a.ts': ['pkg:zod'] },
      rule: 'the verifier kit imports nothing outside itself',
    },
    {
      description: 'the server reaching into the kit by path',
      edges: { 'src/revocation/a.ts': ['packages/verifier/src/redis-keys.ts'] },
      rule: 'the server imports the kit by its package name',
    },
  ])('refuses $description', ({ edges, rule }) => {
    const [violation, ...rest] = checkBoundaries(graphOf(edges), options);
    expect(rest).toEqual([]);
    expect(violation).toContain(rule);
    expect(violation).toContain(Object.keys(edges)[0]);
  });

  it('allows what the layers allow', () => {
    expect(
      checkBoundaries(
        graphOf({
          'src/app.ts': ['src/http/token.ts', 'src/services.ts', 'pkg:express'],
          'src/http/token.ts': ['src/oauth/grants/password.ts', 'pkg:express'],
          'src/oauth/grants/password.ts': [
            'src/users/user-service.ts',
            'src/scopes/scope.ts',
            'src/users/user-store.ts',
          ],
          'src/services.ts': ['src/users/user-repository.ts', 'src/users/user-store.ts'],
          'src/users/user-service.ts': ['src/scopes/scope.ts', 'src/errors.ts'],
          'src/revocation/redis-revocation-store.ts': ['pkg:@authd/verifier'],
          'packages/verifier/src/index.ts': [
            'packages/verifier/src/verify.ts',
            'pkg:jose',
            'pkg:node:crypto',
            'pkg:crypto',
          ],
        }),
        options,
      ),
    ).toEqual([]);
  });

  it('finds a cycle between top-level folders, however long', () => {
    const graph = graphOf({
      'src/tokens/a.ts': ['src/sessions/b.ts'],
      'src/sessions/b.ts': ['src/audit/c.ts'],
      'src/audit/c.ts': ['src/tokens/d.ts'],
      'src/tokens/d.ts': [],
      'src/users/e.ts': ['src/users/f.ts', 'src/errors.ts'],
    });
    expect(unitCycles(graph)).toEqual([['src/audit', 'src/sessions', 'src/tokens']]);
    expect(checkBoundaries(graph, options)).toEqual(['cycle between src/audit, src/sessions, src/tokens']);
  });
});
