/**
 * A parameterised SQL statement with a stable name. The name is what the slow-query log and every
 * error show (never the parameter values, which may hold secrets), and what pg uses to prepare the
 * statement once per connection.
 *
 * ```ts
 * export const selectWidget: NamedQuery = {
 *   name: 'widgets.select',
 *   text: 'select key, size from widgets where key = $1',
 * };
 * ```
 */
export interface NamedQuery {
  /** Unique per distinct `text` (pg refuses two texts under one prepared name); `tend.` prefix for the framework's. */
  readonly name: string;
  /** The SQL, with `$1`, `$2` … placeholders; never built from values. */
  readonly text: string;
}
