// `npm run peers [-- NAME…]`: build the pinned real third-party programs the tests run against
// (peers/versions.json) into the per-machine cache; already built ones are reused.
import { ensurePeers, peersCacheDir } from "@satellites/testing/peers";

const names = process.argv.slice(2);
process.stdout.write(`peers cache: ${peersCacheDir()}\n`);
const started = Date.now();
try {
  ensurePeers(names);
} catch (err) {
  process.stderr.write(`building peers failed: ${(err as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(`peers ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
