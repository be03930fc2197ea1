import { describe, expect, it } from 'vitest';
import {
  BackupScheduleError,
  backupDue,
  backupStale,
  backupsToPrune,
  nextBackupAt,
  validateBackupSchedule,
} from '../../../reconcilers/backup-schedule.js';

// 2026-01-01 is a Thursday.
const at = (iso: string): Date => new Date(iso);

describe('nextBackupAt', () => {
  it('returns the first firing strictly after the given time, in UTC', () => {
    expect(nextBackupAt('0 3 * * *', at('2026-01-01T02:59:59.999Z'))).toEqual(at('2026-01-01T03:00:00Z'));
    expect(nextBackupAt('0 3 * * *', at('2026-01-01T03:00:00Z'))).toEqual(at('2026-01-02T03:00:00Z'));
    expect(nextBackupAt('0 3 * * *', at('2026-01-01T03:00:04Z'))).toEqual(at('2026-01-02T03:00:00Z'));
    expect(nextBackupAt('*/15 * * * *', at('2026-01-01T10:07:00Z'))).toEqual(at('2026-01-01T10:15:00Z'));
  });

  it('understands the macros, names, and day-of-month or day-of-week', () => {
    const after = at('2026-01-01T12:00:00Z');
    expect(nextBackupAt('@hourly', after)).toEqual(at('2026-01-01T13:00:00Z'));
    expect(nextBackupAt('@daily', after)).toEqual(at('2026-01-02T00:00:00Z'));
    expect(nextBackupAt('@weekly', after)).toEqual(at('2026-01-04T00:00:00Z'));
    expect(nextBackupAt('@monthly', after)).toEqual(at('2026-02-01T00:00:00Z'));
    expect(nextBackupAt('@yearly', after)).toEqual(at('2027-01-01T00:00:00Z'));
    expect(nextBackupAt('@annually', after)).toEqual(at('2027-01-01T00:00:00Z'));
    expect(nextBackupAt('30 4 * JAN MON-FRI', after)).toEqual(at('2026-01-02T04:30:00Z'));
    // The 15th or any Monday, whichever comes first (Vixie cron): Monday the 5th.
    expect(nextBackupAt('0 0 15 * 1', after)).toEqual(at('2026-01-05T00:00:00Z'));
    expect(nextBackupAt('  0   3 * * *  ', after)).toEqual(at('2026-01-02T03:00:00Z'));
  });

  it('rejects invalid schedules with an error naming spec.backup.schedule', () => {
    const invalid = [
      'every day',
      '',
      '61 * * * *',
      '0 0 * *',
      '0 0 0 * * *', // a seconds field
      '0 0 1 1 * 2030', // a year field
      '@minutely',
      '@reboot',
      'H 3 * * *', // Jenkins' hash: a random minute unless seeded
      '0 0 * * H',
      '0 0 30 2 *', // never fires
      '0 0 15W * *',
    ];
    for (const schedule of invalid) {
      let error: unknown;
      try {
        nextBackupAt(schedule, at('2026-01-01T00:00:00Z'));
      } catch (err) {
        error = err;
      }
      expect(error, schedule).toBeInstanceOf(BackupScheduleError);
      expect((error as BackupScheduleError).message).toContain(`spec.backup.schedule: ${JSON.stringify(schedule)} is not a valid schedule`);
      expect((error as BackupScheduleError).field).toBe('spec.backup.schedule');
      expect(() => validateBackupSchedule(schedule)).toThrow(BackupScheduleError);
    }
    expect(() => validateBackupSchedule('0 3 * * *')).not.toThrow();
  });
});

describe('backupDue', () => {
  const created = at('2026-01-01T01:30:00Z');

  it('waits for the first firing after the volume was created before the first backup', () => {
    expect(backupDue('0 3 * * *', undefined, created, at('2026-01-01T02:59:59Z'))).toBe(false);
    expect(backupDue('0 3 * * *', undefined, created, at('2026-01-01T03:00:00Z'))).toBe(true);
  });

  it('is not due again until the firing after the last backup, even when that backup finished late', () => {
    const last = at('2026-01-01T03:07:00Z');
    expect(backupDue('0 3 * * *', last, created, at('2026-01-01T23:59:00Z'))).toBe(false);
    expect(backupDue('0 3 * * *', last, created, at('2026-01-02T03:00:00Z'))).toBe(true);
  });

  it('asks for one backup however many firings were missed', () => {
    expect(backupDue('@hourly', at('2026-01-01T03:00:05Z'), created, at('2026-01-09T17:42:00Z'))).toBe(true);
    expect(backupDue('@hourly', at('2026-01-09T17:42:30Z'), created, at('2026-01-09T17:43:00Z'))).toBe(false);
  });
});

describe('backupStale', () => {
  it('turns true once a daily backup is more than two days old', () => {
    const last = at('2026-01-01T03:00:00Z');
    expect(backupStale('0 3 * * *', last, at('2026-01-02T04:00:00Z'))).toBe(false);
    expect(backupStale('0 3 * * *', last, at('2026-01-03T03:00:00Z'))).toBe(false);
    expect(backupStale('0 3 * * *', last, at('2026-01-03T03:00:01Z'))).toBe(true);
  });

  it('follows the schedule for hourly backups', () => {
    const last = at('2026-01-01T10:00:02Z');
    expect(backupStale('@hourly', last, at('2026-01-01T11:59:59Z'))).toBe(false);
    expect(backupStale('@hourly', last, at('2026-01-01T12:00:01Z'))).toBe(true);
  });

  it('does not call a Friday backup of a weekday schedule stale over the weekend', () => {
    const friday = at('2026-01-02T03:00:00Z');
    expect(backupStale('0 3 * * 1-5', friday, at('2026-01-04T23:00:00Z'))).toBe(false);
    expect(backupStale('0 3 * * 1-5', friday, at('2026-01-06T02:59:00Z'))).toBe(false);
    expect(backupStale('0 3 * * 1-5', friday, at('2026-01-06T03:00:01Z'))).toBe(true);
  });

  it('measures months by the calendar', () => {
    const last = at('2026-01-01T00:00:00Z');
    // February is short: two firings after January 1st is March 1st, 59 days later.
    expect(backupStale('@monthly', last, at('2026-02-28T23:59:00Z'))).toBe(false);
    expect(backupStale('@monthly', last, at('2026-03-01T00:00:01Z'))).toBe(true);
  });
});

describe('backupsToPrune', () => {
  const backup = (id: string, day: number) => ({ id, time: at(`2026-01-${String(day).padStart(2, '0')}T03:00:00Z`), sizeBytes: day });

  it('returns the backups beyond the newest `retain`, oldest first, whatever order they come in', () => {
    const backups = [backup('d5', 5), backup('d1', 1), backup('d9', 9), backup('d3', 3), backup('d2', 2), backup('d8', 8), backup('d4', 4)];
    expect(backupsToPrune(backups, 3).map((b) => b.id)).toEqual(['d1', 'd2', 'd3', 'd4']);
    expect(backupsToPrune(backups, 6).map((b) => b.id)).toEqual(['d1']);
    expect(backupsToPrune(backups, 7)).toEqual([]);
    expect(backupsToPrune(backups, 100)).toEqual([]);
    expect(backupsToPrune([], 1)).toEqual([]);
    // The same objects come back, so the caller can pass them to the store as they are.
    expect(backupsToPrune(backups, 6)[0]).toBe(backups[1]);
  });

  it('keeps 7 by default', () => {
    const backups = Array.from({ length: 10 }, (_, i) => backup(`b${i + 1}`, i + 1));
    expect(backupsToPrune(backups).map((b) => b.id)).toEqual(['b1', 'b2', 'b3']);
  });

  it('breaks ties in time by id, so every run prunes the same backups', () => {
    const same = at('2026-01-01T03:00:00Z');
    const backups = [{ id: 'c', time: same }, { id: 'a', time: same }, { id: 'b', time: same }];
    expect(backupsToPrune(backups, 1).map((b) => b.id)).toEqual(['a', 'b']);
    expect(backupsToPrune([...backups].reverse(), 1).map((b) => b.id)).toEqual(['a', 'b']);
  });

  it('refuses to keep fewer than one backup', () => {
    expect(() => backupsToPrune([backup('d1', 1)], 0)).toThrow(/spec.backup.retain/);
    expect(() => backupsToPrune([backup('d1', 1)], 1.5)).toThrow(RangeError);
  });
});
