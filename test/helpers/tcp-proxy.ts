// A loopback TCP proxy that can stop passing a client's bytes on once it has sent a given
// command: the connection stays open and the server never sees the rest, so a reply that
// will never come can be set up exactly, with no timing involved.
import net from 'node:net';

export interface TcpProxy {
  url(scheme: string): string;
  /** From now on, a connection that sends `pattern` has that chunk and all later ones dropped. */
  swallowFrom(pattern: RegExp): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let swallow: RegExp | null = null;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    let swallowing = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('data', (chunk: Buffer) => {
      if (!swallowing && swallow?.test(chunk.toString('latin1'))) swallowing = true;
      if (!swallowing) upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    swallowFrom(pattern) {
      swallow = pattern;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
