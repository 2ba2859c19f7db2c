// What TERMINAL_USER_MODE means, said the same way wherever it is said, and which OS
// account a user's shells run as in account mode.
import os from 'node:os';
import type { PrismaClient } from '../db/client.js';
import { findUserById } from '../db/users.js';
import { ServiceError } from '../terminals/errors.js';

/** The plain warning for a shared-mode server with more than one account. */
export function sharedModeWarning(): string {
  return (
    `TERMINAL_USER_MODE=shared: every shell runs as the OS user "${os.userInfo().username}", so ptyhub accounts are ` +
    'NOT isolated from each other at the OS level: a shell of one account can read the files, processes and ' +
    "terminals of every other account (and this server's own data). Use this mode only for one person, or for " +
    'a team that trusts each other with that OS account.'
  );
}

export function accountModeNotice(serviceUser: string): string {
  return (
    `TERMINAL_USER_MODE=account: each account's shells run as its own OS account (started by the root pty host); ` +
    `this web server runs as "${serviceUser}". Accounts without an OS account cannot open terminals.`
  );
}

/** The OS account a user's shells run as; a clear refusal when the user has none. */
export async function osAccountOf(prisma: PrismaClient, userId: string): Promise<string> {
  const user = await findUserById(prisma, userId);
  if (!user?.osUser) {
    throw new ServiceError(
      'forbidden',
      'this account has no OS account, so it cannot open terminals (TERMINAL_USER_MODE=account); ' +
        'an administrator can give it one: npm run user:add -- <name> --os-user <os-account>',
    );
  }
  return user.osUser;
}
