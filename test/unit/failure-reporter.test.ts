// Failures of a background mechanism: counted, logged at warn rate-limited, recovery logged.
import { describe, expect, it } from 'vitest';
import { FailureReporter, MechanismHealthBoard } from '../../server/log/failure-reporter.js';
import { testLogger } from '../redis/support.js';

describe('FailureReporter', () => {
  it('warns on the first failure of a run, then at most once per interval with the count since', () => {
    const log = testLogger();
    let now = 1_000_000;
    const r = new FailureReporter('publisher', log, 60_000, () => now);
    for (let i = 0; i < 1000; i++) {
      r.failed(new Error('down'));
      now += 10; // 10 s in all: within one interval
    }
    expect(log.entries.filter((e) => e.level === 'warn')).toHaveLength(1);
    now += 60_000;
    r.failed(new Error('still down'));
    const warns = log.entries.filter((e) => e.level === 'warn');
    expect(warns).toHaveLength(2);
    expect(warns[1]!.obj).toMatchObject({ mechanism: 'publisher', err: 'still down', failures: 1000, consecutive: 1001 });
    expect(r.health()).toMatchObject({ failing: true, failures: 1001, consecutive: 1001, lastError: 'still down' });

    r.succeeded();
    r.succeeded(); // logged once
    expect(log.entries.filter((e) => e.level === 'info')).toEqual([
      { level: 'info', msg: 'publisher working again', obj: { mechanism: 'publisher', failedAttempts: 1001 } },
    ]);
    expect(r.health()).toMatchObject({ failing: false, failures: 1001, consecutive: 0 });

    r.failed(new Error('down again')); // a new run: logged at once
    expect(log.entries.filter((e) => e.level === 'warn')).toHaveLength(3);
  });

  it('the board reports every mechanism and whether any is failing', () => {
    const board = new MechanismHealthBoard(testLogger());
    const a = board.reporter('a', 'mechanism a');
    board.reporter('b', 'mechanism b');
    expect(board.reporter('a', 'mechanism a')).toBe(a);
    expect(board.anyFailing()).toBe(false);
    a.failed('boom');
    expect(board.anyFailing()).toBe(true);
    expect(Object.keys(board.report())).toEqual(['a', 'b']);
    expect(board.report().a).toMatchObject({ failing: true, lastError: 'boom' });
  });
});
