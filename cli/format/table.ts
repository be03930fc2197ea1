/**
 * `tend get` output: the table `kubectl get` prints for tend's kinds, built without a server.
 *
 * Two pieces of Kubernetes are mirrored so that both tools print the same text:
 * - the API server's table for a custom resource (apiextensions-apiserver
 *   `registry/customresource/tableconvertor/tableconvertor.go`): NAME, then each printer column
 *   from the first result of its JSONPath, typed by the column's `type`; dates become ages
 *   (`duration.HumanDuration`, apimachinery `pkg/util/duration/duration.go`);
 * - kubectl's printer (cli-runtime `printers/tableprinter.go`): NAMESPACE first with
 *   `--all-namespaces` on a namespaced kind, priority > 0 columns only with `-o wide`, headers
 *   upper-cased, no header at all for an empty list, a cell cut at its first line break (`...`
 *   appended) and ESC shown as `^[`, columns laid out by Go's tabwriter with kubectl's settings
 *   (minimum cell width 6 including padding, padding 3 spaces, the last column not padded).
 *
 * Missing values print as an empty cell, not `<none>`: the convertor stores nil for a path that
 * finds nothing (or a value of the wrong type) and kubectl's printRows writes nothing for a nil
 * cell; `<none>` comes only from kubectl's built-in printers for core kinds (e.g. a Service's
 * EXTERNAL-IP), never for CRD columns. The few other placeholders are the convertor's own:
 * `<no value>` for an explicit null in a string column, `<unknown>` and `<invalid>` for dates.
 * Rows keep the order given (kubectl does not sort; the API server lists by namespace, then name).
 */
import { compileJsonPath, evaluateJsonPath, printerColumns, type JsonPathStep, type PrinterColumn } from './printer-columns.js';

/** What renderTable needs of an object: its name and namespace; columns read the rest by JSONPath. */
export interface TableObject {
  readonly metadata: { readonly name?: string; readonly namespace?: string };
}

/** How to print a table. */
export interface TableOptions {
  /** The clock for AGE and other date columns. */
  readonly now: Date;
  /** Also print priority > 0 columns, like `-o wide`. @default false */
  readonly wide?: boolean;
  /** Whether the kind is namespaced (cluster-scoped kinds never get a NAMESPACE column). */
  readonly namespaced: boolean;
  /** Listing every namespace, like `-A`: NAMESPACE becomes the first column. @default false */
  readonly allNamespaces?: boolean;
}

/** The lines `kubectl get <kind>` prints for `objects` (none at all for an empty list, like kubectl). */
export function renderTable(kind: string, objects: readonly TableObject[], options: TableOptions): string[] {
  if (objects.length === 0) return [];
  const columns = printerColumns(kind)
    .filter((c) => options.wide || (c.priority ?? 0) === 0)
    .map((column) => ({ column, path: compileJsonPath(column.jsonPath) }));
  const withNamespace = options.namespaced && (options.allNamespaces ?? false);

  const header = [...(withNamespace ? ['NAMESPACE'] : []), 'NAME', ...columns.map((c) => c.column.name.toUpperCase())];
  const rows = objects.map((obj) => [
    ...(withNamespace ? [obj.metadata.namespace ?? ''] : []),
    obj.metadata.name ?? '',
    ...columns.map(({ column, path }) => cellText(column, path, obj, options.now)),
  ]);
  return layOut([header, ...rows.map((row) => row.map(escapeCell))]);
}

/** kubectl's age of something created at `from`, seen at `now`: `45s`, `3m20s`, `5h`, `12d`, `2y30d`. */
export function formatAge(from: Date, now: Date): string {
  return humanDuration(now.getTime() - from.getTime());
}

/** apimachinery's `duration.HumanDuration` for a duration in milliseconds (~2-3 significant figures). */
export function humanDuration(ms: number): string {
  // Up to 2 s in the future (clock skew) counts as now; Go truncates every division toward zero.
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(ms / 3_600_000);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) {
    const d = days % 365;
    return d === 0 ? `${years}y` : `${years}y${d}d`;
  }
  return `${years}y`;
}

/** One cell, as the CRD table convertor computes it (cellForJSONValue, or jsonpath text for strings). */
function cellText(column: PrinterColumn, path: readonly JsonPathStep[], obj: TableObject, now: Date): string {
  const found = evaluateJsonPath(obj, path);
  if (found.length === 0) return '';
  const value = found[0]; // "as we only support simple JSON path, we can assume to have only one result"
  switch (column.type) {
    case 'string':
      return jsonPathText(value);
    case 'integer':
      return typeof value === 'number' ? goInteger(Math.trunc(value)) : '';
    case 'number':
      return typeof value === 'number' ? goFloat(value) : '';
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : '';
    case 'date':
      return typeof value === 'string' ? dateText(value, now) : '';
  }
}

/** client-go jsonpath's text of a value: Go's fmt for scalars, JSON for maps and slices. */
function jsonPathText(value: unknown): string {
  if (value === null || value === undefined) return '<no value>'; // text/template's printableValue
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? goInteger(value) : goFloat(value);
  if (typeof value === 'boolean') return String(value);
  return JSON.stringify(value, sortedKeys); // encoding/json sorts map keys
}

/** A JSON integer, decoded as int64 by the API server; past int64 it stays a float64. */
function goInteger(value: number): string {
  return Math.abs(value) < 2 ** 63 ? BigInt(value).toString() : goFloat(value);
}

/** Go's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 up (`1e+06`). */
function goFloat(value: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const [mantissa = '', exponent = '0'] = value.toExponential().split('e');
  const exp = Number(exponent);
  if (exp >= -4 && exp < 6) return String(value);
  return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** metav1.Time.UnmarshalQueryParameter, then ConvertToHumanReadableDateType. */
function dateText(text: string, now: Date): string {
  if (text === '' || text === 'null') return '<unknown>'; // the zero time
  const ms = parseRfc3339(text);
  if (ms === undefined) return '<invalid>';
  if (ms === GO_ZERO_TIME_MS) return '<unknown>';
  return humanDuration(now.getTime() - ms);
}

/** 0001-01-01T00:00:00Z, Go's zero time.Time. */
const GO_ZERO_TIME_MS = -62_135_596_800_000;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** Go's time.Parse(time.RFC3339, …) in epoch milliseconds, or undefined where Go returns an error. */
function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // setUTCFullYear, unlike Date.UTC, keeps years 0-99
  if (date.getUTCMonth() !== month - 1) return undefined; // month 13, or day 30 of February, rolled over
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offsetHours = Number(m[9] ?? 0);
  const offsetMinutes = Number(m[10] ?? 0);
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const offsetMs = (m[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const millis = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  date.setUTCHours(hour, minute, second, millis);
  return date.getTime() - offsetMs;
}

function sortedKeys(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** kubectl's appendCellValue: cut at the first line break (and say so), show ESC as `^[`. */
function escapeCell(text: string): string {
  const cut = text.search(/[\f\n\r]/);
  const shown = cut < 0 ? text : `${text.slice(0, cut)}...`;
  return shown.replaceAll('\x1b', '^[');
}

/** kubectl's tabwriter.NewWriter(out, 6, 4, 3, ' ', RememberWidths): width = max(6, widest + 3). */
const TAB_MIN_WIDTH = 6;
const TAB_PADDING = 3;

/** Aligns cells into columns; the last cell of a line is not part of a column, so it is not padded. */
function layOut(lines: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const cells of lines) {
    cells.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? TAB_MIN_WIDTH, runeCount(cell) + TAB_PADDING);
    });
  }
  // (kubectl flushes its tabwriter every 100 rows, so past 100 rows its columns may widen midway;
  // here the whole table shares one width per column.)
  return lines.map((cells) =>
    cells.map((cell, i) => (i < cells.length - 1 ? cell + ' '.repeat((widths[i] ?? 0) - runeCount(cell)) : cell)).join(''),
  );
}

/** Go's tabwriter measures text in runes (code points), not UTF-16 units. */
function runeCount(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}
