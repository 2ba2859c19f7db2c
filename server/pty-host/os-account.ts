// TERMINAL_USER_MODE=account: how the pty host (root) starts a shell as a user's own OS
// account. node-pty's uid/gid options would keep root's supplementary groups, so the
// shell is started through setpriv (util-linux), which sets the uid, the primary gid and
// exactly that account's own supplementary groups (initgroups) before it execs the shell.
import fs from 'node:fs';
import { lookupOsAccount, unfitForShells, type OsAccount } from '../os-accounts/passwd.js';
import type { ShellAccount } from './shell-env.js';

export const SETPRIV = '/usr/bin/setpriv';

/** What node-pty runs for one shell: the program, its arguments, where, and as whom. */
export interface ShellLaunch {
  file: string;
  args: string[];
  cwd: string;
  /** The shell itself (its foreground name tells whether it is idle). */
  shell: string;
  account: ShellAccount;
  /** Account mode: whose the pty's terminal device becomes. */
  ttyOwner?: number;
}

export class AccountRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountRefused';
  }
}

/** Checked when a host starts in account mode: it must be root and have setpriv. */
export function accountModeProblem(): string | null {
  if (process.getuid?.() !== 0) {
    return 'TERMINAL_USER_MODE=account: the pty host must run as root (it starts each shell as its account\'s OS user)';
  }
  try {
    fs.accessSync(SETPRIV, fs.constants.X_OK);
  } catch {
    return `TERMINAL_USER_MODE=account needs ${SETPRIV} (Debian/Ubuntu: package util-linux)`;
  }
  return null;
}

/** A login shell of the OS account, in its home, as that account; refused for unknown or root accounts. */
export async function launchAsAccount(osUser: string): Promise<ShellLaunch> {
  const account = await lookupOsAccount(osUser);
  if (!account) throw new AccountRefused(`no OS account "${osUser}"`);
  const unfit = unfitForShells(account);
  if (unfit) throw new AccountRefused(unfit);
  return {
    file: SETPRIV,
    args: [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', account.shell, '-l'],
    cwd: usableHome(account),
    shell: account.shell,
    account: { home: account.home, user: account.name, shell: account.shell },
    ttyOwner: account.uid,
  };
}

/**
 * As login does: the shell's terminal device becomes its user's (group unchanged, tty;
 * mode 0620), so programs that open it by name (`tty`, gpg's pinentry) work, and no
 * other account may read it.
 */
export async function handOverTerminal(ptsName: string, uid: number): Promise<void> {
  const { gid } = await fs.promises.stat(ptsName);
  await fs.promises.chown(ptsName, uid, gid);
  await fs.promises.chmod(ptsName, 0o620);
}

/** Its home, or / when the home directory is missing (the shell still starts). */
function usableHome(account: OsAccount): string {
  try {
    return fs.statSync(account.home).isDirectory() ? account.home : '/';
  } catch {
    return '/';
  }
}
