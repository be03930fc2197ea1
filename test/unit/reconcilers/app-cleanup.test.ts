import { describe, expect, it } from 'vitest';
import { planDrain } from '../../../reconcilers/app-cleanup.js';

describe('planDrain', () => {
  it('stops what runs, forgets what stopped or sits on a lost node, and waits for the rest', () => {
    const plan = planDrain([
      { id: 'running', desired: 'running', phase: 'running' },
      { id: 'stopped', desired: 'stopped', phase: 'stopped' },
      { id: 'stopping', desired: 'stopped', phase: 'running' },
      { id: 'lost', desired: 'stopped', phase: 'running', nodeLostSince: new Date('2026-01-01T00:00:00Z') },
    ], 'its App is being deleted');
    expect(plan).toEqual({
      steps: [{ op: 'stop', id: 'running', why: 'its App is being deleted' }, { op: 'forget', id: 'stopped' }, { op: 'forget', id: 'lost' }],
      drained: false,
    });
  });

  it('lets the App go only once no instance row is left', () => {
    expect(planDrain([], 'gone')).toEqual({ steps: [], drained: true });
  });
});
