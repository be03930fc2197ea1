/** The flags of a verb, parsed strictly the same way for every verb. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** What parseVerbArgs returns: node's parseArgs result for these options. */
export type VerbArgs<O extends Options, P extends boolean> = ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP; allowPositionals: P; strict: true }>>;

/** Parses `args` with `options` plus -h/--help; an unknown or malformed flag is a UsageError naming the verb. */
export function parseVerbArgs<const O extends Options, const P extends boolean = false>(verb: string, args: readonly string[], options: O, allowPositionals?: P): VerbArgs<O, P> {
  try {
    return parseArgs({ args: [...args], options: { ...options, ...HELP }, allowPositionals: (allowPositionals ?? false) as P, strict: true });
  } catch (err) {
    throw new UsageError(`${verb}: ${(err as Error).message.split('\n')[0]}`);
  }
}
