// npm run user:add -- <username> [--reset] [--os-user <os-account>]
// Creates a user (or, with --reset, sets a new password). The password is read from
// stdin when piped, otherwise prompted for. --os-user maps the user to the OS account its
// shells run as in TERMINAL_USER_MODE=account (on an existing user: only that changes).
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../auth/passwords.js';
import { loadConfig, loadDotEnv } from '../config/env.js';
import { createPrismaClient } from '../db/client.js';
import { applyMigrations } from '../db/migrate.js';
import { sharedModeWarning } from '../config/user-mode.js';
import { createUser, findUserByUsername } from '../db/users.js';
import { audit } from '../log/audit.js';
import { createLogger } from '../log/logger.js';
import { lookupOsAccount, OS_USER_NAME, unfitForShells } from '../os-accounts/passwd.js';
import { readPassword } from './read-password.js';

const USERNAME = /^[A-Za-z0-9_.-]{1,64}$/;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      reset: { type: 'boolean', default: false },
      'os-user': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const username = positionals[0];
  if (values.help || !username || positionals.length > 1) {
    console.error('usage: npm run user:add -- <username> [--reset] [--os-user <os-account>]   (password from stdin or a prompt)');
    return values.help ? 0 : 2;
  }
  if (!USERNAME.test(username)) {
    console.error('username: 1-64 letters, digits, ".", "_" or "-"');
    return 2;
  }
  // Checked before anything is written: the OS account must exist and must not be root.
  const osUser = values['os-user'];
  if (osUser !== undefined) {
    const account = await lookupOsAccount(osUser);
    if (!account) {
      console.error(`--os-user: there is no OS account "${osUser}" (create it first, e.g. useradd -m -s /bin/bash ${OS_USER_NAME.test(osUser) ? osUser : '<name>'})`);
      return 2;
    }
    const unfit = unfitForShells(account);
    if (unfit) {
      console.error(`--os-user: ${unfit}`);
      return 2;
    }
  }
  await loadDotEnv();
  const config = loadConfig();
  await applyMigrations(config.DATABASE_URL);
  const prisma = createPrismaClient(config.DATABASE_URL);
  try {
    const existing = await findUserByUsername(prisma, username);
    if (existing && !values.reset && osUser !== undefined) {
      await prisma.user.update({ where: { id: existing.id }, data: { osUser } });
      console.log(`the shells of "${username}" run as the OS account "${osUser}" (TERMINAL_USER_MODE=account)`);
      return 0;
    }
    if (existing && !values.reset) {
      console.error(`user "${username}" exists; use --reset to set a new password`);
      return 1;
    }
    const password = await readPassword(`Password for ${username}: `, true);
    if (password.length < MIN_PASSWORD_LENGTH) {
      console.error(`password: at least ${MIN_PASSWORD_LENGTH} characters`);
      return 2;
    }
    const passwordHash = await hashPassword(password);
    if (existing) {
      await prisma.user.update({ where: { id: existing.id }, data: { passwordHash, ...(osUser !== undefined && { osUser }) } });
      await prisma.authToken.updateMany({ where: { userId: existing.id, revokedAt: null }, data: { revokedAt: new Date() } });
      console.log(`password of "${username}" changed; existing sign-ins revoked`);
      const logger = createLogger({ level: config.LOG_LEVEL, serverId: 'cli:user-add', format: config.LOG_FORMAT });
      audit(logger, 'password_reset', { userId: existing.id, username, reason: 'cli' });
    } else {
      await createUser(prisma, { id: randomUUID(), username, passwordHash, osUser: osUser ?? null });
      console.log(`user "${username}" created${osUser ? ` (shells run as the OS account "${osUser}")` : ''}`);
      if (config.TERMINAL_USER_MODE === 'shared' && (await prisma.user.count()) > 1) console.warn(`warning: ${sharedModeWarning()}`);
      if (config.TERMINAL_USER_MODE === 'account' && !osUser) {
        console.warn(`warning: TERMINAL_USER_MODE=account and "${username}" has no OS account: it cannot open terminals until given one (--os-user)`);
      }
    }
    return 0;
  } finally {
    await prisma.$disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`user:add failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
