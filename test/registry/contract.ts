// The one behavioural contract every UserTerminalRegistry must meet (memory, Redis,
// switching). Devices use serverId 'srv-a'.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryConflictError, type UserTerminalRegistry } from '../../server/registry/types.js';
import { device } from '../redis/support.js';

export interface ContractSubject {
  registry: UserTerminalRegistry;
  backend: 'memory' | 'redis';
  close(): Promise<void>;
}

export function registryContract(name: string, create: () => Promise<ContractSubject>): void {
  describe(`UserTerminalRegistry contract: ${name}`, () => {
    let subject: ContractSubject;
    let reg: UserTerminalRegistry;

    beforeEach(async () => {
      subject = await create();
      reg = subject.registry;
    });
    afterEach(async () => {
      await subject.close();
    });

    it('attaches a socket with its device info, exactly', async () => {
      const d = device('s1', { deviceName: 'Laptop ünïcode: "x"', connectedAt: 1_700_000_000_123, lastPingAt: 1_700_000_000_456 });
      await reg.addSocket('t1', d);
      expect(await reg.getSocketsForTerminal('t1')).toEqual(['s1']);
      expect(await reg.getDevicesForTerminal('t1')).toEqual([d]);
      expect(await reg.isSocketConnected('s1')).toBe(true);
      expect(await reg.getDeviceCount('t1')).toBe(1);
      expect(await reg.hasConnectedDevices('t1')).toBe(true);
      expect(await reg.getTerminalsForSocket('s1')).toEqual(['t1']);
      expect(await reg.getTerminalsForUser('user-1')).toEqual(['t1']);
    });

    it('is idempotent, and a re-add updates the device info', async () => {
      await reg.addSocket('t1', device('s1'));
      await reg.addSocket('t1', device('s1'));
      expect(await reg.getDeviceCount('t1')).toBe(1);
      await reg.addSocket('t1', device('s1', { deviceName: 'Renamed' }));
      expect((await reg.getDevicesForTerminal('t1')).map((d) => d.deviceName)).toEqual(['Renamed']);
    });

    it('answers empty for unknown ids', async () => {
      expect(await reg.getSocketsForTerminal('nope')).toEqual([]);
      expect(await reg.getDevicesForTerminal('nope')).toEqual([]);
      expect(await reg.getPrimarySocket('nope')).toBeNull();
      expect(await reg.isSocketConnected('nope')).toBe(false);
      expect(await reg.getDeviceCount('nope')).toBe(0);
      expect(await reg.hasConnectedDevices('nope')).toBe(false);
      expect(await reg.getTerminalsForSocket('nope')).toEqual([]);
      expect(await reg.getTerminalsForUser('nope')).toEqual([]);
      expect(await reg.removeSocket('nope', 'nope')).toBe(false);
      expect(await reg.removeSocketFromAllTerminals('nope')).toEqual([]);
    });

    it('lists devices oldest first and ids sorted', async () => {
      await reg.addSocket('t1', device('s3', { connectedAt: 30 }));
      await reg.addSocket('t1', device('s1', { connectedAt: 20 }));
      await reg.addSocket('t1', device('s2', { connectedAt: 20 }));
      expect(await reg.getSocketsForTerminal('t1')).toEqual(['s1', 's2', 's3']);
      expect((await reg.getDevicesForTerminal('t1')).map((d) => d.socketId)).toEqual(['s1', 's2', 's3']);
    });

    it('tracks one socket on several terminals and detaches it everywhere', async () => {
      await reg.addSocket('t2', device('s1'));
      await reg.addSocket('t1', device('s1'));
      await reg.addSocket('t1', device('s2'));
      expect(await reg.getTerminalsForSocket('s1')).toEqual(['t1', 't2']);
      expect(await reg.removeSocketFromAllTerminals('s1')).toEqual(['t1', 't2']);
      expect(await reg.isSocketConnected('s1')).toBe(false);
      expect(await reg.getTerminalsForSocket('s1')).toEqual([]);
      expect(await reg.getSocketsForTerminal('t1')).toEqual(['s2']);
      expect(await reg.hasConnectedDevices('t2')).toBe(false);
      expect(await reg.getTerminalsForUser('user-1')).toEqual(['t1']);
    });

    it('removeSocket reports whether it was attached; the last one out empties the terminal', async () => {
      await reg.addSocket('t1', device('s1'));
      await reg.addSocket('t1', device('s2'));
      expect(await reg.removeSocket('t1', 's1')).toBe(true);
      expect(await reg.removeSocket('t1', 's1')).toBe(false);
      expect(await reg.isSocketConnected('s1')).toBe(false);
      expect(await reg.getTerminalsForUser('user-1')).toEqual(['t1']);
      expect(await reg.removeSocket('t1', 's2')).toBe(true);
      expect(await reg.getDeviceCount('t1')).toBe(0);
      expect(await reg.getTerminalsForUser('user-1')).toEqual([]);
      expect(await reg.getDevicesForTerminal('t1')).toEqual([]);
    });

    it('keeps users apart', async () => {
      await reg.addSocket('t1', device('s1', { userId: 'alice' }));
      await reg.addSocket('t2', device('s2', { userId: 'alice' }));
      await reg.addSocket('t3', device('s3', { userId: 'bob' }));
      expect(await reg.getTerminalsForUser('alice')).toEqual(['t1', 't2']);
      expect(await reg.getTerminalsForUser('bob')).toEqual(['t3']);
    });

    it("refuses a socket of another user on a user's terminal, changing nothing", async () => {
      await reg.addSocket('t1', device('s1', { userId: 'alice' }));
      const err = await reg.addSocket('t1', device('s2', { userId: 'bob' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryConflictError);
      expect((err as RegistryConflictError).reason).toBe('terminal_owner');
      expect(await reg.getSocketsForTerminal('t1')).toEqual(['s1']);
      expect(await reg.isSocketConnected('s2')).toBe(false);
      expect(await reg.getTerminalsForUser('bob')).toEqual([]);
    });

    it('sets, reads and clears the primary; it goes when its socket goes', async () => {
      await reg.addSocket('t1', device('s1'));
      await reg.addSocket('t1', device('s2'));
      expect(await reg.getPrimarySocket('t1')).toBeNull();
      await reg.setPrimarySocket('t1', 's1');
      expect(await reg.getPrimarySocket('t1')).toBe('s1');
      await reg.removeSocket('t1', 's2');
      expect(await reg.getPrimarySocket('t1')).toBe('s1');
      await reg.setPrimarySocket('t1', null);
      expect(await reg.getPrimarySocket('t1')).toBeNull();
      await reg.setPrimarySocket('t1', 's1');
      await reg.removeSocket('t1', 's1');
      expect(await reg.getPrimarySocket('t1')).toBeNull();
      await reg.addSocket('t1', device('s1'));
      expect(await reg.getPrimarySocket('t1')).toBeNull();
    });

    it('refuses a primary that is not attached to the terminal', async () => {
      await reg.addSocket('t1', device('s1'));
      await reg.addSocket('t2', device('s2'));
      await reg.setPrimarySocket('t1', 's1');
      const err = await reg.setPrimarySocket('t1', 's2').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryConflictError);
      expect((err as RegistryConflictError).reason).toBe('not_attached');
      expect(await reg.getPrimarySocket('t1')).toBe('s1');
      await expect(reg.setPrimarySocket('t9', 's1')).rejects.toBeInstanceOf(RegistryConflictError);
      await reg.setPrimarySocket('t9', null); // clearing nothing is fine
    });

    it('records pings on known sockets only', async () => {
      await reg.addSocket('t1', device('s1'));
      await reg.addSocket('t2', device('s1'));
      await reg.updatePing('s1', 1_800_000_000_000);
      expect((await reg.getDevicesForTerminal('t1'))[0]?.lastPingAt).toBe(1_800_000_000_000);
      expect((await reg.getDevicesForTerminal('t2'))[0]?.lastPingAt).toBe(1_800_000_000_000);
      const before = Date.now();
      await reg.updatePing('s1');
      expect((await reg.getDevicesForTerminal('t1'))[0]?.lastPingAt).toBeGreaterThanOrEqual(before);
      await reg.updatePing('ghost', 5);
      expect(await reg.isSocketConnected('ghost')).toBe(false);
    });

    it('counts, and clears everything', async () => {
      await reg.addSocket('t1', device('s1', { userId: 'alice' }));
      await reg.addSocket('t2', device('s1', { userId: 'alice' }));
      await reg.addSocket('t3', device('s2', { userId: 'bob' }));
      expect(await reg.getStats()).toEqual({ backend: subject.backend, terminals: 3, sockets: 2, users: 2 });
      await reg.clear();
      expect(await reg.getStats()).toEqual({ backend: subject.backend, terminals: 0, sockets: 0, users: 0 });
      expect(await reg.getSocketsForTerminal('t1')).toEqual([]);
      expect(await reg.getTerminalsForUser('alice')).toEqual([]);
    });

    it('stays consistent under concurrent calls', async () => {
      const ids = Array.from({ length: 200 }, (_, i) => `s${i}`);
      await Promise.all(ids.map((sid, i) => reg.addSocket(`t${i % 5}`, device(sid))));
      await Promise.all(ids.filter((_, i) => i % 2 === 0).map((sid) => reg.removeSocketFromAllTerminals(sid)));
      let total = 0;
      for (let t = 0; t < 5; t++) total += await reg.getDeviceCount(`t${t}`);
      expect(total).toBe(100);
      expect(await reg.getTerminalsForUser('user-1')).toEqual(['t0', 't1', 't2', 't3', 't4']);
      expect((await reg.getStats()).sockets).toBe(100);
    });
  });
}
