/**
 * Multi-document YAML → documents with their file and line, read as kubectl reads them
 * (YAML 1.1, so `yes`/`on` are booleans). A syntax error names the file and line and keeps
 * the other documents of the file.
 */
import { LineCounter, parseAllDocuments } from 'yaml';

/** One YAML document of a manifest file. */
export interface Manifest {
  readonly file: string;
  /** 1-based line where the document's content starts. */
  readonly line: number;
  /** The parsed content: usually an object, but anything YAML can hold. */
  readonly object: unknown;
}

/** A YAML document that could not be parsed. */
export interface ManifestSyntaxError {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

/** Split text into documents; empty documents (only comments, or `---` twice) are left out. */
export function parseManifests(
  file: string,
  text: string,
): { manifests: Manifest[]; errors: ManifestSyntaxError[] } {
  const lineCounter = new LineCounter();
  const manifests: Manifest[] = [];
  const errors: ManifestSyntaxError[] = [];
  for (const doc of parseAllDocuments(text, { lineCounter, version: '1.1', prettyErrors: false })) {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const line = error.linePos?.[0].line ?? lineCounter.linePos(error.pos[0]).line;
        errors.push({ file, line, message: `YAML syntax error: ${error.message.split('\n')[0]}` });
      }
      continue;
    }
    const object: unknown = doc.toJS({ maxAliasCount: 100 });
    if (object === null || object === undefined) continue; // empty, or only comments: kubectl skips these too
    const start = doc.contents?.range?.[0] ?? 0;
    manifests.push({ file, line: lineCounter.linePos(start).line, object });
  }
  return { manifests, errors };
}
