/**
 * The instances' output, read for the agent to store (InstanceLogSource), and their logs rotated
 * without losing a line. An instance appends to `<id>.log` itself (no pipe through the agent, so
 * it keeps writing while the agent is away); this reads each log from where it got to.
 *
 * - Runs. Each start of a process begins a run, named by its start time. Nothing writes the log
 *   between the end of one process and the start of the next, so the log's size at the start is
 *   exactly where the new run's output begins: the log is a list of segments, one per run.
 * - Lines. Chunks hold whole lines; a line longer than 16 KiB is cut there, and the unfinished
 *   last line of a run that ended is closed with a newline.
 * - Rotation. Past `maxBytes` a log is copied to `<id>.log.1` and truncated. What is written
 *   between the copy and the truncation used to be lost; now the instance's processes are
 *   stopped (freeze.ts) for the last read and the truncation. Once someone reads (`resume`), a
 *   log is rotated only when reading has caught up with it (what is left is read under the
 *   freeze); if it falls far behind — the instance writes faster than its output is stored, or
 *   the database is away — the log grows to 4 × `maxBytes`, then is rotated anyway, and a line
 *   in the output says how many bytes were not stored (they are in `<id>.log.1` on the node).
 */
import { appendFileSync, closeSync, copyFileSync, fstatSync, ftruncateSync, openSync, readSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { freezeTree } from './freeze.js';
import type { InstanceLogSource, LogChunk, LogPosition } from './runtime.js';
import type { StateDir } from './state-dir.js';

/** Lines longer than this are cut into pieces of it. */
export const MAX_LINE_BYTES = 16 * 1024;
/** A log is rotated normally only when no more than this of it is still to be read. */
const CATCH_UP_BYTES = 2 ** 20;
/** Chunks taken but not stored, per instance: beyond this the log file itself is the buffer. */
const HELD_MAX_BYTES = 2 ** 20;

/** Part of a log written by one run: bytes `from`…`to` (`to` undefined: the run goes on). */
interface Segment {
  readonly run: string;
  from: number;
  to: number | undefined;
  /** Whether the chunk that marks the run's start has been handed out. */
  announced: boolean;
}

interface Tail {
  /** In order; the last one is the live run (or the run that ended last). Reading is at segments[0].from. */
  segments: Segment[];
  /** Bytes read after the last newline: the start of a line still being written. */
  partial: Buffer;
  /** Chunks handed out by `take` and not yet marked stored. */
  held: LogChunk[];
  heldBytes: number;
  /** The log's size when the current run started (from its record): splits runs on resume. */
  runOffset: number | undefined;
}

export interface InstanceLogsOptions {
  readonly stateDir: StateDir;
  readonly maxBytes: number;
  /** Past this many times `maxBytes` a log is rotated even when reading is behind. @default 4 */
  readonly forceFactor?: number;
  readonly logger: Logger;
  /** @default Date.now */
  readonly now?: () => number;
}

const EMPTY = Buffer.alloc(0);
const NEWLINE = Buffer.from('\n');

/** Every instance's log of one runtime: read for storing, and rotated. */
export class InstanceLogs implements InstanceLogSource {
  private readonly tails = new Map<string, Tail>();
  private reading = false;
  private readonly now: () => number;

  constructor(private readonly options: InstanceLogsOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * A process of `id` is about to start (none of its runs is running): closes the last run's
   * segment at the log's size and opens one for `run`. Returns that size, for the record.
   */
  runStarting(id: string, run: string): number {
    const size = sizeOf(this.options.stateDir.logPath(id));
    const tail = this.tails.get(id) ?? this.newTail();
    this.tails.set(id, tail);
    tail.runOffset = size;
    if (!this.reading) {
      // Nobody reads yet: only the run that is going on matters.
      tail.segments = [{ run, from: size, to: undefined, announced: false }];
      tail.partial = EMPTY;
      return size;
    }
    const live = tail.segments.at(-1);
    if (live && live.to === undefined) live.to = Math.max(live.from, size);
    tail.segments.push({ run, from: size, to: undefined, announced: false });
    return size;
  }

  /** An instance found in the state folder (adopted, or dead since): its run, and where that run's output began. */
  adopted(id: string, run: string, runOffset: number | undefined): void {
    this.tails.set(id, { ...this.newTail(), segments: [{ run, from: 0, to: undefined, announced: true }], runOffset });
  }

  /** The instance is gone for good: forget it (its log files go with StateDir.removeLogs). */
  removed(id: string): void {
    this.tails.delete(id);
  }

  resume(positions: ReadonlyMap<string, LogPosition>): void {
    const wasReading = this.reading;
    this.reading = true;
    if (wasReading) return;
    for (const [id, tail] of this.tails) {
      const live = tail.segments.at(-1);
      if (!live) continue;
      const position = positions.get(id);
      const size = sizeOf(this.options.stateDir.logPath(id));
      const valid = position !== undefined && position.offset <= size;
      if (position?.run === live.run) {
        // Stored up to here (an offset past the end: the log was rotated after it).
        tail.segments = [{ run: live.run, from: valid ? position.offset : 0, to: undefined, announced: true }];
      } else if (position && valid && tail.runOffset !== undefined && position.offset <= tail.runOffset && tail.runOffset <= size) {
        // The end of the run before, then the current run, whose start was never stored.
        tail.segments = [
          { run: position.run, from: position.offset, to: tail.runOffset, announced: true },
          { run: live.run, from: tail.runOffset, to: undefined, announced: false },
        ];
      } else if (live.announced || position) {
        // Adopted with nothing stored (or a position that cannot be placed): all of the log, as this run's.
        tail.segments = [{ run: live.run, from: valid ? position.offset : 0, to: undefined, announced: false }];
      }
      // Otherwise a run this runtime started before anyone read: its segment is right as it is.
    }
  }

  take(limits: { readonly perInstanceBytes: number; readonly totalBytes: number }): LogChunk[] {
    if (!this.reading) return [];
    for (const [id, tail] of this.tails) {
      try {
        if (tail.heldBytes < HELD_MAX_BYTES) this.read(id, tail, limits.perInstanceBytes);
      } catch (err) {
        this.options.logger.warn({ err, instance: id }, 'could not read an instance log');
      }
    }
    const out: LogChunk[] = [];
    let bytes = 0;
    for (const tail of this.tails.values()) {
      for (const chunk of tail.held) {
        if (out.length > 0 && bytes + chunk.text.length > limits.totalBytes) return out;
        out.push(chunk);
        bytes += chunk.text.length;
      }
    }
    return out;
  }

  stored(chunks: readonly LogChunk[]): void {
    for (const chunk of chunks) {
      const tail = this.tails.get(chunk.instance);
      if (tail?.held[0] === chunk) {
        tail.held.shift();
        tail.heldBytes -= chunk.text.length;
      }
    }
  }

  /**
   * Rotates `id`'s log when it is past `maxBytes` and, if someone reads, reading has caught up;
   * `pid` is its running process (frozen for the moment of the truncation). Returns whether it rotated.
   */
  rotate(id: string, pid: number | undefined): boolean {
    const log = this.options.stateDir.logPath(id);
    const size = sizeOf(log);
    const { maxBytes } = this.options;
    if (size <= maxBytes) return false;
    const tail = this.reading ? this.tails.get(id) : undefined;
    const live = tail?.segments.at(-1);
    let forced = false;
    if (tail && live) {
      const behind = tail.segments.length > 1 || size - live.from > CATCH_UP_BYTES || tail.heldBytes >= HELD_MAX_BYTES;
      if (behind) {
        if (size <= (this.options.forceFactor ?? 4) * maxBytes) return false; // reading catches up first
        forced = true;
      }
    }
    copyFileSync(log, `${log}.1`);
    const copied = sizeOf(`${log}.1`);
    const frozen = pid === undefined ? undefined : freezeTree(pid);
    let end = 0;
    try {
      const fd = openSync(log, 'r+');
      try {
        end = fstatSync(fd).size;
        if (end > copied) appendFileSync(`${log}.1`, readRange(fd, copied, end));
        if (tail && live && !forced) {
          this.announce(id, tail, live);
          // Reading resumes at the start of the emptied log after these lines.
          this.capture(id, tail, live, fd, live.from, end, 0);
        }
        ftruncateSync(fd, 0);
      } finally {
        closeSync(fd);
      }
    } finally {
      frozen?.thaw();
    }
    if (frozen && !frozen.complete) this.options.logger.warn({ instance: id }, 'an instance process did not stop for its log rotation: a line written at that moment may be lost');
    if (tail && live) {
      if (forced) {
        const skipped = tail.segments.reduce((sum, s) => sum + Math.max(0, (s.to ?? end) - s.from), 0);
        this.options.logger.warn({ instance: id, skipped }, 'instance log rotated before it was all stored: it writes faster than its output is stored, or the database is unreachable');
        const segment: Segment = { ...live, from: 0, to: undefined };
        tail.segments = [segment];
        tail.partial = EMPTY;
        this.announce(id, tail, segment);
        this.hold(tail, {
          instance: id, run: live.run, lines: 1, at: this.now(), offset: 0,
          text: `[tend: ${skipped} bytes of this instance's output were not stored: it wrote faster than they could be, or the database was unreachable; they are in its rotated log on the node]\n`,
        });
      } else {
        live.from = 0;
      }
    }
    return true;
  }

  private newTail(): Tail {
    return { segments: [], partial: EMPTY, held: [], heldBytes: 0, runOffset: undefined };
  }

  /** The chunk that says a run started, once, before any of its lines. */
  private announce(id: string, tail: Tail, segment: Segment): void {
    if (segment.announced) return;
    this.hold(tail, { instance: id, run: segment.run, text: '', lines: 0, at: this.now(), offset: segment.from });
    segment.announced = true;
  }

  /** Reads up to `budget` new bytes of the log into chunks, run by run. */
  private read(id: string, tail: Tail, budget: number): void {
    const log = this.options.stateDir.logPath(id);
    let fd: number | undefined;
    try {
      while (tail.segments.length > 0) {
        const segment = tail.segments[0]!;
        this.announce(id, tail, segment);
        let end = segment.to;
        if (end === undefined) {
          const size = sizeOf(log);
          if (size < segment.from) segment.from = 0; // truncated by someone else
          end = size;
        }
        if (segment.from < end && budget > 0) {
          fd ??= openSync(log, 'r');
          const upTo = Math.min(end, segment.from + budget);
          budget -= upTo - segment.from;
          this.capture(id, tail, segment, fd, segment.from, upTo);
        }
        if (segment.to === undefined || segment.from < segment.to) return;
        // The run ended and all of it is read: its last line, even unfinished, is complete now.
        if (tail.partial.length > 0) this.emit(id, tail, segment.run, Buffer.concat([tail.partial, NEWLINE]), segment.to);
        tail.partial = EMPTY;
        tail.segments.shift();
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /**
   * Bytes `from`…`to` of the open log into whole-line chunks of `segment`'s run; the rest waits in
   * `partial`. `offsetAfter`: where reading resumes after the chunk (default: the end of its lines).
   */
  private capture(id: string, tail: Tail, segment: Segment, fd: number, from: number, to: number, offsetAfter?: number): void {
    const data = Buffer.concat([tail.partial, readRange(fd, from, to)]);
    segment.from = to;
    let cut = data.lastIndexOf(0x0a) + 1;
    let rest = data.subarray(cut);
    while (rest.length > MAX_LINE_BYTES) {
      cut += MAX_LINE_BYTES;
      rest = data.subarray(cut);
    }
    tail.partial = Buffer.from(rest);
    if (cut === 0) return;
    // A line cut at MAX_LINE_BYTES gets its newline here, so every chunk is whole lines.
    const whole = data.subarray(0, cut);
    const text = whole[whole.length - 1] === 0x0a ? whole : Buffer.concat([whole, NEWLINE]);
    this.emit(id, tail, segment.run, cutLongLines(text), offsetAfter ?? Math.max(0, to - rest.length));
  }

  private emit(id: string, tail: Tail, run: string, bytes: Buffer, offset: number): void {
    // PostgreSQL text holds no NUL; invalid UTF-8 becomes U+FFFD.
    const text = bytes.toString('utf8').replaceAll('\0', '\uFFFD');
    let lines = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
    this.hold(tail, { instance: id, run, text, lines, at: this.now(), offset });
  }

  private hold(tail: Tail, chunk: LogChunk): void {
    tail.held.push(chunk);
    tail.heldBytes += chunk.text.length;
  }
}

/** Splits every line longer than MAX_LINE_BYTES into lines of at most that many bytes (`bytes` ends in a newline). */
function cutLongLines(bytes: Buffer): Buffer {
  const pieces: Buffer[] = [];
  let changed = false;
  for (let start = 0; start < bytes.length; ) {
    const newline = bytes.indexOf(0x0a, start);
    const end = newline < 0 ? bytes.length : newline;
    if (end - start <= MAX_LINE_BYTES) {
      pieces.push(bytes.subarray(start, end + 1));
    } else {
      changed = true;
      for (let at = start; at < end; at += MAX_LINE_BYTES) pieces.push(bytes.subarray(at, Math.min(end, at + MAX_LINE_BYTES)), NEWLINE);
    }
    start = end + 1;
  }
  return changed ? Buffer.concat(pieces) : bytes;
}

function readRange(fd: number, from: number, to: number): Buffer {
  const buffer = Buffer.alloc(Math.max(0, to - from));
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, from + done);
    if (n === 0) break;
    done += n;
  }
  return done === buffer.length ? buffer : buffer.subarray(0, done);
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
