// Single-process registry in plain Maps and Sets.
import { LocalRegistryState } from './local-state.js';
import type { DeviceInfo, RegistryStats, UserTerminalRegistry } from './types.js';

export class MemoryRegistry implements UserTerminalRegistry {
  private readonly state = new LocalRegistryState();

  async addSocket(terminalId: string, device: DeviceInfo): Promise<void> {
    this.state.add(terminalId, device);
  }

  async removeSocket(terminalId: string, socketId: string): Promise<boolean> {
    return this.state.remove(terminalId, socketId);
  }

  async removeSocketFromAllTerminals(socketId: string): Promise<string[]> {
    return this.state.removeEverywhere(socketId);
  }

  async getSocketsForTerminal(terminalId: string): Promise<string[]> {
    return this.state.socketsOf(terminalId);
  }

  async getDevicesForTerminal(terminalId: string): Promise<DeviceInfo[]> {
    return this.state.devicesOf(terminalId);
  }

  async getPrimarySocket(terminalId: string): Promise<string | null> {
    return this.state.primaryOf(terminalId);
  }

  async setPrimarySocket(terminalId: string, socketId: string | null): Promise<void> {
    this.state.setPrimary(terminalId, socketId);
  }

  async updatePing(socketId: string, at: number = Date.now()): Promise<void> {
    this.state.updatePing(socketId, at);
  }

  async isSocketConnected(socketId: string): Promise<boolean> {
    return this.state.hasSocket(socketId);
  }

  async getDeviceCount(terminalId: string): Promise<number> {
    return this.state.deviceCount(terminalId);
  }

  async hasConnectedDevices(terminalId: string): Promise<boolean> {
    return this.state.deviceCount(terminalId) > 0;
  }

  async getTerminalsForSocket(socketId: string): Promise<string[]> {
    return this.state.terminalsOfSocket(socketId);
  }

  async getTerminalsForUser(userId: string): Promise<string[]> {
    return this.state.terminalsOfUser(userId);
  }

  async clear(): Promise<void> {
    this.state.clear();
  }

  async getStats(): Promise<RegistryStats> {
    return this.state.stats();
  }
}
