import { describe, expect, it } from 'vitest';
import {
  conditionsEqual,
  findCondition,
  isTrue,
  removeCondition,
  setCondition,
  type Condition,
} from '../../../../framework/conditions/index.js';

const t0 = new Date('2025-03-01T10:00:00.123Z');
const t1 = new Date('2025-03-01T10:05:00.456Z');

const scheduled = { type: 'Scheduled', status: 'True', reason: 'NodeChosen', message: 'on node-a' } as const;

describe('setCondition', () => {
  it('appends a new condition stamped with the time in whole seconds and the generation', () => {
    const { conditions, changed } = setCondition(undefined, scheduled, { now: t0, generation: 3 });

    expect(changed).toBe(true);
    expect(conditions).toEqual([{ ...scheduled, lastTransitionTime: '2025-03-01T10:00:00Z', observedGeneration: 3 }]);
  });

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition([], scheduled, { now: t0 }).conditions;
    const { conditions, changed } = setCondition(first, { ...scheduled, status: 'False', reason: 'NoNodeFits' }, { now: t1 });

    expect(changed).toBe(true);
    expect(conditions[0]).toMatchObject({ status: 'False', reason: 'NoNodeFits', lastTransitionTime: '2025-03-01T10:05:00Z' });
  });

  it('keeps lastTransitionTime but reports a change when only the reason or message changes', () => {
    const first = setCondition([], scheduled, { now: t0 }).conditions;

    const reason = setCondition(first, { ...scheduled, reason: 'NodeRechosen' }, { now: t1 });
    const message = setCondition(first, { ...scheduled, message: 'on node-b' }, { now: t1 });

    expect(reason.changed).toBe(true);
    expect(reason.conditions[0]).toMatchObject({ reason: 'NodeRechosen', lastTransitionTime: '2025-03-01T10:00:00Z' });
    expect(message.changed).toBe(true);
    expect(message.conditions[0]).toMatchObject({ message: 'on node-b', lastTransitionTime: '2025-03-01T10:00:00Z' });
  });

  it('reports a new observedGeneration as a change without moving the time', () => {
    const first = setCondition([], scheduled, { now: t0, generation: 1 }).conditions;
    const { conditions, changed } = setCondition(first, scheduled, { now: t1, generation: 2 });

    expect(changed).toBe(true);
    expect(conditions[0]).toMatchObject({ observedGeneration: 2, lastTransitionTime: '2025-03-01T10:00:00Z' });
  });

  it('reports no change for the same values and returns equal content in a new array', () => {
    const first = setCondition([], scheduled, { now: t0, generation: 1 }).conditions;
    const again = setCondition(first, scheduled, { now: t1, generation: 1 });

    expect(again.changed).toBe(false);
    expect(again.conditions).toEqual(first);
    expect(again.conditions).not.toBe(first);
  });

  it('never mutates its input and keeps the order, appending new types', () => {
    const input: Condition[] = [
      { type: 'Scheduled', status: 'True', reason: 'NodeChosen', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
      { type: 'Available', status: 'False', reason: 'Starting', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
    ];
    const snapshot = structuredClone(input);

    const updated = setCondition(input, { type: 'Scheduled', status: 'False', reason: 'NodeLost', message: '' }, { now: t0 });
    const appended = setCondition(updated.conditions, { type: 'Progressing', status: 'True', reason: 'Rolling', message: '' }, { now: t0 });

    expect(input).toEqual(snapshot);
    expect(appended.conditions.map((c) => c.type)).toEqual(['Scheduled', 'Available', 'Progressing']);
  });

  it('drops observedGeneration when the update gives no generation', () => {
    const first = setCondition([], scheduled, { now: t0, generation: 4 }).conditions;
    const { conditions, changed } = setCondition(first, scheduled, { now: t1 });

    expect(changed).toBe(true);
    expect(conditions[0]).not.toHaveProperty('observedGeneration');
  });

  it('refuses values the API server would reject', () => {
    const now = { now: t0 };
    expect(() => setCondition([], { ...scheduled, reason: '' }, now)).toThrow(/reason "" is not valid/);
    expect(() => setCondition([], { ...scheduled, reason: 'no spaces allowed' }, now)).toThrow(/reason/);
    expect(() => setCondition([], { ...scheduled, status: 'Yes' as never }, now)).toThrow(/status must be/);
    expect(() => setCondition([], { ...scheduled, type: 'not a type' }, now)).toThrow(/condition type/);
    expect(() => setCondition([], scheduled, { now: t0, generation: -1 })).toThrow(/generation/);
    expect(setCondition([], { ...scheduled, type: 'tend.dev/Placed' }, now).changed).toBe(true);
  });

  it('shortens a message longer than the API server accepts', () => {
    const { conditions } = setCondition([], { ...scheduled, message: 'x'.repeat(40_000) }, { now: t0 });

    expect(Array.from(conditions[0]!.message)).toHaveLength(32_768);
    expect(conditions[0]!.message.endsWith('…')).toBe(true);
  });
});

describe('findCondition, isTrue and removeCondition', () => {
  const list = setCondition([], scheduled, { now: t0 }).conditions;

  it('find a condition by type and tell whether it is True', () => {
    expect(findCondition(list, 'Scheduled')?.reason).toBe('NodeChosen');
    expect(findCondition(list, 'Available')).toBeUndefined();
    expect(isTrue(list, 'Scheduled')).toBe(true);
    expect(isTrue(list, 'Available')).toBe(false);
    expect(isTrue(undefined, 'Scheduled')).toBe(false);
  });

  it('remove a condition and report whether anything was removed', () => {
    const removed = removeCondition(list, 'Scheduled');
    const absent = removeCondition(list, 'Available');

    expect(removed).toEqual({ conditions: [], changed: true });
    expect(list).toHaveLength(1);
    expect(absent.changed).toBe(false);
    expect(absent.conditions).toEqual(list);
  });
});

describe('conditionsEqual', () => {
  const a: Condition = { type: 'A', status: 'True', reason: 'Fine', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' };
  const b: Condition = { type: 'B', status: 'False', reason: 'Broken', message: 'x', lastTransitionTime: '2025-01-01T00:00:00Z', observedGeneration: 2 };

  it('ignores order but not any field', () => {
    expect(conditionsEqual([a, b], [b, a])).toBe(true);
    expect(conditionsEqual([], undefined)).toBe(true);
    expect(conditionsEqual([a, b], [a])).toBe(false);
    expect(conditionsEqual([a, b], [a, { ...b, message: 'y' }])).toBe(false);
    expect(conditionsEqual([a, b], [a, { ...b, observedGeneration: 3 }])).toBe(false);
    expect(conditionsEqual([a], [{ ...a, lastTransitionTime: '2025-01-01T00:00:01Z' }])).toBe(false);
  });
});
