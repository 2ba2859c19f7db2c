// Throwaway OS accounts for the account-mode tests (CI runs as root): unique names per
// run, removed again (with their homes) however the tests end.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface TestOsAccount {
  name: string;
  uid: number;
  gid: number;
  /** Every group the account is in (`id -G`). */
  groups: number[];
}

export class OsAccountFixture {
  private readonly users: string[] = [];
  private readonly groups: string[] = [];
  /** Folders whose mode was widened, with the mode to put back. */
  private readonly widened: Array<{ dir: string; mode: number }> = [];
  /** Unique to this run: every name starts with it. */
  readonly tag = `pt${randomBytes(3).toString('hex')}`;

  /** A login account with a home (useradd -m), in the extra groups given. */
  user(suffix: string, extraGroups: string[] = []): TestOsAccount {
    const name = `${this.tag}${suffix}`;
    this.users.push(name);
    execFileSync('useradd', ['-m', '-s', '/bin/bash', ...(extraGroups.length ? ['-G', extraGroups.join(',')] : []), name]);
    return describe(name);
  }

  /** A system account with its own group and no home or login shell, like a service user. */
  serviceUser(suffix: string): TestOsAccount {
    const name = `${this.tag}${suffix}`;
    this.users.push(name);
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name]);
    return describe(name);
  }

  group(suffix: string): { name: string; gid: number } {
    const name = `${this.tag}${suffix}`;
    this.groups.push(name);
    execFileSync('groupadd', [name]);
    return { name, gid: Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]) };
  }

  /**
   * Lets every user search (o+x, never read) each folder above `target` that does not
   * already allow it, as a deployment would by installing where the service user can
   * read (a checkout may sit in /root, mode 0700), then checks that `account` can read
   * `probe`. Put back by removeAll.
   */
  makeReachable(target: string, account: TestOsAccount, probe: string): void {
    for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
      const mode = fs.statSync(dir).mode & 0o7777;
      if (!(mode & 0o001)) {
        this.widened.push({ dir, mode });
        fs.chmodSync(dir, mode | 0o001);
      }
      if (path.dirname(dir) === dir) break;
    }
    const check = spawnSync('setpriv', [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--clear-groups', '--', 'test', '-r', probe]);
    if (check.status !== 0) throw new Error(`${account.name} cannot read ${probe}: the checkout must be readable by the service user`);
  }

  /** Removes every account (forcibly, with its home) and group created, and puts folder modes back; never throws. */
  removeAll(): void {
    for (const { dir, mode } of this.widened.splice(0).reverse()) {
      try {
        fs.chmodSync(dir, mode);
      } catch {
        // gone meanwhile
      }
    }
    for (const name of this.users.splice(0)) tryRun('userdel', ['-f', '-r', name]);
    for (const name of this.groups.splice(0)) tryRun('groupdel', [name]);
  }
}

function describe(name: string): TestOsAccount {
  const id = (flag: string) => execFileSync('id', [flag, name], { encoding: 'utf8' }).trim();
  return { name, uid: Number(id('-u')), gid: Number(id('-g')), groups: id('-G').split(' ').map(Number) };
}

function tryRun(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // already gone, or busy: nothing more a test can do
  }
}
