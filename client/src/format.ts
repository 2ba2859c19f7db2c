import type { ExitEvent } from '../../common/protocol.js';

/** Why a terminal ended, for people: "exited with code 0", "owner instance lost". */
export function exitText(e: Pick<ExitEvent, 'reason' | 'exitCode' | 'signal'>): string {
  switch (e.reason) {
    case 'exited':
      if (e.signal) return `killed by signal ${e.signal}`;
      return e.exitCode === null ? 'exited' : `exited with code ${e.exitCode}`;
    case 'closed':
      return 'closed';
    case 'idle':
      return 'closed after being idle';
    case 'owner_lost':
      return 'owner instance lost';
    case 'shutdown':
      return 'server shut down';
    case 'host_lost':
      return "the instance's pty host stopped unexpectedly";
    default:
      return `ended (${String(e.reason)})`;
  }
}

/** "terminal ended: exited with code 0", "terminal ended while this device was …". */
export function endedSentence(text: string): string {
  return text.startsWith('ended') ? `terminal ${text}` : `terminal ended: ${text}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
