/**
 * When a Volume's backups are due, late, and which to prune: pure functions of the schedule, the
 * backup times and an injected `now`, so the timing is tested with fixed dates. Both sides use
 * them: the Volume planner (reconcilers/volume.ts: next backup, BackupOverdue) and the node agent
 * (agents/node/volumes/volume-sync.ts: which backup runs now, which are pruned).
 *
 * Design notes
 * - `spec.backup.schedule` is cron in UTC: five fields (minute hour day-of-month month
 *   day-of-week), or @hourly, @daily, @weekly, @monthly, @yearly, @annually. cron-parser also
 *   accepts a seconds field, @minutely/@secondly and Jenkins' `H` (a random minute unless seeded);
 *   all are refused here, so a schedule means the same on every node and cannot ask for a backup
 *   every second. Day-of-month and day-of-week both restricted means either (as in Vixie cron).
 * - Firings fall on whole minutes and "next" is strictly after: a backup that finished at 03:00:04
 *   for the 03:00 firing is not due again until the following firing.
 * - Missed firings do not pile up: however many passed, one backup makes the volume current.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';

/** The schema's default for spec.backup.retain. */
export const DEFAULT_BACKUP_RETAIN = 7;

const FIELD = 'spec.backup.schedule';
const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** A schedule that is not valid cron, or that never fires; names the field for the Volume's status. */
export class BackupScheduleError extends Error {
  readonly field = FIELD;

  constructor(
    readonly schedule: string,
    reason: string,
  ) {
    super(`${FIELD}: ${JSON.stringify(schedule)} is not a valid schedule: ${reason}`);
    this.name = 'BackupScheduleError';
  }
}

/** The first firing strictly after `after`; throws `BackupScheduleError` for an invalid schedule. */
export function nextBackupAt(schedule: string, after: Date): Date {
  return firings(schedule, after, 1)[0]!;
}

/** True when a firing has passed since the last backup (or, before the first one, since the volume was created). */
export function backupDue(schedule: string, lastBackupTime: Date | undefined, created: Date, now: Date): boolean {
  return nextBackupAt(schedule, lastBackupTime ?? created).getTime() <= now.getTime();
}

/**
 * True when the last backup is older than twice the schedule's interval, the interval being the
 * gap between the next two firings after it: i.e. when the second firing after the last backup
 * has passed, so at least one whole scheduled backup was missed. Counting from those firings
 * rather than adding 2 × interval to the backup's time keeps irregular schedules honest: for
 * weekdays at 03:00 a Friday backup is not stale over the weekend, only after Tuesday 03:00.
 */
export function backupStale(schedule: string, lastBackupTime: Date, now: Date): boolean {
  const [, second] = firings(schedule, lastBackupTime, 2);
  return second!.getTime() < now.getTime();
}

/** The backups beyond the `retain` newest, oldest first: the ones to delete. */
export function backupsToPrune<T extends { readonly id: string; readonly time: Date }>(backups: readonly T[], retain = DEFAULT_BACKUP_RETAIN): T[] {
  // retain 0 would delete every backup; the schema's minimum is 1, so this is a caller's bug.
  if (!Number.isInteger(retain) || retain < 1) throw new RangeError(`spec.backup.retain must be an integer ≥ 1, not ${retain}`);
  // Newest first; equal times by id (code units, not the locale's order), so every node prunes the same ones.
  const newestFirst = [...backups].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return newestFirst.slice(retain).reverse();
}

/** Throws `BackupScheduleError` unless `schedule` is a valid backup schedule. */
export function validateBackupSchedule(schedule: string): void {
  firings(schedule, new Date(0), 1);
}

function firings(schedule: string, after: Date, count: number): Date[] {
  const expression = parse(schedule, after);
  try {
    // Not take(): it swallows the error and returns fewer dates.
    return Array.from({ length: count }, () => expression.next().toDate());
  } catch (err) {
    // e.g. "0 0 30 2 *" parses but never fires.
    throw new BackupScheduleError(schedule, (err as Error).message);
  }
}

function parse(schedule: string, after: Date): CronExpression {
  const text = schedule.trim();
  let fields: string;
  if (text.startsWith('@')) {
    const expanded = MACROS[text.toLowerCase()];
    if (!expanded) throw new BackupScheduleError(schedule, `unknown macro; use one of ${Object.keys(MACROS).join(', ')}`);
    fields = expanded;
  } else {
    const parts = text.split(/\s+/);
    if (parts.length !== 5) {
      throw new BackupScheduleError(schedule, `needs 5 fields (minute hour day-of-month month day-of-week), got ${text ? parts.length : 0}`);
    }
    // No month or weekday name starts with H, so any such token is Jenkins' hash syntax.
    if (parts.some((part) => part.split(',').some((token) => /^h/i.test(token)))) {
      throw new BackupScheduleError(schedule, 'the H (hash) syntax is not supported');
    }
    fields = parts.join(' ');
  }
  try {
    return CronExpressionParser.parse(fields, { tz: 'UTC', currentDate: after });
  } catch (err) {
    throw new BackupScheduleError(schedule, (err as Error).message);
  }
}
