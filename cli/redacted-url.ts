/** A database URL fit to print or log: its password replaced by `***`. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    // Not a URL (a libpq key=value string): hide whatever follows password=.
    return url.replace(/(password\s*=\s*)('[^']*'|\S+)/gi, '$1***');
  }
}
