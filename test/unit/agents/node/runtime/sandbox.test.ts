import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SANDBOX_PATH, Sandbox } from '../../../../../agents/node/runtime/sandbox.js';

const sandbox = () => new Sandbox({ uids: { first: 900_000, last: 999_999 }, hiddenPaths: ['/var/lib/tend'], rootDir: join(mkdtempSync(join(tmpdir(), 'tend-sandbox-')), 'root') });

describe('Sandbox.launch', () => {
  it('keeps the environment out of argv and its own env: only the fd-3 script carries it, quoted whatever the value holds', () => {
    const env = { PATH: '/usr/bin:/bin', PORT: '8080', TRICKY: `it's "$HOME" \`id\` $(id)\nnext line` };
    const launch = sandbox().launch({ command: ['sh', '-c', 'echo $TRICKY'], env, uid: 900_001, workDir: '/srv/app', volumes: ['/var/lib/tend/volumes/acme/data'] });

    expect(launch.env).toEqual({ PATH: SANDBOX_PATH });
    expect(launch.argv.join(' ')).not.toContain('8080');
    expect(launch.argv.join(' ')).not.toContain('TRICKY');
    expect(launch.argv.slice(0, 2)).toEqual(['unshare', '--mount']);
    expect(launch.argv.slice(-5)).toEqual(['-h', '/var/lib/tend', '-v', '/var/lib/tend/volumes/acme/data', '/mnt/volumes/acme/data']);
    expect(launch.script).toContain(`export TRICKY='it'\\''s "$HOME" \`id\` $(id)\nnext line'\n`);
    expect(launch.script).toContain("exec prlimit --nproc=1024 -- setpriv --reuid=900001 --regid=900001 --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- 'sh' '-c' 'echo $TRICKY' </dev/null");
  });

  it('points env values at a volume\'s host folder (or under it) to where the sandbox mounts it', () => {
    const env = { PATH: '/bin', TEND_VOLUME_DATA: '/var/lib/tend/volumes/acme/data', DATA_DIR: '/var/lib/tend/volumes/acme/data/db', OTHER: '/var/lib/tend/volumes/acme/database', PLAIN: 'x' };
    const { script } = sandbox().launch({ command: ['sh'], env, uid: 900_001, workDir: '/', volumes: ['/var/lib/tend/volumes/acme/data'] });
    expect(script).toContain("export TEND_VOLUME_DATA='/mnt/volumes/acme/data'\n");
    expect(script).toContain("export DATA_DIR='/mnt/volumes/acme/data/db'\n");
    expect(script).toContain("export OTHER='/var/lib/tend/volumes/acme/database'\n"); // a prefix of the name is not the folder
    expect(script).toContain("export PLAIN='x'\n");
  });

  it('refuses a program it cannot find, as spawn would (ENOENT), and a variable name a shell cannot export', () => {
    const s = sandbox();
    expect(() => s.launch({ command: ['/nonexistent/program'], env: { PATH: '/usr/bin' }, uid: 900_001, workDir: '/', volumes: [] })).toThrow(/spawn \/nonexistent\/program ENOENT/);
    expect(() => s.launch({ command: ['no-such-program-anywhere'], env: { PATH: '/usr/bin:/bin' }, uid: 900_001, workDir: '/', volumes: [] })).toThrow(/ENOENT/);
    expect(() => s.launch({ command: ['sh'], env: { PATH: '/usr/bin:/bin', 'BAD-NAME': 'x' }, uid: 900_001, workDir: '/', volumes: [] })).toThrow(/"BAD-NAME" is not a valid name/);
  });

  it('covers a hidden folder once: one inside another hidden folder is left to the outer one', () => {
    const s = new Sandbox({ uids: { first: 900_000, last: 999_999 }, hiddenPaths: ['/srv/.tend/agent-local', '/srv/.tend', '/srv/.tend/backups', '/etc/tend.json'], rootDir: join(mkdtempSync(join(tmpdir(), 'tend-sandbox-')), 'root') });
    const { argv } = s.launch({ command: ['sh'], env: { PATH: '/bin' }, uid: 900_001, workDir: '/srv', volumes: [] });
    expect(argv.slice(-4)).toEqual(['-h', '/srv/.tend', '-h', '/etc/tend.json']);
  });
});
