/**
 * @module
 * The reconcile journal: what each replica's reconciles concluded, per object, in PostgreSQL.
 * It answers "what did the controllers last do with this, and what went wrong" from any replica.
 */
export { ReconcileJournal, type ReconcileJournalOptions } from './reconcile-journal.js';
export { entriesFor, entriesAfter, latestEntries, type JournalRow } from './journal-queries.js';
