/**
 * authd/verifier: kept for services that import the kit by this name. The kit is its own
 * package now, @authd/verifier (packages/verifier), with jose as its only dependency.
 */
export * from '@authd/verifier';
