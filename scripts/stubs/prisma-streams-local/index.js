// See package.json: `prisma dev` is the only user of the real package.
export async function startLocalDurableStreamsServer() {
  throw new Error('`prisma dev` is not available in ptyhub (its durable streams server needs Node 22); use DATABASE_URL instead');
}
