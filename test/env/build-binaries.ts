/** `npm run test-binaries`: find or build etcd, kube-apiserver, kubectl and the Argo CD Lua harness now, and say where they are. */
import { resolveTestBinaries } from './binaries.js';
import { resolveHealthLua } from './health-lua.js';

const started = Date.now();
const binaries = await resolveTestBinaries({ log: (line) => console.error(line) });
const healthLua = await resolveHealthLua({ log: (line) => console.error(line) });
console.log(`test binaries ready in ${((Date.now() - started) / 1000).toFixed(1)} s from ${binaries.source}; Argo CD Lua harness ${healthLua}`);
