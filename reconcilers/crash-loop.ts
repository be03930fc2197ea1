/**
 * CrashLoopBackOff as an App reports it: which of its instances the node's runtime keeps
 * restarting after they exit, and one line each with the restart count, the last exit and the
 * restart that follows it. Pure.
 *
 * Every detail comes from the agent's report of the exit (platform.instances.last_exit, with the
 * restart time the runtime chose), so a crash changes the description once: when the process
 * exits. Its restart a few seconds later changes the phase only, which the description leaves out,
 * so it costs no App status write (bench:crash-loop counts them).
 */
import type { AppInstance } from './app.js';

/** New instances of a rollout that exit this often are failing: an App with spec.rollout.autoRollback returns to its last available revision. */
export const CRASH_LOOP_ROLLBACK_EXITS = 3;

/** Crash-looping instances the App's conditions describe. */
const DESCRIBED = 1;

/**
 * How many times the runtime restarted the instance, or is waiting to (it is in back-off after an
 * exit): the same number from the exit until the next one, whatever the phase in between.
 */
export function restartCount(i: AppInstance): number {
  return (i.restarts ?? 0) + (i.phase === 'backoff' ? 1 : 0);
}

/**
 * Whether the instance is in a crash loop: it exited, its runtime restarts it (or did), and it is
 * not ready since. Refused and stopping instances are not; neither is one whose node is lost
 * (its agent's report is stale).
 */
export function isCrashLooping(i: AppInstance): boolean {
  return (
    i.desired === 'running' &&
    !i.ready &&
    !i.nodeLostSince &&
    Boolean(i.lastExit) &&
    (i.phase === 'backoff' || i.phase === 'starting' || i.phase === 'running') &&
    restartCount(i) >= 1
  );
}

/** The crash-looping instances among `instances`, by id (so the description stays put while they loop). */
export function crashLooping(instances: readonly AppInstance[]): AppInstance[] {
  return instances.filter(isCrashLooping).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * `web-1 on n1: 3 restarts, last exit Error (code 1) at 2026-01-02T03:04:05Z, next restart at
 * 2026-01-02T03:04:45Z` for the first one by id, and how many more (`tend why` lists them all).
 * One, not all: each described instance's crashes rewrite the App's status, so 200 looping
 * instances cost what one does.
 */
export function describeCrashLoop(looping: readonly AppInstance[]): string {
  const described = looping.slice(0, DESCRIBED).map((i) => {
    const exit = i.lastExit!;
    const restarts = restartCount(i);
    const at = exit.at ? ` at ${seconds(exit.at)}` : '';
    const next = exit.restartAt ? `, next restart at ${seconds(exit.restartAt)}` : '';
    return `${i.id} on ${i.node}: ${restarts} restart${restarts === 1 ? '' : 's'}, last exit ${exitText(exit)}${at}${next}`;
  });
  return `${described.join('; ')}${looping.length > DESCRIBED ? `; and ${looping.length - DESCRIBED} more` : ''}`;
}

/** `Error (code 1)`, `Error (signal SIGSEGV)`, `OOMKilled (used 97Mi of its 96Mi memory limit)`. */
export function exitText(exit: NonNullable<AppInstance['lastExit']>): string {
  const detail = exit.message ?? (exit.code !== null && exit.code !== undefined ? `code ${exit.code}` : exit.signal ? `signal ${exit.signal}` : undefined);
  return `${exit.reason}${detail ? ` (${detail})` : ''}`;
}

/** RFC 3339 to the second: what a person reads, and what does not move between two reports of one exit. */
function seconds(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(Math.floor(t / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
