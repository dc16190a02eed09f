import type { Command } from 'commander';
import type { ClientSettingsInput } from '../../clients/client-service';
import { presentClient } from '../../http/presenters';
import type { CliContext } from '../context';
import { formatRecord, formatRows } from '../format';
import { list, seconds } from '../options';

/** The settings clients create and clients update share; on update an option not given keeps its value. */
function clientSettingOptions(cmd: Command): Command {
  return cmd
    .option('--first-party', 'a client of your own, allowed the password grant')
    .option('--no-first-party', 'not a client of your own')
    .option('--introspect', 'a resource server allowed to call the introspection endpoint')
    .option('--no-introspect', 'not allowed to introspect')
    .option('--grant <grants>', 'allowed grant types, comma-separated or repeated', list)
    .option('--scope <scopes>', 'scopes the client may request', list)
    .option('--default-scope <scopes>', 'scopes granted when a request names none', list)
    .option(
      '--audience <aud>',
      "the aud claim of its access tokens: the API that takes them (required; the issuer only for authd's own clients)",
    )
    .option('--access-token-ttl <duration>', 'shorter access-token lifetime', seconds)
    .option('--refresh-idle-ttl <duration>', 'shorter refresh-token idle lifetime', seconds)
    .option('--refresh-absolute-ttl <duration>', 'shorter session lifetime', seconds)
    .option('--cookie-mode', 'browser app: the refresh token goes in an HttpOnly cookie (needs --allowed-origins)')
    .option('--no-cookie-mode', 'the refresh token in the response body')
    .option('--allowed-origins <origins>', "origins of the web app, comma-separated (cookie mode's CSRF defence)", list)
    .option('--redirect-uri <uris>', 'redirect URIs, comma-separated or repeated', list)
    .option(
      '--user-claim <claims>',
      'preferred_username, email, email_verified: in its access tokens when the scope asks (profile, email)',
      list,
    )
    .option('--metadata-claim <keys>', "keys of the user's metadata to copy into its access tokens", list)
    .option('--require-mfa', 'its users must sign in with a second factor')
    .option('--no-require-mfa', 'a password alone will do')
    .option('--json', 'print JSON');
}

function clientSettingsFrom(opts: Record<string, unknown>): ClientSettingsInput {
  return {
    ...(opts.name !== undefined && { name: opts.name as string }),
    ...(opts.firstParty !== undefined && { firstParty: opts.firstParty as boolean }),
    ...(opts.introspect !== undefined && { canIntrospect: opts.introspect as boolean }),
    ...(opts.grant !== undefined && { grantTypes: opts.grant as string[] }),
    ...(opts.scope !== undefined && { scopes: opts.scope as string[] }),
    ...(opts.defaultScope !== undefined && { defaultScopes: opts.defaultScope as string[] }),
    ...(opts.audience !== undefined && { audience: opts.audience as string }),
    ...(opts.accessTokenTtl !== undefined && { accessTokenTtl: opts.accessTokenTtl as number }),
    ...(opts.refreshIdleTtl !== undefined && { refreshIdleTtl: opts.refreshIdleTtl as number }),
    ...(opts.refreshAbsoluteTtl !== undefined && { refreshAbsoluteTtl: opts.refreshAbsoluteTtl as number }),
    ...(opts.cookieMode !== undefined && { cookieMode: opts.cookieMode as boolean }),
    ...(opts.allowedOrigins !== undefined && { allowedOrigins: opts.allowedOrigins as string[] }),
    ...(opts.redirectUri !== undefined && { redirectUris: opts.redirectUri as string[] }),
    ...(opts.userClaim !== undefined && { userClaims: opts.userClaim as string[] }),
    ...(opts.metadataClaim !== undefined && { metadataClaims: opts.metadataClaim as string[] }),
    ...(opts.requireMfa !== undefined && { requireMfa: opts.requireMfa as boolean }),
  };
}

const SECRET_SHOWN_ONCE = 'The client secret is shown once; authd stores only a keyed digest of it.\n';

/** `authd clients …`: OAuth clients and their secrets. */
export function registerClientCommands(clients: Command, cli: CliContext): void {
  clientSettingOptions(
    clients
      .command('create')
      .description("create a client; a confidential client's secret is printed once")
      .requiredOption('--name <name>', 'a human-readable name')
      .option('--id <id>', 'the client_id (default: generated)')
      .option('--public', 'a public client (no secret: SPA, mobile app, CLI)'),
  ).action(async (opts) => {
    const { client, secret } = await cli.withServices((s) =>
      s.clientService.create({
        ...clientSettingsFrom(opts),
        id: opts.id,
        name: opts.name,
        confidential: !opts.public,
        firstParty: Boolean(opts.firstParty),
        canIntrospect: Boolean(opts.introspect),
        grantTypes: opts.grant ?? [],
      }),
    );
    cli.out(
      formatRecord(
        {
          client_id: client.id,
          name: client.name,
          type: client.confidential ? 'confidential' : 'public',
          first_party: client.firstParty,
          introspection: client.canIntrospect,
          grant_types: client.grantTypes,
          scopes: client.scopes,
          default_scopes: client.defaultScopes,
          audience: client.audience,
          ...(client.cookieMode && { cookie_mode: true, allowed_origins: client.allowedOrigins }),
          ...(secret !== undefined && { client_secret: secret }),
        },
        opts.json,
      ),
    );
    if (secret !== undefined && !opts.json) cli.err(SECRET_SHOWN_ONCE);
  });

  clientSettingOptions(
    clients
      .command('update')
      .argument('<client_id>')
      .description('change a client; options not given keep their value')
      .option('--name <name>', 'a human-readable name'),
  ).action(async (id: string, opts) => {
    const client = await cli.withServices((s) => s.clientService.update(id, clientSettingsFrom(opts)));
    cli.out(formatRecord(presentClient(client), opts.json));
  });

  clients
    .command('show')
    .argument('<client_id>')
    .description('show one client (never its secret)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts) => {
      cli.out(formatRecord(presentClient(await cli.withServices((s) => s.clientService.get(id))), opts.json));
    });

  clients
    .command('rotate-secret')
    .argument('<client_id>')
    .description('give a confidential client a new secret, printed once; the old one stops working at once')
    .option('--json', 'print JSON')
    .action(async (id: string, opts) => {
      const secret = await cli.withServices((s) => s.clientService.rotateSecret(id));
      cli.out(formatRecord({ client_id: id, client_secret: secret }, opts.json));
      if (!opts.json) cli.err(SECRET_SHOWN_ONCE);
    });

  clients
    .command('delete')
    .argument('<client_id>')
    .description('delete a client; its sessions end at once')
    .option('--json', 'print JSON')
    .action(async (id: string, opts) => {
      await cli.withServices((s) => s.clientService.delete(id));
      cli.answer(opts, { client_id: id, deleted: true }, `client ${id} deleted; its sessions were revoked`);
    });

  clients
    .command('list')
    .description('list clients')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const rows = await cli.withServices((s) => s.clientService.list());
      cli.out(
        formatRows(
          rows.map((c) => ({
            client_id: c.id,
            name: c.name,
            type: c.confidential ? 'confidential' : 'public',
            first_party: c.firstParty,
            grants: c.grantTypes,
            scopes: c.scopes,
            audience: c.audience,
          })),
          opts.json,
        ),
      );
    });
}
