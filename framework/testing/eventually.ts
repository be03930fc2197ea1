/**
 * Waits for `check` to stop throwing (or return a non-undefined value), polling with a deadline —
 * the only way tests here wait for asynchronous effects; never a fixed sleep.
 */
export async function eventually<T>(check: () => T | Promise<T>, options: { timeoutMs?: number; what?: string } = {}): Promise<Exclude<T, undefined>> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = new Error('never checked');
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    try {
      const value = await check();
      if (value !== undefined) return value as Exclude<T, undefined>;
      lastError = new Error('returned undefined');
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`${options.what ?? 'condition'} not reached within ${timeoutMs} ms: ${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
