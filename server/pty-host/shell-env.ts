// The environment a user's shell starts with, built from an allowlist: nothing of the
// server's or the host's own environment (REDIS_URL, DATABASE_URL, secrets) reaches a shell.
import os from 'node:os';

/** The PATH every shell starts with (its login files may extend it). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Locale and time zone are passed on from the host when set; nothing else is. */
const PASSED_ON = /^(LANG|LANGUAGE|LC_[A-Z_]+|TZ)$/;

/** Whose shell it is: the OS account the shell runs as. */
export interface ShellAccount {
  home: string;
  user: string;
  shell: string;
}

/** The account the host itself runs as (shared mode); HOME as the host was given it. */
export function hostAccount(hostEnv: NodeJS.ProcessEnv, shell: string): ShellAccount {
  const info = os.userInfo();
  return { home: hostEnv.HOME || info.homedir, user: info.username, shell };
}

export function shellEnvironment(hostEnv: NodeJS.ProcessEnv, account: ShellAccount): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(hostEnv)) {
    if (value !== undefined && PASSED_ON.test(key)) env[key] = value;
  }
  return {
    ...env,
    TERM: 'xterm-256color',
    COLORTERM: 'truecolor',
    PATH: DEFAULT_PATH,
    HOME: account.home,
    USER: account.user,
    LOGNAME: account.user,
    SHELL: account.shell,
    PTYHUB: '1',
  };
}
