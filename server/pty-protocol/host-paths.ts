// Where an instance's pty host listens, records its pid and writes its log. The socket
// lives in a directory only the service user can open (mode 0700).
import path from 'node:path';

export interface HostPaths {
  socket: string;
  pidFile: string;
  logFile: string;
}

export function hostPaths(config: { PTY_HOST_SOCKET?: string; SERVER_ID: string }): HostPaths {
  const socket = path.resolve(config.PTY_HOST_SOCKET ?? path.join('data', 'pty-host', `${config.SERVER_ID}.sock`));
  const base = socket.endsWith('.sock') ? socket.slice(0, -'.sock'.length) : socket;
  return { socket, pidFile: `${base}.pid`, logFile: `${base}.log` };
}
