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
// A `burst` { style, count, bytes } sends `count` output events of `bytes` bytes each in the
// given encoding (the small-message benchmark) and answers with the CPU time it took;
// `--frame-parser` makes this server use common/output-frame-parser.ts.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { outputFrameParser } from '../common/output-frame-parser.js';

const args = process.argv.slice(2);
const redisUrl = args.find((a) => !a.startsWith('--'));
const server = http.createServer();
const io = new Server(server, { transports: ['websocket'], ...(args.includes('--frame-parser') ? { parser: outputFrameParser } : {}) });
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
  // Output events as a JSON string (`string`) or as bytes (`bytes`: socket.io's binary
  // attachment, or one frame with --frame-parser). `burst-cpu` answers with the CPU time
  // used since the last burst started (asked once the client has received every event).
  let burstStarted = process.cpuUsage();
  socket.on('burst', (req: { style: 'string' | 'bytes'; count: number; bytes: number }) => {
    // Terminal-like text: escape sequences and CRLF, which JSON escapes.
    const line = '\x1b[32mok\x1b[0m build step 0123456789 "done"\r\n';
    const text = line.repeat(Math.ceil(req.bytes / line.length)).slice(0, req.bytes);
    const bytes = Buffer.from(text);
    burstStarted = process.cpuUsage();
    for (let i = 0; i < req.count; i++) {
      const data = req.style === 'string' ? text : bytes;
      socket.emit('terminal:output', { terminalId: 'bare-terminal-0123456789', data, offset: i * req.bytes });
    }
  });
  socket.on('burst-cpu', (ack: (cpuMicros: number) => void) => {
    const used = process.cpuUsage(burstStarted);
    ack(used.user + used.system);
  });
});

server.listen(0, '127.0.0.1', () => {
  // A room broadcast also needs the adapter's subscriptions, made before this point.
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }));
});
process.on('SIGTERM', () => process.exit(0));
