// A loopback TCP proxy in front of a server, so a test can break the network between a
// client and the server without touching either: cut every connection (a network drop),
// refuse new ones for a while, or stop passing a client's bytes on once it has sent a given
// command (the connection stays open and the server never sees the rest, so a reply that
// will never come is set up exactly, with no timing involved).
import net from 'node:net';

export interface TcpProxy {
  port: number;
  url(scheme: string): string;
  /** Cut every open connection, and refuse new ones until `restore()`. */
  cut(): void;
  restore(): void;
  /** From now on, a connection that sends `pattern` has that chunk and all later ones dropped. */
  swallowFrom(pattern: RegExp): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let refusing = false;
  let swallow: RegExp | null = null;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    const cleanup = () => {
      for (const s of [client, upstream]) {
        s.destroy();
        open.delete(s);
      }
    };
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', cleanup).on('close', cleanup);
    }
    let swallowing = false;
    client.on('data', (chunk: Buffer) => {
      if (!swallowing && swallow?.test(chunk.toString('latin1'))) swallowing = true;
      if (!swallowing) upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const destroyAll = () => {
    for (const s of open) s.destroy();
  };
  return {
    port,
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    cut() {
      refusing = true;
      destroyAll();
    },
    restore() {
      refusing = false;
    },
    swallowFrom(pattern) {
      swallow = pattern;
    },
    close() {
      destroyAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
