import { describe, expect, it } from 'vitest';
import { formatIssue, validateText } from '../../../api/validate.js';
import { validateBackupSchedule } from '../../../reconcilers/backup-schedule.js';

/** What `tend validate` (and so the API server, same rules) says of a Volume with this schedule. */
function schemaIssues(schedule: string): string[] {
  const text = `apiVersion: tend.dev/v1alpha1\nkind: Volume\nmetadata: { name: data }\nspec:\n  size: 1Gi\n  backup: { schedule: ${JSON.stringify(schedule)} }\n`;
  return validateText('volume.yaml', text).issues.map(formatIssue);
}

function agentAccepts(schedule: string): boolean {
  try {
    validateBackupSchedule(schedule);
    return true;
  } catch {
    return false;
  }
}

const FIELDS = ['minute', 'hour', 'day of month', 'month', 'day of week'] as const;
const NUMBERS = ['-1', '00', '07', '000', ...Array.from({ length: 101 }, (_, i) => String(i))];
const NAMES = ['jan', 'FEB', 'Dec', 'foo', 'mon', 'SUN', 'sat', 'xyz'];
const SPECIAL = ['L', '5L', 'fri#2', '1#5', '1#6', '?', '*', '*/5', '*/0', '1-5', '5-1/2', '1,2,3', '10-20/5'];

function withField(position: number, value: string): string {
  return ['0', '0', '*', '*', '*'].map((f, i) => (i === position ? value : f)).join(' ');
}

describe('backup schedule bounds at apply time', () => {
  it.each(FIELDS.map((name, position) => [name, position] as const))(
    'admits a %s value exactly when the agent’s scheduler can run it',
    (_name, position) => {
      const values = [...NUMBERS, ...NAMES, ...SPECIAL].filter((value) => value !== '5-1/2'); // reversed ranges are the agent's to report
      const admitted = (value: string) => schemaIssues(withField(position, value)).length === 0;
      const runs = (value: string) => agentAccepts(withField(position, value));
      expect(values.filter((v) => admitted(v) && !runs(v)), 'admitted, but the scheduler refuses').toEqual([]);
      // Stricter than cron-parser only on forms no one means: three-digit values and ? outside the day fields.
      const stricter = [['000', '?'], ['000', '?'], [], ['?'], ['000']][position];
      expect(values.filter((v) => !admitted(v) && runs(v)), 'refused, though the scheduler runs it').toEqual(stricter);
    },
  );

  it('names the field and its range in the message', () => {
    expect(schemaIssues('0 25 * * *')).toEqual([
      'volume.yaml: Volume default/data: spec.backup.schedule: Invalid value: "0 25 * * *": the hour (the 2nd field) must be 0-23: a value, *, a range a-b, a step /n, or a list of them',
    ]);
  });

  it('admits the macros and the examples in the docs', () => {
    for (const schedule of ['@daily', '@hourly', '@weekly', '@monthly', '@yearly', '0 3 * * *', '*/15 * * * *', '0 3 * * mon-fri', '0 0 1 jan,jul *']) {
      expect(schemaIssues(schedule), schedule).toEqual([]);
    }
  });
});
