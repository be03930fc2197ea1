import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveTestBinaries } from '../../env/binaries.js';

function folderWith(...names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'tend-binaries-'));
  for (const name of names) writeFileSync(join(dir, name), '#!/bin/sh\n', { mode: 0o755 });
  return dir;
}

describe('resolveTestBinaries', () => {
  it('takes TEND_TEST_BINARIES first, kubectl included, without building', async () => {
    const dir = folderWith('etcd', 'kube-apiserver', 'kubectl');
    const other = folderWith('etcd', 'kube-apiserver');
    const found = await resolveTestBinaries({ env: { TEND_TEST_BINARIES: dir, KUBEBUILDER_ASSETS: other } });
    expect(found).toEqual({ etcd: join(dir, 'etcd'), kubeApiserver: join(dir, 'kube-apiserver'), kubectl: join(dir, 'kubectl'), source: `TEND_TEST_BINARIES=${dir}` });
  });

  it('uses an envtest KUBEBUILDER_ASSETS folder, which may lack kubectl', async () => {
    const dir = folderWith('etcd', 'kube-apiserver');
    const found = await resolveTestBinaries({ env: { KUBEBUILDER_ASSETS: dir } });
    expect(found.kubeApiserver).toBe(join(dir, 'kube-apiserver'));
    expect(found.kubectl).toBeUndefined();
  });

  it('names the missing binary and the variable that pointed to the folder', async () => {
    const dir = folderWith('etcd');
    await expect(resolveTestBinaries({ env: { KUBEBUILDER_ASSETS: dir } })).rejects.toThrow(`KUBEBUILDER_ASSETS=${dir}: kube-apiserver not found`);
  });
});
