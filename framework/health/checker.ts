/**
 * One named health check. `check` resolves when healthy and throws (or rejects) with the reason
 * when not; it should give up when `signal` aborts, which happens when its time is up.
 *
 * ```ts
 * const postgres: Checker = { name: 'postgres', check: () => store.ping() };
 * ```
 */
export interface Checker {
  /** Shown in the probe output as `[+]name ok` / `[-]name failed: …`; unique per endpoint. */
  readonly name: string;
  readonly check: (signal: AbortSignal) => Promise<void>;
  /**
   * Keep the failure's text out of the probe's answer (it is only logged): for checks whose
   * errors carry what the network must not learn, such as a database's user, host or message.
   * @default false
   */
  readonly withholdReason?: boolean;
}

/** One checker's outcome. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  /** Why it failed, on one line; absent when ok. For the log. */
  readonly reason?: string;
  /** What the probe's answer says instead of `reason` (the checker withholds it). */
  readonly shownReason?: string;
}

/** What a probe answers for a checker that withholds its reason. */
export const WITHHELD_REASON = 'reason withheld (see the log)';

// Probe output is line-oriented; a stack trace or a huge message would drown the other lines.
const MAX_REASON = 500;

/** Runs every checker at once, each bounded by `timeoutMs`; never rejects. */
export async function runCheckers(checkers: readonly Checker[], timeoutMs: number): Promise<CheckResult[]> {
  return Promise.all(checkers.map((checker) => runOne(checker, timeoutMs)));
}

async function runOne(checker: Checker, timeoutMs: number): Promise<CheckResult> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // A checker that ignores its signal still cannot hold the probe past the deadline.
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`timed out after ${timeoutMs} ms`);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
    // A probe still running must not keep a stopping process alive.
    timer.unref();
  });
  try {
    await Promise.race([Promise.resolve().then(() => checker.check(controller.signal)), timedOut]);
    return { name: checker.name, ok: true };
  } catch (err) {
    return { name: checker.name, ok: false, reason: oneLine(err), ...(checker.withholdReason ? { shownReason: WITHHELD_REASON } : {}) };
  } finally {
    clearTimeout(timer);
  }
}

function oneLine(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim() || 'failed without a message';
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text;
}
