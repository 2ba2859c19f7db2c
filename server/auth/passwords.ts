// Password hashing with Argon2id (@node-rs/argon2, prebuilt binaries, no install script).
import { hash, verify } from '@node-rs/argon2';

export const MIN_PASSWORD_LENGTH = 8;

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false; // malformed hash: treat as a failed login, never as success
  }
}

// Verified against when the user does not exist, so a login takes as long either way.
let dummyHash: Promise<string> | null = null;
export async function burnVerify(password: string): Promise<void> {
  dummyHash ??= hash('ptyhub-dummy-password');
  await verifyPassword(await dummyHash, password);
}
