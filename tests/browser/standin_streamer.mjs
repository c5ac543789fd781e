// STAND-IN for Unreal on the render pod (Unreal cannot run on the test machine). It plays the
// two parts of Unreal that Profile C relies on:
// - Live Link source: receives the Live Link Face v6 datagrams the real render-bridge sends
//   (UDP, big-endian, 61 curves in Unreal's order) and applies them to its face;
// - Pixel Streaming streamer: a headless Chromium page (pixelstream-proxy/frontend/e2e/
//   test-streamer.html in face mode) that speaks the streamer side of the signalling protocol
//   to the real proxy and sends a real WebRTC video track of that face.
// Prints one JSON line {"ready": true, "pid": <this process>, "browserPid": <Chromium>} once the
// proxy confirmed its streamer id, then runs until killed. Kill both pids (the browser is in
// its own process group) to crash it like a dead render pod.
//
//   node standin_streamer.mjs SIGNALLING_URL STREAMER_ID LIVELINK_PORT [unreachable]
// ("unreachable": a streamer behind NAT that no browser can reach, for the video help test)
import { chromium } from "playwright-core";
import dgram from "node:dgram";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const [signalling, streamerId, livelinkPort, mode] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const here = dirname(fileURLToPath(import.meta.url));
const page_file = join(here, "../../pixelstream-proxy/frontend/e2e/test-streamer.html");
/** Curves the stand-in's face draws, at their index in Unreal's ARKit order. */
const CURVES = { eyeBlinkLeft: 0, eyeBlinkRight: 7, jawOpen: 17 };

/** The 61 curve values of a Live Link Face v6 packet, or null when it is not one. */
export function decodeLiveLink(buf) {
  if (buf.length < 1 + 4 || buf[0] !== 6) return null;
  let at = 1;
  const skipString = () => {
    if (at + 4 > buf.length) return false;
    const len = buf.readInt32BE(at);
    if (len < 0 || len > 64) return false;
    at += 4 + len;
    return at <= buf.length;
  };
  if (!skipString() || !skipString()) return null;
  at += 16; // frame number, sub-frame, rate numerator, rate denominator
  if (at + 1 > buf.length || buf[at] !== 61 || at + 1 + 61 * 4 !== buf.length) return null;
  at += 1;
  const values = [];
  for (let i = 0; i < 61; i++) values.push(buf.readFloatBE(at + 4 * i));
  return values;
}

const server = await chromium.launchServer({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
  ],
});
const browser = await chromium.connect(server.wsEndpoint());
const page = await browser.newPage();
page.on("console", (m) => process.stderr.write(`[stand-in page] ${m.text()}\n`));
const url = pathToFileURL(page_file);
url.searchParams.set("signalling", signalling);
url.searchParams.set("id", streamerId);
url.searchParams.set("face", "1");
if (mode === "unreachable") url.searchParams.set("unreachable", "1");
await page.goto(url.toString());

// Live Link in: keep only the newest pose and hand it to the page as soon as it is free, as a
// render loop samples its Live Link subject once per tick.
let pending = null;
let busy = false;
const deliver = async () => {
  if (busy || !pending) return;
  busy = true;
  const curves = pending;
  pending = null;
  await page.evaluate((c) => window.setFace(c), curves).catch(() => {});
  busy = false;
  deliver();
};
const socket = dgram.createSocket("udp4");
socket.on("message", (msg) => {
  const values = decodeLiveLink(msg);
  if (!values) return;
  pending = Object.fromEntries(Object.entries(CURVES).map(([name, i]) => [name, values[i]]));
  deliver();
});
await new Promise((resolve) => socket.bind(Number(livelinkPort), "127.0.0.1", resolve));

await page.waitForFunction(() => window.streamerState && window.streamerState.committedId, null, { timeout: 60000 });
console.log(JSON.stringify({ ready: true, pid: process.pid, browserPid: server.process().pid }));
