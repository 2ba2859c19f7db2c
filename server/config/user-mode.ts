// What TERMINAL_USER_MODE=shared means, said the same way wherever it is said.
import os from 'node:os';

/** The plain warning for a shared-mode server with more than one account. */
export function sharedModeWarning(): string {
  return (
    `TERMINAL_USER_MODE=shared: every shell runs as the OS user "${os.userInfo().username}", so ptyhub accounts are ` +
    'NOT isolated from each other at the OS level: a shell of one account can read the files, processes and ' +
    "terminals of every other account (and this server's own data). Use this mode only for one person, or for " +
    'a team that trusts each other with that OS account.'
  );
}
