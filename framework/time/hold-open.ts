/**
 * Keeps the process alive until `signal` aborts. A long-running loop that waits only on the
 * system clock's unref'd timers (retry sleeps) would otherwise let Node exit the moment its
 * sockets close — e.g. a node agent with no instances exited with code 13 (a top-level await
 * that never settles) within a second of PostgreSQL stopping.
 */
export function holdOpen(signal: AbortSignal): void {
  if (signal.aborted) return;
  // The longest interval Node allows; it never fires in practice, it only holds a ref.
  const timer = setInterval(() => {}, 2 ** 31 - 1);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
