/**
 * How a user runs this tend, for hints printed to them: `tend` when it is an installed package (npm
 * i -g @tend-dev/tend puts the bin on PATH), `npx tend` in a checkout, where npx finds the bin of the
 * package it stands in. (Outside a checkout `npx tend` would fetch npm's unrelated `tend`.)
 */
import { fileURLToPath } from 'node:url';
import { sep } from 'node:path';

/** `tend` when `file` (default: this module) lies in a node_modules folder, else `npx tend`. */
export function tendCommand(file: string = fileURLToPath(import.meta.url)): string {
  return file.split(sep).includes('node_modules') ? 'tend' : 'npx tend';
}
