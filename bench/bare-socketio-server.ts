// A bare socket.io server, no ptyhub: the transport ceiling the throughput benchmarks are
// compared with (bench/README.md). Run by bench/run.ts as its own process, like a server:
//
//   node --import tsx bench/bare-socketio-server.ts [redisUrl]
//
// With a Redis URL it uses socket.io's Redis adapter, so a broadcast from one such server
// reaches a client on another (the cross-instance ceiling). Every client joins room "r".
// A client's `send` { file, tag, chunkChars } makes this server broadcast to "r" what a
// pty running `printf BEGIN; cat file; printf END` would print (newlines as CRLF), in
// `terminal:output` events of chunkChars characters. Prints `{"port":N}` when listening.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const redisUrl = process.argv[2];
const server = http.createServer();
const io = new Server(server, { transports: ['websocket'] });
if (redisUrl) {
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub, { key: 'bare-bench' }));
  await Promise.all([pub, sub].map((c) => new Promise((resolve) => c.once('ready', resolve))));
}

io.on('connection', (socket) => {
  void socket.join('r');
  socket.on('send', (req: { file: string; tag: string; chunkChars: number }, ack: (ok: boolean) => void) => {
    const text = `TP${req.tag}:BEGIN\r\n${fs.readFileSync(req.file, 'utf8').replace(/\n/g, '\r\n')}TP${req.tag}:END\r\n`;
    ack(true);
    for (let offset = 0; offset < text.length; offset += req.chunkChars) {
      io.to('r').emit('terminal:output', { terminalId: 'bare', data: text.slice(offset, offset + req.chunkChars), offset });
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  // A room broadcast also needs the adapter's subscriptions, made before this point.
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }));
});
process.on('SIGTERM', () => process.exit(0));
