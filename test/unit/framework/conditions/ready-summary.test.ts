import { describe, expect, it } from 'vitest';
import { MISSING_REASON, READY_REASON, readySummary, type Condition, type ConditionStatus } from '../../../../framework/conditions/index.js';

function condition(type: string, status: ConditionStatus, reason: string, message = ''): Condition {
  return { type, status, reason, message, lastTransitionTime: '2025-01-01T00:00:00Z' };
}

const dependsOn = ['Scheduled', 'Available', 'Routed'];

describe('readySummary', () => {
  it('is True only when every listed condition is True', () => {
    const all = [condition('Scheduled', 'True', 'NodeChosen'), condition('Available', 'True', 'Up'), condition('Routed', 'True', 'Live')];

    expect(readySummary(all, { dependsOn })).toEqual({ status: 'True', reason: READY_REASON, message: '' });
    expect(readySummary(all, { dependsOn: [] }).status).toBe('True');
  });

  it('takes the reason and message of the first failing condition in the listed order', () => {
    const list = [
      condition('Routed', 'False', 'NoBackends', 'no healthy backend'),
      condition('Available', 'False', 'CrashLooping', 'exit code 1'),
      condition('Scheduled', 'True', 'NodeChosen'),
    ];

    expect(readySummary(list, { dependsOn })).toEqual({ status: 'False', reason: 'CrashLooping', message: 'exit code 1' });
  });

  it('prefers a False condition over an earlier Unknown one', () => {
    const list = [condition('Scheduled', 'Unknown', 'NodeSilent', 'node-a missed heartbeats'), condition('Available', 'False', 'CrashLooping'), condition('Routed', 'True', 'Live')];

    expect(readySummary(list, { dependsOn })).toMatchObject({ status: 'False', reason: 'CrashLooping' });
  });

  it('is Unknown when none is False but one is Unknown or missing', () => {
    const unknown = [condition('Scheduled', 'True', 'NodeChosen'), condition('Available', 'Unknown', 'NodeSilent', 'no report'), condition('Routed', 'True', 'Live')];
    const missing = [condition('Scheduled', 'True', 'NodeChosen'), condition('Available', 'True', 'Up')];

    expect(readySummary(unknown, { dependsOn })).toEqual({ status: 'Unknown', reason: 'NodeSilent', message: 'no report' });
    expect(readySummary(missing, { dependsOn })).toEqual({ status: 'Unknown', reason: MISSING_REASON, message: 'Routed has not been reported yet' });
    expect(readySummary(undefined, { dependsOn })).toMatchObject({ status: 'Unknown', message: 'Scheduled has not been reported yet' });
  });

  it('ignores conditions that are not listed', () => {
    const list = [condition('Scheduled', 'True', 'NodeChosen'), condition('Degraded', 'False', 'Whatever')];

    expect(readySummary(list, { dependsOn: ['Scheduled'] }).status).toBe('True');
  });
});
