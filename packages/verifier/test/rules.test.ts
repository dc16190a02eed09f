/**
 * The kit keeps the rule set and the reason codes as constants (it reads no file at run time,
 * wherever it is installed); they must equal the written list in spec/verifier-cases.json, which
 * the Python kit follows too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EPOCH_KEY, REASONS, revocationKey, revokedKeyKey, RULES } from '@authd/verifier';

const spec = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../spec/verifier-cases.json'), 'utf8')) as {
  rules: Record<string, unknown>;
  reasons: Record<string, string>;
  cases: Array<{ expect: { reason?: string } }>;
};

describe('the kit follows spec/verifier-cases.json', () => {
  it('has the same rule set', () => {
    expect({
      algorithms: RULES.algorithms,
      typ: RULES.typ,
      header_allowlist: RULES.headerAllowlist,
      max_token_length: RULES.maxTokenLength,
      clock_skew_seconds: RULES.clockSkewSeconds,
      required_claims: RULES.requiredClaims,
      jwks_refetch_cooldown_seconds: RULES.jwksRefetchCooldownSeconds,
    }).toEqual(spec.rules);
  });

  it('knows exactly the reasons the spec lists, and every case expects one of them', () => {
    expect([...REASONS].sort()).toEqual(Object.keys(spec.reasons).sort());
    for (const { expect: outcome } of spec.cases) {
      if (outcome.reason !== undefined) expect(REASONS).toContain(outcome.reason);
    }
  });
});

describe('the revocation-index layout (the wire contract the server writes)', () => {
  it('keeps every key in the {rv} hash slot', () => {
    expect(EPOCH_KEY).toBe('{rv}:epoch');
    expect(revocationKey('jti', 'j1')).toBe('{rv}:jti:j1');
    expect(revocationKey('sid', 's1')).toBe('{rv}:sid:s1');
    expect(revocationKey('user', 'u1')).toBe('{rv}:user:u1');
    expect(revokedKeyKey('k1')).toBe('{rv}:kid:k1');
  });
});
