import type { UserStore } from './user-store';
import { usernameSkeleton } from './username';

/**
 * Gives the users created before skeletons were stored theirs, so a new look-alike of an old name
 * is refused too. Two old users that already look alike cannot share one: the later keeps none,
 * and is returned so the operator can be told.
 */
export async function backfillUsernameSkeletons(
  users: Pick<UserStore, 'withoutSkeleton' | 'setSkeleton'>,
): Promise<{ filled: number; lookAlikes: string[] }> {
  let filled = 0;
  const lookAlikes: string[] = [];
  for (let after: string | null = null; ; ) {
    const batch = await users.withoutSkeleton(500, after);
    if (batch.length === 0) return { filled, lookAlikes };
    for (const user of batch) {
      if (await users.setSkeleton(user.id, usernameSkeleton(user.usernameNormalized))) filled++;
      else lookAlikes.push(user.id);
    }
    after = batch[batch.length - 1].id;
  }
}
