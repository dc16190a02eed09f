import crypto from 'node:crypto';
import type { AuditLog } from '../audit/audit-log';
import type { Clock } from '../clock';
import { DomainError } from '../errors';
import type { ChallengeRecord, MfaRepository } from './mfa-repository';
import { digestRecoveryCode, generateRecoveryCodes, normalizeRecoveryCode } from './recovery-codes';
import { openSecret, sealSecret, type MfaKeys } from './secret-box';
import { base32Encode, generateTotpSecret, matchTotp, provisioningUri } from './totp';

/** How long the mfa_token of a password step lives, and how many codes it may try. */
export const MFA_TOKEN_TTL_SECONDS = 300;
export const MFA_TOKEN_MAX_ATTEMPTS = 5;

export type SecondFactor = { otp: string } | { recoveryCode: string };
/** Which factor was accepted: an authenticator code or a recovery code (RFC 8176 'otp' or none of its values). */
export type AcceptedFactor = 'otp' | 'recovery_code';

export interface MfaStatus {
  enabled: boolean;
  enrolledAt: Date | null;
  recoveryCodesLeft: number;
}

export interface MfaServiceDeps {
  repository: MfaRepository;
  keys: MfaKeys;
  clock: Clock;
  audit: AuditLog;
  /** The issuer shown in authenticator apps (the brand name). */
  issuerName: string;
  /** Called after a confirmed second factor was removed: queues the notice to the owner. */
  onRemoved?: (userId: string, by: 'user' | 'admin') => Promise<void>;
}

const digestToken = (token: string) => crypto.createHash('sha256').update(token).digest('base64url');

export function createMfaService({ repository, keys, clock, audit, issuerName, onRemoved }: MfaServiceDeps) {
  const now = () => new Date(clock.now());

  async function confirmedSecret(userId: string): Promise<Buffer | undefined> {
    const totp = await repository.findTotp(userId);
    return totp?.confirmedAt ? openSecret(keys.secrets, totp.secretSealed, userId) : undefined;
  }

  return {
    async status(userId: string): Promise<MfaStatus> {
      const totp = await repository.findTotp(userId);
      const enabled = Boolean(totp?.confirmedAt);
      return {
        enabled,
        enrolledAt: totp?.confirmedAt ?? null,
        recoveryCodesLeft: enabled ? await repository.recoveryCodesLeft(userId) : 0,
      };
    },

    async isEnabled(userId: string): Promise<boolean> {
      return Boolean((await repository.findTotp(userId))?.confirmedAt);
    },

    /** A new secret awaiting its first code; starting again replaces it. The caller shows it once. */
    async startEnrolment(user: { id: string; username: string }): Promise<{ secret: string; uri: string }> {
      const secret = generateTotpSecret();
      if (!(await repository.savePending(user.id, sealSecret(keys.secrets, secret, user.id), now()))) {
        throw new DomainError('conflict', 'A second factor is already set up; disable it first.');
      }
      return { secret: base32Encode(secret), uri: provisioningUri(secret, issuerName, user.username) };
    },

    /** The first valid code turns the pending secret on; returns the ten recovery codes, shown this once. */
    async confirmEnrolment(userId: string, code: string): Promise<string[]> {
      const totp = await repository.findTotp(userId);
      if (!totp || totp.confirmedAt)
        throw new DomainError('conflict', totp ? 'A second factor is already set up.' : 'Start the enrolment first.');
      const step = matchTotp(openSecret(keys.secrets, totp.secretSealed, userId), code.trim(), clock.now());
      if (step === undefined)
        throw new DomainError(
          'invalid',
          'The code is wrong or expired; check the time on the device and try the current code.',
        );
      const codes = generateRecoveryCodes();
      const digests = codes.map((c) => digestRecoveryCode(keys.recoveryCodes, normalizeRecoveryCode(c) ?? c));
      if (!(await repository.confirm(userId, totp.secretSealed, step, now(), digests))) {
        throw new DomainError('conflict', 'The enrolment changed meanwhile; start again.');
      }
      audit.record({ type: 'mfa_enabled', userId, details: { factor: 'totp' } });
      return codes;
    },

    /**
     * Checks and spends a second factor: a TOTP code (each time step once) or an unused recovery
     * code. Undefined when it is wrong, replayed, or the user has no second factor.
     */
    async verify(userId: string, factor: SecondFactor): Promise<AcceptedFactor | undefined> {
      if ('otp' in factor) {
        const secret = await confirmedSecret(userId);
        const step = secret && matchTotp(secret, factor.otp.trim(), clock.now());
        return step !== undefined && (await repository.acceptStep(userId, step)) ? 'otp' : undefined;
      }
      const normalized = normalizeRecoveryCode(factor.recoveryCode);
      if (normalized === undefined) return undefined;
      if (!(await repository.useRecoveryCode(userId, digestRecoveryCode(keys.recoveryCodes, normalized), now())))
        return undefined;
      audit.record({
        type: 'mfa_recovery_code_used',
        userId,
        details: { left: await repository.recoveryCodesLeft(userId) },
      });
      return 'recovery_code';
    },

    /** Ten new recovery codes, shown this once; the old ones stop working with the same commit. */
    async regenerateRecoveryCodes(userId: string): Promise<string[]> {
      const codes = generateRecoveryCodes();
      const digests = codes.map((c) => digestRecoveryCode(keys.recoveryCodes, normalizeRecoveryCode(c) ?? c));
      if (!(await repository.replaceRecoveryCodes(userId, digests)))
        throw new DomainError('conflict', 'No second factor is set up.');
      audit.record({ type: 'mfa_recovery_codes_regenerated', userId, details: { codes: codes.length } });
      return codes;
    },

    /** Removes the second factor; `by` is 'user' (after password and factor) or 'admin'. */
    async remove(userId: string, by: 'user' | 'admin'): Promise<boolean> {
      const removed = await repository.remove(userId);
      audit.record({ type: by === 'admin' ? 'mfa_reset' : 'mfa_disabled', userId, details: { had_mfa: removed } });
      if (removed) await onRemoved?.(userId, by);
      return removed;
    },

    /** The opaque mfa_token of a password step: random, stored as a digest, bound to the client. */
    async issueChallenge(challenge: ChallengeRecord): Promise<string> {
      const token = crypto.randomBytes(32).toString('base64url');
      const at = clock.now();
      await repository.createChallenge({
        ...challenge,
        tokenDigest: digestToken(token),
        expiresAt: new Date(at + MFA_TOKEN_TTL_SECONDS * 1000),
      });
      // Now and then, forget the challenges nobody finished.
      if (crypto.randomInt(100) === 0)
        await repository.deleteExpiredChallenges(new Date(at - 86_400_000)).catch(() => {});
      return token;
    },

    claimChallenge(token: string, clientId: string): Promise<ChallengeRecord | undefined> {
      return repository.claimAttempt(digestToken(token), clientId, now(), MFA_TOKEN_MAX_ATTEMPTS);
    },

    consumeChallenge(token: string): Promise<boolean> {
      return repository.consumeChallenge(digestToken(token), now());
    },
  };
}

export type MfaService = ReturnType<typeof createMfaService>;
