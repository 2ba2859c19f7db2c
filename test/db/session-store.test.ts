import { afterAll, beforeAll } from 'vitest';
import { sessionStoreContract } from './contract.js';
import { openTestDb, type TestDb } from './helpers.js';

// SQLite; postgres.test.ts runs the same contract on PostgreSQL.
let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
});
afterAll(() => db.close());

sessionStoreContract(() => db);
