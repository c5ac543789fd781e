// Opens the GoAssist voice page in headless Chromium whose fake microphone plays a WAV file,
// connects, waits for the conversation to play out, and writes what the page saw (events with
// arrival times, the assistant audio it received, the face's jawOpen as rendered) to a JSON
// file for the Rust test to judge. With SCREENSHOT=path, saves the page mid-answer.
//
//   node voice_e2e.mjs URL WAV OUT.json TIMEOUT_S
import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";

const [url, wav, out, timeoutS = "120"] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    `--use-file-for-fake-audio-capture=${wav}%noloop`,
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const page = await browser.newPage();
page.on("console", (m) => { if (m.type() === "error") console.error("page:", m.text()); });
await page.goto(url);
await page.evaluate(() => {
  const t0 = performance.now();
  window.__seen = [];
  const original = window.goassist;
  const poll = setInterval(() => {
    while (window.__seen.length < original.events.length) {
      window.__seen.push({ at_ms: performance.now() - t0, event: original.events[window.__seen.length] });
    }
  }, 10);
  window.__t0 = t0;
  // The rendered face: jawOpen as face.js last drew it, every 10 ms.
  window.__jaw = [];
  setInterval(() => {
    const face = window.goassist.face;
    if (face) window.__jaw.push([performance.now() - t0, face.jawOpen()]);
  }, 10);
});
await page.click("#connect");
const deadline = Date.now() + Number(timeoutS) * 1000;
// Done when the user was interrupted-upon and the assistant has answered the interruption too.
let done = false;
let screenshot = process.env.SCREENSHOT;
while (!done && Date.now() < deadline) {
  await page.waitForTimeout(500);
  if (screenshot && await page.evaluate(() => (window.goassist.face?.jawOpen() ?? 0) > 0.3)) {
    await page.screenshot({ path: screenshot });
    screenshot = null;
  }
  done = await page.evaluate(() => {
    const ev = window.goassist.events;
    const i = ev.findIndex((e) => e.type === "interrupted");
    return i >= 0 && ev.slice(i).some((e) => e.type === "assistant_done");
  });
}
// Keep sampling the face a little after the answer: it must come to rest.
if (done) await page.waitForTimeout(1500);
const result = await page.evaluate(() => {
  const audio = window.goassist.recordedAudio();
  const rec = window.goassist.recorder;
  // 48 kHz → 16 kHz by averaging triples keeps the JSON small; the ASR runs at 16 kHz.
  const s = audio ? audio.samples : [];
  const down = [];
  for (let i = 0; i + 2 < s.length; i += 3) down.push((s[i] + s[i + 1] + s[i + 2]) / 3);
  return {
    events: window.__seen,
    audio_16k: down,
    audio_started_ms: rec ? rec.startedAt - window.__t0 : null,
    face_frames: window.goassist.faceFrames,
    jaw: window.__jaw,
  };
});
result.completed = done;
writeFileSync(out, JSON.stringify(result));
await browser.close();
console.log(`voice_e2e: ${result.events.length} events, ${result.audio_16k.length} samples, completed=${done}`);
