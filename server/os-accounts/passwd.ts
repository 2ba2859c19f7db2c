// OS accounts from the password database (through getent, so NSS sources such as LDAP
// count too), read asynchronously: the pty host looks one up for every new shell.
import { execFile } from 'node:child_process';

export interface OsAccount {
  name: string;
  uid: number;
  /** Primary group. */
  gid: number;
  home: string;
  shell: string;
}

/** What an OS user name may look like (useradd's rules, a little wider). */
export const OS_USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

const LOOKUP_TIMEOUT_MS = 5000;

/** The account, or null when the password database has no such user. Throws when it cannot be read. */
export function lookupOsAccount(name: string): Promise<OsAccount | null> {
  if (!OS_USER_NAME.test(name)) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    execFile('getent', ['passwd', name], { timeout: LOOKUP_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout) => {
      // getent exits 2 for "no such key"; anything else is a failure to look.
      if (err && (err as { code?: unknown }).code === 2) return resolve(null);
      if (err) return reject(new Error(`could not read the password database (getent passwd ${name}): ${err.message}`));
      resolve(parsePasswdLine(stdout.split('\n')[0] ?? '', name));
    });
  });
}

export function parsePasswdLine(line: string, name: string): OsAccount | null {
  const f = line.split(':');
  if (f.length < 7 || f[0] !== name) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
  return { name, uid, gid, home: f[5] || '/', shell: f[6] || '/bin/sh' };
}

/** Why this account may not run shells for ptyhub, or null when it may. */
export function unfitForShells(account: OsAccount): string | null {
  if (account.uid === 0 || account.gid === 0) return `OS account "${account.name}" is root (uid or gid 0): shells never run as root`;
  return null;
}
