import express, { Router } from 'express';
import { z } from 'zod';
import type { LoginThrottle } from '../../abuse/login-throttle';
import { AUDIT_EVENT_TYPES, type AuditLog } from '../../audit/audit-log';
import type { ClientService } from '../../clients/client-service';
import { GRANT_TYPES } from '../../clients/client-store';
import { DomainError } from '../../errors';
import type { MfaService } from '../../mfa/mfa-service';
import type { SessionStore } from '../../sessions/session-store';
import type { SessionRevoker } from '../../sessions/session-revoker';
import type { Clock } from '../../clock';
import type { KeyManager } from '../../tokens/key-manager';
import { CONFLICT_POLICIES, importRecords, type RowFailure, type UserImporter } from '../../users/user-import';
import type { AccessTokenClaims } from '../../tokens/token-issuer';
import type { UserService } from '../../users/user-service';
import { bearerAuth, type BearerAuthDeps } from '../bearer-auth';
import { names, readJson, readQuery, seconds, text } from '../json-body';
import { presentAudit, presentClient, presentKey, presentMfaStatus, presentSession, presentUser } from '../presenters';

export interface AdminDeps extends BearerAuthDeps {
  adminScope: string;
  users: UserService;
  userImporter: UserImporter;
  clientService: ClientService;
  sessions: SessionStore;
  revoker: SessionRevoker;
  audit: AuditLog;
  keys: KeyManager;
  clock: Clock;
  throttle: Pick<LoginThrottle, 'unlock'>;
  mfa: MfaService;
}

const newUser = z
  .object({
    username: text(254),
    password: z.string().max(1024),
    roles: names().optional(),
    scopes: names().optional(),
  })
  .strict();
const userChanges = z
  .object({
    roles: names().optional(),
    scopes: names().optional(),
    disabled: z.boolean().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    email: text(254).nullable().optional(),
    email_verified: z.boolean().optional(),
  })
  .strict();
export const USER_IMPORT_PATH = '/admin/users/import';
const IMPORT_BATCH_MAX = 1000;
const importBatch = z
  .object({
    on_conflict: z.enum(CONFLICT_POLICIES as ['skip', 'update']).default('skip'),
    users: z.array(z.record(z.string(), z.unknown())).min(1).max(IMPORT_BATCH_MAX),
  })
  .strict();
const clientSettings = {
  name: text(200).optional(),
  first_party: z.boolean().optional(),
  introspection: z.boolean().optional(),
  grant_types: z.array(z.enum(GRANT_TYPES)).max(3).optional(),
  scopes: names().optional(),
  default_scopes: names().optional(),
  audience: text(500).optional(),
  access_token_ttl: seconds.optional(),
  refresh_idle_ttl: seconds.optional(),
  refresh_absolute_ttl: seconds.optional(),
  cookie_mode: z.boolean().optional(),
  allowed_origins: z.array(text(300)).max(20).optional(),
  redirect_uris: z.array(text(2000)).max(20).optional(),
  user_claims: names(3).optional(),
  metadata_claims: names(20).optional(),
  require_mfa: z.boolean().optional(),
};
const newClient = z
  .object({
    ...clientSettings,
    client_id: text(64).optional(),
    name: text(200),
    type: z.enum(['confidential', 'public']),
    grant_types: z.array(z.enum(GRANT_TYPES)).max(3),
  })
  .strict();
const clientChanges = z.object(clientSettings).strict();
const listUsers = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: text(300).optional(),
    search: text(254).optional(),
  })
  .strict();
const auditQuery = z
  .object({
    user_id: z.uuid().optional(),
    type: z.union([z.enum(AUDIT_EVENT_TYPES), z.string().regex(/^[a-z_,]+$/)]).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    before: z
      .string()
      .regex(/^\d{1,18}$/)
      .optional(),
  })
  .strict();

function toSettings(body: z.infer<typeof clientChanges>) {
  return {
    name: body.name,
    firstParty: body.first_party,
    canIntrospect: body.introspection,
    grantTypes: body.grant_types,
    scopes: body.scopes,
    defaultScopes: body.default_scopes,
    audience: body.audience,
    accessTokenTtl: body.access_token_ttl,
    refreshIdleTtl: body.refresh_idle_ttl,
    refreshAbsoluteTtl: body.refresh_absolute_ttl,
    cookieMode: body.cookie_mode,
    allowedOrigins: body.allowed_origins,
    redirectUris: body.redirect_uris,
    userClaims: body.user_claims,
    metadataClaims: body.metadata_claims,
    requireMfa: body.require_mfa,
  };
}

const notFound = (error: unknown) => {
  if (error instanceof DomainError && error.kind === 'not_found') return undefined;
  throw error;
};

/** An admin token must speak for an enabled user or an existing client (client_credentials). */
async function isLiveSubject(deps: AdminDeps, claims: AccessTokenClaims): Promise<boolean> {
  const user = await deps.users.requireUser({ id: claims.sub }).catch(notFound);
  if (user) return user.disabledAt === null;
  return (await deps.clientService.get(claims.sub).catch(notFound)) !== undefined;
}

/** /admin: users, clients, keys and the audit trail, for tokens carrying the admin scope. */
export function adminRouter(deps: AdminDeps): Router {
  const router = Router();
  router.use(
    '/admin',
    bearerAuth(deps, deps.adminScope, (claims) => isLiveSubject(deps, claims)),
  );

  // Users
  router.post('/admin/users', async (req, res) => {
    const body = readJson(req, newUser);
    res.status(201).json(presentUser(await deps.users.create(body)));
  });
  router.post(USER_IMPORT_PATH, express.json({ limit: '2mb', strict: true }), async (req, res) => {
    const body = readJson(req, importBatch);
    const failed: RowFailure[] = [];
    const totals = await importRecords(
      body.users.map((record, i) => ({ line: i + 1, record })),
      deps.userImporter,
      {
        policy: body.on_conflict,
        batchSize: IMPORT_BATCH_MAX,
        onFailure: (f) => failed.push(f),
      },
    );
    const { created, updated, skipped } = totals;
    deps.audit.record({
      type: 'users_imported',
      details: { via: 'admin_api', policy: body.on_conflict, created, updated, skipped, failed: failed.length },
    });
    res.json({ created, updated, skipped, failed: failed.map((f) => ({ row: f.line, error: f.error })) });
  });
  router.get('/admin/users', async (req, res) => {
    const query = readQuery(req, listUsers);
    const page = await deps.users.page({
      limit: query.limit,
      ...(query.cursor && { after: query.cursor }),
      ...(query.search && { search: query.search }),
    });
    res.json({ users: page.users.map(presentUser), next_cursor: page.next });
  });
  router.get('/admin/users/:id', async (req, res) => {
    const user = await deps.users.requireUser({ id: req.params.id });
    res.json({ ...presentUser(user), mfa: presentMfaStatus(await deps.mfa.status(user.id)) });
  });
  // For a user who lost the authenticator and the recovery codes: the next sign-in is password only.
  router.post('/admin/users/:id/mfa/reset', async (req, res) => {
    const user = await deps.users.requireUser({ id: req.params.id });
    const removed = await deps.mfa.remove(user.id, 'admin');
    res.json({ removed });
  });
  router.patch('/admin/users/:id', async (req, res) => {
    const body = readJson(req, userChanges);
    const ref = { id: req.params.id };
    let user = await deps.users.requireUser(ref);
    if (body.roles) user = { ...user, ...(await deps.users.setRoles(ref, body.roles)) };
    if (body.scopes) user = { ...user, ...(await deps.users.setScopes(ref, body.scopes)) };
    if (body.disabled !== undefined) user = { ...user, ...(await deps.users.setDisabled(ref, body.disabled)) };
    if (body.metadata !== undefined) user = { ...user, ...(await deps.users.setMetadata(ref, body.metadata)) };
    if (body.email !== undefined || body.email_verified !== undefined) {
      const email = body.email !== undefined ? body.email : user.email;
      user = {
        ...user,
        ...(await deps.users.setEmail(ref, email, {
          ...(body.email_verified !== undefined && { verified: body.email_verified }),
        })),
      };
    }
    res.json(presentUser(user));
  });
  router.post('/admin/users/:id/password', async (req, res) => {
    const { password } = readJson(req, z.object({ password: z.string().max(1024) }).strict());
    await deps.users.setPassword({ id: req.params.id }, password);
    res.status(204).end();
  });
  router.get('/admin/users/:id/sessions', async (req, res) => {
    const user = await deps.users.requireUser({ id: req.params.id });
    const { all } = readQuery(req, z.object({ all: z.enum(['true', 'false']).optional() }).strict());
    const sessions = await deps.sessions.listForUser(user.id, new Date(deps.clock.now()), all === 'true');
    res.json({ sessions: sessions.map((s) => presentSession(s)) });
  });
  router.post('/admin/users/:id/revoke-sessions', async (req, res) => {
    const user = await deps.users.requireUser({ id: req.params.id });
    const ids = await deps.revoker.revokeUser(user.id, 'revoked_by_admin');
    deps.audit.record({ type: 'user_sessions_revoked', userId: user.id, details: { sessions: ids.length } });
    res.json({ revoked_sessions: ids.length });
  });
  // What `authd users unlock` does: every failed-login counter and lock of the user is cleared.
  router.post('/admin/users/:id/unlock', async (req, res) => {
    const user = await deps.users.requireUser({ id: req.params.id });
    await deps.throttle.unlock(user.usernameNormalized);
    deps.audit.record({ type: 'user_unlocked', userId: user.id });
    res.status(204).end();
  });
  router.delete('/admin/users/:id', async (req, res) => {
    await deps.users.delete({ id: req.params.id });
    res.status(204).end();
  });

  // Clients
  router.post('/admin/clients', async (req, res) => {
    const body = readJson(req, newClient);
    const { client, secret } = await deps.clientService.create({
      ...toSettings(body),
      ...(body.client_id !== undefined && { id: body.client_id }),
      name: body.name,
      confidential: body.type === 'confidential',
      grantTypes: body.grant_types,
    } as Parameters<ClientService['create']>[0]);
    res.status(201).json({ ...presentClient(client), ...(secret !== undefined && { client_secret: secret }) });
  });
  router.get('/admin/clients', async (_req, res) => {
    res.json({ clients: (await deps.clientService.list()).map(presentClient) });
  });
  router.get('/admin/clients/:id', async (req, res) => {
    res.json(presentClient(await deps.clientService.get(req.params.id)));
  });
  router.patch('/admin/clients/:id', async (req, res) => {
    const body = readJson(req, clientChanges);
    res.json(presentClient(await deps.clientService.update(req.params.id, toSettings(body))));
  });
  router.post('/admin/clients/:id/rotate-secret', async (req, res) => {
    const secret = await deps.clientService.rotateSecret(req.params.id);
    res.json({ client_id: req.params.id, client_secret: secret });
  });
  router.delete('/admin/clients/:id', async (req, res) => {
    await deps.clientService.delete(req.params.id);
    res.status(204).end();
  });

  // Keys
  router.get('/admin/keys', async (_req, res) => {
    res.json({ keys: (await deps.keys.list()).map(presentKey) });
  });
  router.post('/admin/keys/rotate', async (req, res) => {
    const { immediate, revoke_old: revokeOld } = readJson(
      req,
      z.object({ immediate: z.boolean().optional(), revoke_old: z.boolean().optional() }).strict(),
    );
    const key = await deps.keys.rotate({ immediate: immediate ?? false, revokeOld: revokeOld ?? false });
    res
      .status(201)
      .json({ kid: key.kid, activates_at: key.activatesAt.toISOString(), ...(revokeOld && { revoked: key.revoked }) });
  });
  router.post('/admin/keys/:kid/revoke', async (req, res) => {
    readJson(req, z.object({}).strict());
    const { liveRefreshTokens } = await deps.keys.revoke(req.params.kid);
    res.json({ kid: req.params.kid, live_refresh_tokens: liveRefreshTokens });
  });
  router.post('/admin/keys/:kid/retire', async (req, res) => {
    const { force } = readJson(req, z.object({ force: z.boolean().optional() }).strict());
    await deps.keys.retire(req.params.kid, { force: force ?? false });
    res.status(204).end();
  });

  // Audit
  router.get('/admin/audit', async (req, res) => {
    const q = readQuery(req, auditQuery);
    const types = q.type?.split(',').filter(Boolean);
    const unknown = types?.find((t) => !(AUDIT_EVENT_TYPES as readonly string[]).includes(t));
    if (unknown) throw new DomainError('invalid', `Unknown event type "${unknown}".`, 'unknown_event_type');
    const events = await deps.audit.query({
      ...(q.user_id && { userId: q.user_id }),
      ...(types && { types }),
      ...(q.since && { since: new Date(q.since) }),
      ...(q.until && { until: new Date(q.until) }),
      ...(q.before && { before: q.before }),
      limit: q.limit,
    });
    res.json({
      events: events.map(presentAudit),
      next_before: events.length === q.limit ? events[events.length - 1].id : null,
    });
  });

  return router;
}
