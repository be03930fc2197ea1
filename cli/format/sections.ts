/** Building blocks of `tend describe` and `tend why`: titled sections and aligned columns. */

/** Lines of `rows` with every column padded to its widest cell (3 spaces apart, like kubectl). */
export function columns(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd());
}

/** `label:` padded to `width`, then the value (describe's header block). */
export function field(label: string, value: string, width = 18): string {
  return `${`${label}:`.padEnd(width)}${value}`;
}

/** Indents every line of a block of text. */
export function indented(text: string, indent = '  '): string[] {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => indent + line);
}
