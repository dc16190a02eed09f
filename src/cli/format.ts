export const formatJson = (value: unknown): string => JSON.stringify(value, null, 2) + '\n';

const cell = (v: unknown) =>
  v instanceof Date
    ? v.toISOString()
    : Array.isArray(v)
      ? v.join(',')
      : v === null || v === undefined
        ? '-'
        : String(v);

/** Rows as an aligned table, or as JSON with --json. */
export function formatRows(rows: Record<string, unknown>[], json: boolean): string {
  if (json) return formatJson(rows);
  if (rows.length === 0) return '(none)\n';
  const columns = Object.keys(rows[0]);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd() + '\n';
  return [line(columns), ...rows.map((row) => line(columns.map((c) => cell(row[c]))))].join('');
}

/** One record as "key  value" lines, or as JSON with --json. */
export function formatRecord(record: Record<string, unknown>, json: boolean): string {
  if (json) return formatJson(record);
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  return Object.entries(record)
    .map(([key, value]) => {
      const shown =
        value instanceof Date
          ? value.toISOString()
          : Array.isArray(value)
            ? value.join(' ')
            : value === null || value === undefined
              ? '-'
              : String(value);
      return `${key.padEnd(width)}  ${shown}\n`;
    })
    .join('');
}
