/** Log lines for a person at the terminal: pino JSON in, one readable line each out (tend up's warnings). */
import { Writable } from 'node:stream';
import { formatLogLine, parseLogLine } from '../format/log-line.js';
import type { CliIo } from '../io.js';

/** A pino destination that prints each line readably on `io.err`. */
export function terminalLogStream(io: CliIo, color = Boolean(process.stderr.isTTY)): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const entry = parseLogLine(line);
        if (entry) io.err(formatLogLine(entry, { color }));
      }
      callback();
    },
  });
}
