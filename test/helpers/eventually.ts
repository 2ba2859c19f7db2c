/**
 * Polls `check` until it returns true or the deadline passes. Only for effects that
 * have no event to await (time-based expiry, recovery after an outage); a check that
 * throws counts as "not yet".
 */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
