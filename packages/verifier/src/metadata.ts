/** Reads authd's metadata once (cached; a failure is retried next time) for jwks_uri and introspection_endpoint. */
export function createMetadata(issuer: string, doFetch: typeof fetch) {
  let metadata: Promise<Record<string, unknown>> | undefined;
  const load = async () => {
    const response = await doFetch(`${issuer}/.well-known/oauth-authorization-server`, {
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`authd metadata answered ${response.status}`);
    const body = (await response.json()) as Record<string, unknown>;
    if (body.issuer !== issuer)
      throw new Error(`authd metadata names issuer ${String(body.issuer)}, expected ${issuer}`);
    return body;
  };
  const get = () => {
    metadata ??= load().catch((error) => {
      metadata = undefined;
      throw error;
    });
    return metadata;
  };
  return {
    async field(name: string): Promise<string> {
      const value = (await get())[name];
      if (typeof value !== 'string') throw new Error(`authd metadata has no ${name}`);
      return value;
    },
  };
}
