// Browser end-to-end check, driven by the Rust test `tests/browser_e2e.rs`:
// headless Chromium opens the test streamer page (which connects to the proxy's streamer
// port and sends a canvas video track), then loads the player page FROM THE PROXY and waits
// until Epic's frontend reports framesReceived > 0 in its inbound video stats (the check
// Epic's own Playwright tests make). Prints one JSON line with the result.
//
// usage: node e2e.mjs <player page URL> <streamer signalling URL> <chromium path> <timeout ms>
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const [playerUrl, streamerSignalling, executablePath, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg || 60000);
const profile = mkdtempSync(join(tmpdir(), 'goassist-ps-e2e-'));
const result = { ok: false };
let context;
try {
    context = await chromium.launchPersistentContext(profile, {
        executablePath,
        headless: true,
        args: [
            '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            // Host candidates as plain loopback/LAN addresses, not mDNS names nobody resolves here.
            '--disable-features=WebRtcHideLocalIpsWithMdns',
            '--autoplay-policy=no-user-gesture-required',
            '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
            '--disable-backgrounding-occluded-windows'
        ]
    });
    const streamerPage = await context.newPage();
    streamerPage.on('console', (m) => process.stderr.write(`[streamer console] ${m.text()}\n`));
    const streamerHtml = pathToFileURL(join(fileURLToPath(new URL('.', import.meta.url)), 'test-streamer.html'));
    streamerHtml.searchParams.set('signalling', streamerSignalling);
    streamerHtml.searchParams.set('id', 'TestStreamer');
    await streamerPage.goto(streamerHtml.toString());
    await streamerPage.waitForFunction(() => window.streamerState && window.streamerState.committedId, null, { timeout: timeoutMs });
    result.committedId = await streamerPage.evaluate(() => window.streamerState.committedId);

    const playerPage = await context.newPage();
    playerPage.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') process.stderr.write(`[player console] ${m.text()}\n`);
    });
    await playerPage.goto(playerUrl);
    await playerPage.waitForFunction(() => window.pixelStreaming !== undefined, null, { timeout: timeoutMs });
    // Collect the frontend's own aggregated stats events.
    await playerPage.evaluate(() => {
        window.e2eFramesReceived = 0;
        window.pixelStreaming.addEventListener('statsReceived', (e) => {
            const video = e.data.aggregatedStats.inboundVideoStats;
            if (video && video.framesReceived) window.e2eFramesReceived = video.framesReceived;
        });
    });
    await playerPage.waitForFunction(() => window.e2eFramesReceived > 0, null, { timeout: timeoutMs, polling: 250 });
    result.framesReceived = await playerPage.evaluate(() => window.e2eFramesReceived);
    result.streamerLog = await streamerPage.evaluate(() => window.streamerState.log);
    result.ok = true;
} catch (e) {
    result.error = String(e && e.message ? e.message : e);
} finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
