// audit(): one shape, only documented fields, and not silenced by a quieter LOG_LEVEL.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { audit, type AuditFields } from '../../server/log/audit.js';

function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level, base: { serverId: 's-1' } }, stream), lines };
}

describe('audit', () => {
  it('writes one line marked audit: true with the event and the given fields', async () => {
    const { logger, lines } = capture('info');
    audit(logger, 'terminal_attached', { userId: 'u1', username: 'alice', terminalId: 't1', deviceId: 'd1', socketId: 's1' });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ audit: true, event: 'terminal_attached', msg: 'audit', serverId: 's-1', userId: 'u1', terminalId: 't1', level: 30 });
  });

  it('drops anything that is not a documented field', async () => {
    const { logger, lines } = capture('info');
    const sneaky = { username: 'alice', password: 'hunter2', token: 'abc', data: 'ls -la' } as AuditFields;
    audit(logger, 'sign_in_failed', sneaky);
    await new Promise((r) => setImmediate(r));
    expect(Object.keys(lines[0]!).sort()).toEqual(['audit', 'event', 'level', 'msg', 'serverId', 'time', 'username'].sort());
  });

  it('is recorded when LOG_LEVEL is warn or error, and not when it is silent', async () => {
    for (const level of ['warn', 'error']) {
      const { logger, lines } = capture(level);
      logger.info('ordinary info line');
      audit(logger, 'token_revoked', { userId: 'u1', reason: 'logout' });
      await new Promise((r) => setImmediate(r));
      expect(lines.map((l) => l.event)).toEqual(['token_revoked']);
    }
    const { logger, lines } = capture('silent');
    audit(logger, 'token_revoked', { userId: 'u1' });
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual([]);
  });
});
