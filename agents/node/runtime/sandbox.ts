/**
 * The instance sandbox: each instance in its own mount, PID, IPC, UTS and cgroup namespaces
 * (util-linux `unshare`), as its own unprivileged uid/gid (`setpriv`), seeing the host's file
 * system read-only and nothing of the agent.
 *
 * Design notes
 * - One process tree per instance: `unshare --fork` (our child, the process group leader whose pid
 *   the runtime records) → the sandbox init below (pid 1 of the new PID namespace, root) → the
 *   instance (setpriv'd). `--kill-child` ties the namespace to `unshare`: when the runtime SIGKILLs
 *   the group, the init dies and the kernel kills everything left in the namespace, whatever
 *   process group it moved to. SIGTERM reaches the instance through the group; the init, being a
 *   namespace's pid 1 without a handler, ignores it and waits for the instance's exit status.
 * - The init assembles a root in its own mount namespace (private propagation: nothing reaches the
 *   host) on `rootDir`: a recursive bind of `/`, every mount remounted read-only; private tmpfs
 *   /tmp and /dev/shm; the working folder bound again read-write (file permissions still apply:
 *   the instance's uid owns nothing there); `hiddenPaths` (the agent's state folder, …) covered by
 *   an empty read-only tmpfs; the instance's volumes bound read-write under /mnt/volumes (a fresh
 *   tmpfs over the host's /mnt), the env's host paths of them rewritten to match; a fresh /proc of
 *   its PID namespace. Any folder on the way to the working folder that others may not traverse (a
 *   mode-0700 home) is covered by a tmpfs holding only that way (the working folder itself keeps
 *   its mode). Then pivot_root, and the old root is detached.
 * - The instance's environment never passes through argv or the agent's environment: the runtime
 *   writes a small shell script (exports, then `exec setpriv … -- command`) to a 0600 file, hands
 *   it over as fd 3 and deletes it at once; the init runs it with `env -i`. `unshare` and the init
 *   run with PATH only. What the instance gets is exactly the spec's env (with PORT and
 *   TEND_INSTANCE, which the runtime adds).
 * - Volumes are chowned to the instance's uid before it starts (`chown -R -P`, which never follows
 *   a symlink the instance planted), only when the folder is not its uid's already.
 * - The number of processes (threads count) an instance's uid may have is capped with
 *   RLIMIT_NPROC (`prlimit --nproc`, set as root just before the uid drop): each instance has a uid
 *   of its own, so the cap is per instance, and a fork bomb gets EAGAIN instead of the node's pid
 *   table. cgroup `pids.max` would do the same but needs a delegated cgroup v2 tree.
 * - Not isolated (yet): the network (instances share the host's; see the overlay issue), disk use
 *   outside volumes (the working folder is the host's).
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { UidRange } from './uid-range.js';

const execFileAsync = promisify(execFile);

/** The PATH `unshare`, the init and `chown` run with: the agent's own PATH is not passed on. */
export const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SandboxOptions {
  /** Where instance uids (and gids, the same numbers) come from. */
  readonly uids: UidRange;
  /** Folders and files instances must not see (at least the agent's state folder). */
  readonly hiddenPaths: readonly string[];
  /** An empty folder each instance's root is assembled on, in its own mount namespace. */
  readonly rootDir: string;
  /** Size of each instance's private /tmp and /dev/shm. @default 64 MiB */
  readonly tmpBytes?: number;
  /** Processes and threads each instance (its uid) may have at once. @default 1024 */
  readonly maxProcesses?: number;
}

/** Whether this agent can sandbox instances, and why (not): the Node's Isolated condition says it. */
export type SandboxDetection = { readonly available: true; readonly reason: string } | { readonly available: false; readonly reason: string };

/**
 * Finds out by trying: root, `unshare`, `setpriv` and `chown` on PATH, and a throwaway sandbox
 * (new namespaces, a private mount, a uid drop) that really runs.
 */
export function detectSandbox(): SandboxDetection {
  if (process.platform !== 'linux') return { available: false, reason: `namespaces need Linux, this is ${process.platform}` };
  if (process.getuid?.() !== 0) return { available: false, reason: `the agent runs as uid ${process.getuid?.()}, not root: it cannot make namespaces or switch uids` };
  for (const tool of ['unshare', 'setpriv', 'prlimit', 'chown', 'mount', 'pivot_root']) {
    if (findProgram(tool, SANDBOX_PATH, '/') === undefined) return { available: false, reason: `${tool} (util-linux/coreutils) is not installed` };
  }
  const probe = spawnSync(
    'unshare',
    [...UNSHARE_FLAGS, 'sh', '-c', 'mount --make-rprivate / && mount -t proc proc /proc && mount -t tmpfs tmpfs /tmp && exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --bounding-set=-all true'],
    { env: { PATH: SANDBOX_PATH }, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (probe.error) return { available: false, reason: `a trial sandbox did not start: ${probe.error.message}` };
  if (probe.status !== 0) return { available: false, reason: `a trial sandbox failed (exit ${probe.status ?? probe.signal}): ${probe.stderr.trim().split('\n')[0] ?? ''}` };
  return { available: true, reason: 'instances run in their own mount, PID, IPC, UTS and cgroup namespaces as their own uid, the host read-only' };
}

const UNSHARE_FLAGS = ['--mount', '--pid', '--ipc', '--uts', '--cgroup', '--fork', '--kill-child=SIGKILL', '--propagation', 'private'];

/**
 * The sandbox init, run by `sh -c` as pid 1 of the new namespaces, as root. Arguments: root dir,
 * working folder, tmpfs size, then `-h PATH` (hide) and `-v HOST-DIR PATH` (volume) items. It has an empty
 * environment, so its variables cannot clash with the instance's (which it never sees: fd 3).
 */
const INIT = `
set -eu
root=$1 work=$2 tmpsize=$3
shift 3
masks='' vols=''
traversable() { case $(stat -c %a "$1") in *[1357]) return 0;; esac; return 1; }
cover() { mount -t tmpfs -o "mode=0755,size=1m,nosuid,nodev" tmpfs "$1"; masks="$masks$1
"; }
# Makes the folders leading to $1 exist and be traversable inside the new root.
reach() {
  path='' rest=\${1#/}
  while [ -n "$rest" ]; do
    part=\${rest%%/*}
    case $rest in */*) rest=\${rest#*/} ;; *) rest='' ;; esac
    [ -n "$part" ] || continue
    path="$path/$part"
    if [ ! -e "$root$path" ]; then mkdir "$root$path"
    elif [ -n "$rest" ] && ! traversable "$root$path"; then cover "$root$path"
    fi
  done
}
mount --make-rprivate /
mount --rbind / "$root"
awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | while IFS= read -r m; do
  mount -o remount,bind,ro,nosuid "$(printf '%b' "$m")" || exit 1
done
mount -t tmpfs -o "mode=1777,nosuid,nodev,size=$tmpsize" tmpfs "$root/tmp"
if [ -d "$root/dev/shm" ]; then mount -t tmpfs -o "mode=1777,nosuid,nodev,size=$tmpsize" tmpfs "$root/dev/shm"; fi
if [ "$work" != / ]; then reach "$work"; mount --bind "$work" "$root$work"; fi
while [ $# -gt 0 ]; do
  case $1 in
    -h) if [ -d "$root$2" ]; then cover "$root$2"; elif [ -e "$root$2" ]; then mount --bind /dev/null "$root$2"; fi ;;
    -v) if [ -z "$vols" ]; then vols=1; cover "$root/mnt"; fi
        mkdir -p "$root$3"; mount --bind "$2" "$root$3"; shift ;;
  esac
  shift 2
done
printf '%s' "$masks" | while IFS= read -r m; do mount -o remount,ro "$m" || exit 1; done
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
cd "$root"
pivot_root . .
umount -l .
cd "$work"
set +e
env -i /bin/sh /dev/fd/3 &
child=$!
exec 3<&-
wait "$child"
exit $?
`;

/** What starting one sandboxed instance takes. */
export interface SandboxLaunch {
  /** argv for spawn: unshare … init … (no env values in it). */
  readonly argv: readonly string[];
  /** The env the spawned process gets: PATH only. */
  readonly env: Readonly<Record<string, string>>;
  /** The script the init runs as fd 3: the instance's exports and its setpriv'd exec. */
  readonly script: string;
}

/** Builds sandboxed launches; stateless apart from its options. */
export class Sandbox {
  readonly tmpBytes: number;
  readonly maxProcesses: number;

  /** hiddenPaths without those inside another one (covering the outer one hides them already). */
  private readonly hidden: readonly string[];

  constructor(readonly options: SandboxOptions) {
    this.tmpBytes = options.tmpBytes ?? 64 * 2 ** 20;
    this.maxProcesses = options.maxProcesses ?? 1024;
    if (!Number.isInteger(this.maxProcesses) || this.maxProcesses < 1) throw new RangeError(`Sandbox: maxProcesses must be a whole number ≥ 1, got ${this.maxProcesses}`);
    const paths = [...new Set(options.hiddenPaths.map((p) => resolve(p)))];
    this.hidden = paths.filter((p) => !paths.some((outer) => outer !== p && (outer === '/' || p.startsWith(`${outer}/`))));
    mkdirSync(options.rootDir, { recursive: true, mode: 0o700 });
  }

  /**
   * The launch of `command` as `uid` in `workDir` with exactly `env`, seeing `volumes` read-write.
   * Throws an ENOENT error (as spawn would) when the program is not found, so a typo reads the
   * same sandboxed or not.
   */
  launch(input: { command: readonly string[]; env: Readonly<Record<string, string>>; uid: number; workDir: string; volumes: readonly string[] }): SandboxLaunch {
    const [program, ...args] = input.command;
    if (program === undefined) throw new Error('empty command');
    const volumes = input.volumes.map((dir) => ({ dir: resolve(dir), at: volumePath(dir) }));
    const env = rewriteVolumePaths(input.env, volumes);
    if (findProgram(program, env.PATH ?? '', input.workDir) === undefined) {
      throw Object.assign(new Error(`spawn ${program} ENOENT`), { code: 'ENOENT' });
    }
    const exports = Object.entries(env).map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`environment variable name ${JSON.stringify(name)} is not a valid name`);
      return `export ${name}=${shellQuote(value)}`;
    });
    const script = [
      'unset PWD OLDPWD', // the shell's own; an instance's PWD from its spec comes back below
      ...exports,
      'exec 3<&-',
      `exec prlimit --nproc=${this.maxProcesses} -- setpriv --reuid=${input.uid} --regid=${input.uid} --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- ${[program, ...args].map(shellQuote).join(' ')} </dev/null`,
      '',
    ].join('\n');
    const lists = [...this.hidden.flatMap((p) => ['-h', p]), ...volumes.flatMap((v) => ['-v', v.dir, v.at])];
    return {
      argv: ['unshare', ...UNSHARE_FLAGS, 'sh', '-c', INIT, 'tend-sandbox', resolve(this.options.rootDir), resolve(input.workDir), String(this.tmpBytes), ...lists],
      env: { PATH: SANDBOX_PATH },
      script,
    };
  }

  /** Gives the instance's uid its volumes: `chown -R -P` (never through a symlink), skipped when already its. */
  async prepareVolumes(volumes: readonly string[], uid: number): Promise<void> {
    for (const dir of volumes) {
      const stat = statSync(dir);
      if (!stat.isDirectory()) throw new Error(`volume ${dir} is not a directory`);
      if (stat.uid === uid && stat.gid === uid) continue;
      // An agent killed midway leaves the top folder the uid's and some files not: the instance
      // then cannot write those until its uid changes (a new revision). Rare; not worth a journal.
      await execFileAsync('chown', ['-R', '-P', `${uid}:${uid}`, dir], { env: { PATH: SANDBOX_PATH } });
    }
  }
}

/**
 * Where a sandboxed instance finds a volume: `/mnt/volumes/<namespace>/<name>` (the folder's last
 * two path parts, as volume-sync lays them out), not the host path, which may pass through folders
 * the instance's uid cannot traverse (a mode-0700 home or data folder).
 */
export function volumePath(dir: string): string {
  const parts = resolve(dir).split('/').filter(Boolean);
  return `/mnt/volumes/${parts.slice(-2).join('/')}`;
}

/** The env with every value that is a volume's host folder, or under it, pointing at the volume's path in the sandbox instead. */
function rewriteVolumePaths(env: Readonly<Record<string, string>>, volumes: readonly { dir: string; at: string }[]): Record<string, string> {
  const longestFirst = [...volumes].sort((a, b) => b.dir.length - a.dir.length);
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const v = longestFirst.find((x) => value === x.dir || value.startsWith(`${x.dir}/`));
    result[name] = v ? v.at + value.slice(v.dir.length) : value;
  }
  return result;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Where `program` is found the way execvp would (relative to `cwd` when it has a slash), if anywhere. */
function findProgram(program: string, path: string, cwd: string): string | undefined {
  const candidates = program.includes('/') ? [resolve(cwd, program)] : path.split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, program));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}
