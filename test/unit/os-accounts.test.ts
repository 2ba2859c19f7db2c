// OS accounts from the password database: parsing getent's lines, and which accounts may
// never run shells (root, or root's group), against the real database of this machine.
import { expect, it } from 'vitest';
import { lookupOsAccount, parsePasswdLine, unfitForShells } from '../../server/os-accounts/passwd.js';

it('parses a passwd line, and only for the name asked', () => {
  const line = 'bob:x:1001:1002:Bob,,,:/home/bob:/bin/zsh';
  expect(parsePasswdLine(line, 'bob')).toEqual({ name: 'bob', uid: 1001, gid: 1002, home: '/home/bob', shell: '/bin/zsh' });
  expect(parsePasswdLine(line, 'bo')).toBeNull();
  expect(parsePasswdLine('bob:x:oops:1002::/home/bob:/bin/sh', 'bob')).toBeNull();
  expect(parsePasswdLine('svc:x:998:998:::', 'svc')).toMatchObject({ home: '/', shell: '/bin/sh' });
});

it('finds root in the password database and refuses it for shells', async () => {
  const root = await lookupOsAccount('root');
  expect(root).toMatchObject({ name: 'root', uid: 0, gid: 0 });
  expect(unfitForShells(root!)).toMatch(/is root/);
  expect(unfitForShells({ name: 'x', uid: 1000, gid: 0, home: '/', shell: '/bin/sh' })).toMatch(/is root/);
  expect(unfitForShells({ name: 'x', uid: 1000, gid: 1000, home: '/', shell: '/bin/sh' })).toBeNull();
});

it('answers null for a name that is not an account, or could not be one', async () => {
  expect(await lookupOsAccount('no-such-account-ptyhub')).toBeNull();
  expect(await lookupOsAccount('../etc')).toBeNull();
  expect(await lookupOsAccount('-x')).toBeNull();
});
