// Bundles the player page into dist/ (index.html + player.js). Run by
// scripts/setup_pixelstream_frontend.sh; the proxy serves dist/ (PS_FRONTEND_DIR).
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

const outdir = new URL('./dist/', import.meta.url);
await mkdir(outdir, { recursive: true });
await build({
    entryPoints: [new URL('./src/player.ts', import.meta.url).pathname],
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'iife',
    target: ['chrome100', 'firefox100', 'safari15'],
    outfile: new URL('player.js', outdir).pathname,
    logLevel: 'warning'
});
await copyFile(new URL('./src/index.html', import.meta.url), new URL('index.html', outdir));
console.log('player page built in', outdir.pathname);
