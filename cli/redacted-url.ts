import { parseDatabaseUrl, withLogin } from '../framework/index.js';

/** A database URL fit to print or log: its password replaced by `***` (host lists kept). */
export function redactedUrl(url: string): string {
  let hidden = url;
  try {
    if (parseDatabaseUrl(url).password !== undefined) hidden = withLogin(url, { password: '***' });
  } catch {
    // Not one tend could use: still never print what may follow user: in it.
    hidden = url.replace(/^([a-z]+:\/\/[^:/?@]*:)[^/?]*@/i, '$1***@');
  }
  // A password in the query (?password=) or in a libpq key=value string.
  return hidden.replace(/((?:^|[?&\s])password\s*=\s*)('[^']*'|[^&\s]+)/gi, '$1***');
}
