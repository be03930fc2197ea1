/**
 * The uids sandboxed instances run as: one per instance, taken from a configured range round
 * robin, kept for the instance's whole life (restarts, spec changes, agent restarts — the
 * state record carries it) and given back when the instance is removed. A uid some process on the
 * host still runs as is never handed out: its owner could signal the new instance, and its
 * processes count against the new instance's process limit (RLIMIT_NPROC is per uid).
 */

/** An inclusive range of uids, e.g. 900000-999999. */
export interface UidRange {
  readonly first: number;
  readonly last: number;
}

/** The default range: far above login users and the usual /etc/subuid blocks (100000 + 65536·n for the first few users). */
export const DEFAULT_INSTANCE_UIDS: UidRange = { first: 900_000, last: 999_999 };

/** Parses "FIRST-LAST"; throws naming what is wrong. uid 0 and the overflow uid 65534 are refused. */
export function parseUidRange(text: string): UidRange {
  const match = /^(\d{1,10})-(\d{1,10})$/.exec(text.trim());
  if (!match) throw new Error(`instance uids "${text}" must look like FIRST-LAST, e.g. 900000-999999`);
  const first = Number(match[1]);
  const last = Number(match[2]);
  if (first < 1_000) throw new Error(`instance uids "${text}" must start at 1000 or above (below are system accounts)`);
  if (last < first) throw new Error(`instance uids "${text}": the last uid is below the first`);
  if (last > 4_294_967_294) throw new Error(`instance uids "${text}": uids end at 4294967294`);
  if (first <= 65_534 && 65_534 <= last) throw new Error(`instance uids "${text}" must not include 65534 (nobody, the overflow uid)`);
  return { first, last };
}

/** Hands out uids of one range; not persistent itself (the runtime reserves recorded uids at startup). */
export class UidAllocator {
  private readonly used = new Set<number>();
  private next: number;

  /** `busy` lists the uids live processes run as now (read at each allocation; default none). */
  constructor(readonly range: UidRange, private readonly busy: () => ReadonlySet<number> = () => new Set()) {
    this.next = range.first;
  }

  /** Marks `uid` as taken (an adopted instance's); false if it is outside the range or already taken. */
  reserve(uid: number): boolean {
    if (!Number.isInteger(uid) || uid < this.range.first || uid > this.range.last || this.used.has(uid)) return false;
    this.used.add(uid);
    return true;
  }

  /** The first free uid after the last one handed out, wrapping around, that no live process runs as; throws when none is left. */
  allocate(): number {
    const size = this.range.last - this.range.first + 1;
    const busy = this.busy();
    let uid = this.next;
    for (let tried = 0; this.used.has(uid) || busy.has(uid); tried++) {
      if (tried >= size) throw new Error(`no free instance uid left in ${this.range.first}-${this.range.last} (${this.used.size} held by instances, others by processes still running)`);
      uid = uid >= this.range.last ? this.range.first : uid + 1;
    }
    this.used.add(uid);
    // Not the lowest free one: a uid just given back is reused last, so a stale process or file of
    // the instance that had it meets a new owner as late as possible.
    this.next = uid >= this.range.last ? this.range.first : uid + 1;
    return uid;
  }

  release(uid: number): void {
    this.used.delete(uid);
  }
}
