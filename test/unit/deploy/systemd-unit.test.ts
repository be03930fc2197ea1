/**
 * manifests/systemd/tend-agent.service: systemd's own checker finds nothing in it, it runs the bin
 * `npm i -g` installs, and it stops only the agent (its instances are adopted by the next one).
 * Its command line itself runs in test/integration/manifests/manifests.test.ts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../env/environment.js';

const run = promisify(execFile);
const unitFile = join(REPO_ROOT, 'manifests/systemd/tend-agent.service');
const unit = readFileSync(unitFile, 'utf8');
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('the node agent\'s systemd unit', () => {
  it.skipIf(!hasSystemdAnalyze())('passes systemd-analyze verify without a warning', async () => {
    // verify also checks that ExecStart's binary exists: this machine has no global install of tend.
    const dir = mkdtempSync(join(tmpdir(), 'tend-unit-'));
    const copy = join(dir, 'tend-agent.service');
    writeFileSync(copy, unit.replace('ExecStart=/usr/local/bin/tend ', `ExecStart=${process.execPath} `));
    const { stdout, stderr } = await run('systemd-analyze', ['verify', copy]);
    expect(stderr + stdout).toBe('');
  });

  it('runs the tend bin where npm i -g puts it, and leaves the instances running when it stops', () => {
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/tend agent /m);
    expect(Object.keys(pkg.bin)).toContain('tend');
    expect(unit).toMatch(/^KillMode=process$/m);
    expect(unit).toMatch(/^Restart=always$/m);
  });
});
