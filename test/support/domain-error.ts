import { DomainError } from '../../src/errors';

/** The DomainError a promise rejects with, as { kind, message }; fails the test if it resolves. */
export async function domainError(promise: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return { kind: (error as DomainError).kind, message: (error as DomainError).message };
  }
  throw new Error('expected a DomainError');
}
