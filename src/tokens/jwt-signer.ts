import crypto from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { RingKey } from './key-ring';

/**
 * RS256 compact JWS through node:crypto's callback form, which signs on libuv's pool (every core)
 * with about half the main-thread time of jose's WebCrypto path here (bench/README.md, "Levers
 * (round 2)"). The output is byte for byte what jose's SignJWT makes for the same header and claims
 * (the same JSON, the same order, deterministic RS256), so a refresh token re-signed inside the
 * grace window is the same string whichever signer made the first copy. Verification stays in jwt.ts.
 */
export function createJwtSigner() {
  // `{"alg":"RS256","typ":…,"kid":…}` base64url-encoded, once per (typ, kid).
  const headers = new Map<string, string>();
  const headerSegment = (typ: string, kid: string): string => {
    const cacheKey = `${typ}\n${kid}`;
    let segment = headers.get(cacheKey);
    if (segment === undefined) {
      segment = Buffer.from(JSON.stringify({ alg: 'RS256', typ, kid })).toString('base64url');
      headers.set(cacheKey, segment);
    }
    return segment;
  };

  return {
    sign(typ: string, claims: JWTPayload, key: RingKey): Promise<string> {
      const { privateKey } = key;
      if (!privateKey) return Promise.reject(new Error(`no private key for ${key.kid}`));
      const input = `${headerSegment(typ, key.kid)}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return new Promise((resolve, reject) => {
        // RSA keys sign with PKCS#1 v1.5 padding by default: RS256 (RFC 7518 §3.3).
        crypto.sign('sha256', Buffer.from(input), privateKey, (error, signature) => {
          if (error) reject(error);
          else resolve(`${input}.${signature.toString('base64url')}`);
        });
      });
    },
  };
}

export type JwtSigner = ReturnType<typeof createJwtSigner>;

const rs256Keys = new WeakSet<crypto.KeyObject>();
function usableForRs256(key: crypto.KeyObject): boolean {
  if (rs256Keys.has(key)) return true;
  const usable = key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
  if (usable) rs256Keys.add(key);
  return usable;
}

/**
 * Whether an RS256 compact JWS's signature verifies with `publicKey`: RSASSA-PKCS1-v1_5 with
 * SHA-256 over its first two segments (RFC 7515 §5.2, RFC 7518 §3.3), through node:crypto's
 * callback form on libuv's pool. jose's compactVerify goes through WebCrypto, whose JavaScript
 * costs the main thread about three times as much per verification here (bench/README.md,
 * "Levers (round 2)"). Only the signature: the caller has checked the header (alg RS256) first.
 */
export function verifyRs256(token: string, publicKey: crypto.KeyObject): Promise<boolean> {
  // As jose would: RS256 takes an RSA key of 2048 bits or more (RFC 7518 §3.3).
  if (!usableForRs256(publicKey)) return Promise.resolve(false);
  const dot = token.lastIndexOf('.');
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  return new Promise((resolve) => {
    crypto.verify('sha256', Buffer.from(token.slice(0, dot)), publicKey, signature, (error, valid) =>
      resolve(!error && valid),
    );
  });
}
