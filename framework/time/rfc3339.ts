/**
 * RFC 3339 in whole seconds (`2026-11-29T12:03:00Z`), as the API server stores metav1.Time: a
 * millisecond timestamp would read back different and every comparison would see a change.
 */
export function rfc3339Seconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
