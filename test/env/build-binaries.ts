/** `npm run test-binaries`: find or build etcd, kube-apiserver and kubectl now, and say where they are. */
import { resolveTestBinaries } from './binaries.js';

const started = Date.now();
const binaries = await resolveTestBinaries({ log: (line) => console.error(line) });
console.log(`test binaries ready in ${((Date.now() - started) / 1000).toFixed(1)} s from ${binaries.source}`);
