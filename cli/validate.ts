/**
 * `tend validate -f FILE|DIR|- ...`: check tend.dev manifests offline, as the API server would.
 *
 * Exit 0 when every tend.dev document is valid (others are skipped and listed), 1 when any is
 * not (one line per problem on stderr, `file: Kind ns/name: field: message`), 2 for a usage
 * error. Documents are checked in the order given; an object that appears again is checked as
 * an update of its earlier version, so `-f old.yaml -f new.yaml` tests transition rules.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { ManifestPathError, findManifestFiles } from '../api/manifest-files.js';
import { parseManifests, type Manifest, type ManifestSyntaxError } from '../api/manifests.js';
import { formatIssue, formatSkipped, validateManifests } from '../api/validate.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';

/** Usage text of the verb. */
export const VALIDATE_USAGE = `Usage: tend validate -f FILE|DIR|- [-f ...] [--quiet]

Check tend.dev manifests (YAML, several documents per file) against the API's schemas and
validation rules, without a cluster. A folder is searched for *.yaml and *.yml files; - reads
standard input. Documents of other API groups are skipped.

Options:
  -f, --filename PATH   a file, a folder or - (repeatable)
  -q, --quiet           print nothing on success
  -h, --help            show this help`;

/** Run `tend validate` with the arguments after the verb; returns the exit code. */
export function runValidate(args: readonly string[], io: CliIo): number {
  const { values } = parseValidateArgs(args);
  if (values.help) {
    io.out(VALIDATE_USAGE);
    return EXIT.ok;
  }
  const paths = values.filename ?? [];
  if (paths.length === 0) throw new UsageError('validate needs at least one -f FILE|DIR');

  const manifests: Manifest[] = [];
  const syntaxErrors: ManifestSyntaxError[] = [];
  for (const path of paths) {
    const files = path === '-' ? ['-'] : findFiles(path);
    for (const file of files) {
      const text = file === '-' ? io.readStdin() : readFileSync(file, 'utf8');
      const parsed = parseManifests(file === '-' ? '<stdin>' : file, text);
      manifests.push(...parsed.manifests);
      syntaxErrors.push(...parsed.errors);
    }
  }

  const report = validateManifests(manifests, syntaxErrors);
  for (const doc of report.skipped) if (!values.quiet) io.out(formatSkipped(doc));
  for (const issue of report.issues) io.err(formatIssue(issue));
  if (report.issues.length > 0) return EXIT.invalid;
  if (!values.quiet) io.out(`ok: ${report.checked} tend.dev ${report.checked === 1 ? 'object' : 'objects'} valid`);
  return EXIT.ok;
}

function parseValidateArgs(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
}

function findFiles(path: string): string[] {
  try {
    return findManifestFiles(path);
  } catch (err) {
    if (err instanceof ManifestPathError) throw new UsageError(err.message);
    throw err;
  }
}
