/**
 * A tiny Toxiproxy: a TCP forwarder between authd and one of its services (Postgres, Redis), so a
 * test can make the service disappear from authd's point of view without touching the shared
 * server that other test files use.
 *
 *   up         forward both ways (the normal state);
 *   down       every open connection is cut, and new ones are refused (the listener is closed):
 *              what a stopped or crashed server looks like;
 *   blackhole  new connections are accepted and never answered, open ones go silent (bytes in
 *              both directions are swallowed): a network partition, a hung server. Only
 *              client-side timeouts can end a wait.
 *   answers-lost  a one-way partition: what the client sends reaches the server (and is executed),
 *              what the server answers never reaches the client.
 *
 * Going back to `up` drops every connection that was silenced (their byte streams lost data, so
 * they could never be used again) and forwards new ones.
 */
import net from 'node:net';

export type ProxyMode = 'up' | 'down' | 'blackhole' | 'answers-lost';

/** One client connection as the proxy saw it; `clientTail` holds the last bytes the client sent. */
export interface LinkRecord {
  id: number;
  openedAt: number;
  closedAt: number | undefined;
  clientTail: Buffer;
  /** The proxy cut it (down, or silenced then dropped), as opposed to either end closing it. */
  cutByProxy: boolean;
}

interface Link {
  record: LinkRecord;
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** Whether the client's bytes reach the server, and the server's bytes the client. */
  toServer: boolean;
  toClient: boolean;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  mode(): ProxyMode;
  setMode(mode: ProxyMode): Promise<void>;
  /**
   * Switches to `mode` (from `up`) the moment a client sends bytes containing `pattern`, before
   * those bytes travel on: a fault that strikes at an exact point of the conversation, e.g. right
   * after a given SQL statement was sent. Resolves when it struck.
   */
  armOnClientBytes(pattern: string, mode: 'blackhole' | 'answers-lost'): Promise<void>;
  /** Open client connections right now. */
  openConnections(): number;
  /** Every connection accepted so far, open or closed. */
  links(): LinkRecord[];
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const TAIL_BYTES = 16;

const FLOWS: Record<Exclude<ProxyMode, 'down'>, { toServer: boolean; toClient: boolean }> = {
  up: { toServer: true, toClient: true },
  blackhole: { toServer: false, toClient: false },
  // A one-way partition: requests arrive and are executed, their answers never come back.
  'answers-lost': { toServer: true, toClient: false },
};

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const links = new Set<Link>();
  const records: LinkRecord[] = [];
  let mode: ProxyMode = 'up';
  let server: net.Server | undefined;
  let port = 0;
  let nextId = 1;
  let armed: { pattern: Buffer; mode: 'blackhole' | 'answers-lost'; struck(): void } | undefined;

  /** Silences every open link the way `next` starts new ones; synchronous. */
  function silence(next: 'blackhole' | 'answers-lost'): void {
    mode = next;
    for (const link of links)
      Object.assign(link, {
        toServer: link.toServer && FLOWS[next].toServer,
        toClient: link.toClient && FLOWS[next].toClient,
      });
  }

  function cut(link: Link): void {
    link.record.cutByProxy = true;
    link.client.destroy();
    link.upstream?.destroy();
  }

  function connectUpstream(link: Link): void {
    const upstream = net.connect(target.port, target.host);
    upstream.setNoDelay(true);
    link.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => {
      if (link.toClient) link.client.write(chunk);
    });
    // A graceful end travels on; an error cuts the other side. Nothing travels where bytes don't.
    upstream.on('end', () => {
      if (link.toClient) link.client.end();
    });
    upstream.on('error', () => {
      if (link.toClient) link.client.destroy();
    });
    upstream.on('close', () => {
      if (link.toClient) link.client.end();
    });
  }

  function onConnection(client: net.Socket): void {
    client.setNoDelay(true);
    const record: LinkRecord = {
      id: nextId++,
      openedAt: Date.now(),
      closedAt: undefined,
      clientTail: Buffer.alloc(0),
      cutByProxy: false,
    };
    records.push(record);
    const flow = FLOWS[mode === 'down' ? 'up' : mode];
    const link: Link = { record, client, upstream: undefined, ...flow };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      record.clientTail = Buffer.concat([record.clientTail, chunk]).subarray(-TAIL_BYTES);
      if (armed && chunk.includes(armed.pattern)) {
        const { mode: next, struck } = armed;
        armed = undefined;
        silence(next);
        struck();
      }
      if (link.toServer) link.upstream?.write(chunk);
    });
    client.on('end', () => {
      if (link.toServer) link.upstream?.end();
    });
    client.on('error', () => link.upstream?.destroy());
    client.on('close', () => {
      // A silenced link's upstream would otherwise linger on the real server until the heal.
      if (link.toServer) link.upstream?.end();
      else link.upstream?.destroy();
      if (links.delete(link)) record.closedAt = Date.now();
    });
    if (link.toServer) connectUpstream(link);
  }

  async function listen(): Promise<void> {
    // Reopening the same port: it was ours a moment ago, but retry briefly in case the kernel lags.
    const deadline = Date.now() + 3000;
    for (;;) {
      const candidate = net.createServer(onConnection);
      try {
        await new Promise<void>((resolve, reject) => {
          candidate.once('error', reject);
          candidate.listen(port, HOST, () => {
            candidate.off('error', reject);
            resolve();
          });
        });
        server = candidate;
        port = (candidate.address() as net.AddressInfo).port;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async function stopListening(): Promise<void> {
    const current = server;
    server = undefined;
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  }

  await listen();

  return {
    host: HOST,
    get port() {
      return port;
    },
    mode: () => mode,
    async setMode(next) {
      if (next === mode) return;
      mode = next;
      if (next === 'down') {
        for (const link of links) cut(link);
        await stopListening();
        return;
      }
      if (!server) await listen();
      if (next === 'up') {
        // Whatever was silenced lost bytes and can never be used again: cut it so the client notices.
        for (const link of links) if (!link.toServer || !link.toClient) cut(link);
        return;
      }
      // Open links go silent the same way new ones start.
      silence(next);
    },
    armOnClientBytes(pattern, next) {
      if (mode !== 'up') throw new Error('arm the proxy while it is up');
      return new Promise<void>((resolve) => {
        armed = { pattern: Buffer.from(pattern), mode: next, struck: resolve };
      });
    },
    openConnections: () => links.size,
    links: () => records.slice(),
    async close() {
      for (const link of links) cut(link);
      await stopListening();
    },
  };
}

/** The Postgres wire protocol's Terminate message: what a client sends when it closes cleanly. */
const PG_TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

export function endsWithPgTerminate(record: LinkRecord): boolean {
  return (
    record.clientTail.length >= PG_TERMINATE.length &&
    record.clientTail.subarray(-PG_TERMINATE.length).equals(PG_TERMINATE)
  );
}
