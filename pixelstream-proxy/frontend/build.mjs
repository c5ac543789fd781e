// Bundles the pages into dist/, which the proxy serves (PS_FRONTEND_DIR). Run by
// scripts/setup_pixelstream_frontend.sh.
//   /            index.html + player.js: Epic's stock player (watch only)
//   /talk/       talk/index.html + talk.js + talk.css: the Profile C talk page (voice from the
//                inference server, video from Unreal, the built-in face while video is away).
// The talk page bundles the voice page's face renderer and network help from inference/web/
// (one source for both pages).
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

const here = (path) => new URL(path, import.meta.url).pathname;
const outdir = new URL('./dist/', import.meta.url);
await mkdir(new URL('talk/', outdir), { recursive: true });
const common = {
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'iife',
    target: ['chrome100', 'firefox100', 'safari15'],
    logLevel: 'warning'
};
await build({ ...common, entryPoints: [here('./src/player.ts')], outfile: here('./dist/player.js') });
await build({
    ...common,
    entryPoints: [here('./src/talk/talk.js')],
    outfile: here('./dist/talk/talk.js'),
    // face.js loads the optional 3D head with import() from the inference server at run time.
    supported: { 'dynamic-import': true }
});
await copyFile(here('./src/index.html'), here('./dist/index.html'));
await copyFile(here('./src/talk/index.html'), here('./dist/talk/index.html'));
await copyFile(here('./src/talk/talk.css'), here('./dist/talk/talk.css'));
console.log('pages built in', outdir.pathname);
