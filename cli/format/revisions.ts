/** An App's revision history as `tend rollout history` and `tend why` print it. */
import type { App } from '../../api/types/app.js';
import { revisionTemplateOf, sameTemplate, type RevisionRow } from '../../reconcilers/app-revisions.js';
import { columns } from './sections.js';

/** The table of `rows`, oldest first (kubectl's order), at most the newest `limit`. */
export function revisionTable(app: App, rows: readonly RevisionRow[], limit = Infinity): string[] {
  const shown = [...rows].sort((a, b) => b.number - a.number).slice(0, limit).reverse();
  return columns([
    ['REVISION', 'ID', 'STARTED', 'AVAILABLE', 'STATE'],
    ...shown.map((r) => [String(r.number), r.revision, time(r.startedAt), r.availableAt ? time(r.availableAt) : '-', revisionState(app, r)]),
  ]);
}

/** current (status.revision: what the App runs or rolls out to), spec (what the spec says, while another is current), failed … rolled back to … */
export function revisionState(app: App, r: RevisionRow): string {
  const states: string[] = [];
  if (r.revision === app.status?.revision) states.push('current');
  else if (sameTemplate(r.template, revisionTemplateOf(app))) states.push('spec');
  if (r.failedGeneration !== null) states.push(`failed at generation ${r.failedGeneration} (${r.failure ?? ''}), rolled back to ${r.rolledBackTo ?? '?'}`);
  return states.join('; ');
}

function time(at: Date): string {
  return new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
