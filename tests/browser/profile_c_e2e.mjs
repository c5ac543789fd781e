// Profile C from a browser, with the render pod failing mid-answer. Headless Chromium, its fake
// microphone playing a WAV, opens the talk page FROM THE PIXEL STREAMING PROXY (one origin),
// whose voice session goes to the inference server (another origin). The stand-in streamer
// (standin_streamer.mjs: Unreal cannot run here) supplies the avatar video. Timeline:
//   stand-in up -> page shows its video -> "Connect and talk" (the microphone asks a question)
//   -> the answer plays -> the stand-in is SIGKILLed (browser and all) -> the page stands by
//   with its own face while the answer goes on -> a new stand-in starts -> the video returns
//   -> video and voice side by side a while longer.
// Writes what the page saw (events, the audio it played, the face's jawOpen, the mouth seen in
// the video, the video states, the voice receiver's RTP stats, the moments of kill and restart)
// to a JSON file for the Rust test to judge. With SCREENSHOT_DIR=dir, saves both states there.
//
//   node profile_c_e2e.mjs PAGE_URL WAV OUT.json TIMEOUT_S STANDIN_ARGS_JSON
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

/** This folder (import.meta.dirname needs Node 20.11; Debian 12 ships Node 18). */
const here = dirname(fileURLToPath(import.meta.url));

const [pageUrl, wav, out, timeoutS = "420", standinJson] = process.argv.slice(2);
const standinArgs = JSON.parse(standinJson); // [signalling URL, streamer id, Live Link port]
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const screenshots = process.env.SCREENSHOT_DIR;
const deadline = Date.now() + Number(timeoutS) * 1000;
const log = (...a) => console.error("profile_c_e2e:", ...a);
const left = () => Math.max(deadline - Date.now(), 1000);

/** Starts the stand-in; resolves to { child, browserPid } once its streamer is confirmed. */
function startStandin() {
  const child = spawn(process.execPath, [join(here, "standin_streamer.mjs"), ...standinArgs], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("stand-in streamer not ready in 60 s")), 60000);
    child.on("exit", (code) => reject(new Error(`stand-in streamer exited (${code})`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const ready = JSON.parse(line);
        if (ready.ready) {
          clearTimeout(timer);
          resolve({ child, browserPid: ready.browserPid });
        }
      } catch {
        log("stand-in:", line);
      }
    });
  });
}

/** The server's speech-packet pacing histogram now (its /metrics, fetched from here). */
const voiceBase = new URL(pageUrl).searchParams.get("voice");
async function pacing() {
  const text = await (await fetch(new URL("/metrics", voiceBase))).text();
  return text.split("\n").filter((l) => l.startsWith("goassist_audio_send_interval_seconds")).join("\n");
}

/** Crashes the stand-in like a dead render pod: SIGKILL to its Chromium group and to it. */
function killStandin({ child, browserPid }) {
  child.removeAllListeners("exit");
  try { process.kill(-browserPid, "SIGKILL"); } catch (e) { log("kill browser:", e.message); }
  try { child.kill("SIGKILL"); } catch (e) { log("kill stand-in:", e.message); }
}

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
let standin = null;
const result = { ok: false };
try {
  standin = await startStandin();
  log("stand-in streamer ready");
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") log("page:", m.text()); });
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.goassistTalk, null, { timeout: left() });
  // Samplers, all on the page's performance clock (t0 = now):
  // - the built-in face's jawOpen every 10 ms (it follows the audio being played);
  // - the mouth in every decoded video frame (white rows in the stand-in's mouth band);
  // - the voice receiver's RTP stats every 250 ms;
  // - the video state as the page decides it.
  await page.evaluate(() => {
    const t0 = performance.now();
    const talk = window.goassistTalk;
    window.__t0 = t0;
    window.__jaw = [];
    window.__mouth = [];
    window.__rtp = [];
    window.__seen = [];
    // Is the assistant audible right now, and for how long so far (from the played audio)?
    window.__voiced = { now: false, totalMs: 0, sinceMark: 0 };
    let seenChunks = 0;
    setInterval(() => {
      const chunks = talk.recorder?.chunks ?? [];
      let sum = 0, n = 0;
      for (; seenChunks < chunks.length; seenChunks++) {
        for (const x of chunks[seenChunks].samples) { sum += x * x; n++; }
      }
      if (n === 0) return;
      const voiced = Math.sqrt(sum / n) > 0.01;
      const ms = (n / (talk.recorder.sampleRate || 48000)) * 1000;
      window.__voiced.now = voiced;
      if (voiced) { window.__voiced.totalMs += ms; window.__voiced.sinceMark += ms; }
    }, 50);
    setInterval(() => {
      while (window.__seen.length < talk.events.length) {
        window.__seen.push({ at_ms: performance.now() - t0, event: talk.events[window.__seen.length] });
      }
      if (talk.face) window.__jaw.push([performance.now() - t0, talk.face.jawOpen()]);
    }, 10);
    const probe = document.createElement("canvas");
    const ctx = probe.getContext("2d", { willReadFrequently: true });
    let watched = null;
    const onFrame = (now, meta) => {
      const video = document.querySelector("#video video");
      if (video && video.videoWidth) {
        probe.width = video.videoWidth;
        probe.height = video.videoHeight;
        ctx.drawImage(video, 0, 0);
        const w = probe.width, h = probe.height;
        const x0 = Math.round(w * 0.45), x1 = Math.round(w * 0.55);
        const y0 = Math.round(h * 0.56), y1 = Math.round(h * 0.99);
        const data = ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data;
        let white = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] > 128 && data[i + 1] > 128 && data[i + 2] > 128) white++;
        const rows = white / (x1 - x0);
        // Open fraction: 2 % of the frame height closed .. 40 % fully open.
        const jaw = Math.max(0, (rows / h - 0.02) / 0.38);
        window.__mouth.push([(meta?.expectedDisplayTime ?? now) - t0, jaw]);
      }
      watched?.requestVideoFrameCallback(onFrame);
    };
    setInterval(() => {
      const video = document.querySelector("#video video");
      if (video && video !== watched) {
        watched = video;
        video.requestVideoFrameCallback(onFrame);
      }
    }, 50);
    setInterval(async () => {
      const receiver = talk.voice?.receiver;
      if (!receiver) return;
      const stats = await receiver.getStats();
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") {
          window.__rtp.push({
            at_ms: s.timestamp - performance.timeOrigin - t0,
            packetsReceived: s.packetsReceived, packetsLost: s.packetsLost,
            concealedSamples: s.concealedSamples, concealmentEvents: s.concealmentEvents,
            totalSamplesReceived: s.totalSamplesReceived, jitter: s.jitter,
          });
        }
      });
    }, 250);
  });
  const now = () => page.evaluate(() => performance.now() - window.__t0);
  const videoState = () => page.evaluate(() => window.goassistTalk.video.state);

  // 1. The avatar video plays before anyone speaks.
  await page.waitForFunction(() => window.goassistTalk.video.state === "live", null, { timeout: left() });
  log("video live");
  // 2. Talk: the microphone starts playing the question now.
  await page.click("#connect");
  result.connected_ms = await now();
  // 3. Mid-answer: the assistant has been audible for a while (video and face side by side)
  // and is audible now. A slow machine speaks in bursts with silences between clauses, so this
  // waits for speech, not for a time.
  await page.waitForFunction(() => window.__voiced.totalMs > 0, null, { timeout: left(), polling: 50 });
  result.answer_ms = await now();
  result.pacing_at_answer = await pacing();
  log("answer audible");
  if (screenshots) {
    // With the mouth open in the video (it trails the voice a little).
    await page.waitForFunction(() => (window.__mouth.at(-1)?.[1] ?? 0) > 0.25, null, { timeout: 5000, polling: 20 }).catch(() => {});
    await page.screenshot({ path: join(screenshots, "profile-c-video.png") });
  }
  await page.waitForFunction(() => window.__voiced.totalMs >= 2500 && window.__voiced.now, null, { timeout: left(), polling: 20 });
  result.video_before_kill = await videoState();
  // 4. The render pod dies.
  result.pacing_at_kill = await pacing();
  result.kill_ms = await now();
  killStandin(standin);
  standin = null;
  log("stand-in killed");
  await page.waitForFunction(() => window.goassistTalk.video.state === "standby", null, { timeout: 10000, polling: 10 });
  result.standby_note = await page.evaluate(() => document.getElementById("standby-note").textContent);
  result.standby_visible = await page.evaluate(() => getComputedStyle(document.getElementById("standby")).display !== "none");
  // 5. Standing by while the answer goes on (the face speaks, 2 s of audible speech at least),
  // then the render pod returns.
  await page.evaluate(() => { window.__voiced.sinceMark = 0; });
  if (screenshots) {
    await page.waitForFunction(() => (window.goassistTalk.face?.jawOpen() ?? 0) > 0.25, null, { timeout: 5000, polling: 20 }).catch(() => {});
    await page.screenshot({ path: join(screenshots, "profile-c-standby.png") });
  }
  await page.waitForFunction(() => window.__voiced.sinceMark >= 2000, null, { timeout: left(), polling: 50 });
  result.restart_ms = await now();
  standin = await startStandin();
  result.standin_ready_ms = await now();
  log("stand-in restarted");
  await page.waitForFunction(() => window.goassistTalk.video.state === "live", null, { timeout: 60000, polling: 50 });
  result.video_back_ms = await now();
  result.pacing_at_back = await pacing();
  log("video back");
  // 6. Video and voice side by side again for a while (more lip-sync samples), as far as the
  // answer goes.
  await page.waitForFunction(() => window.goassistTalk.events.some((e) => e.type === "assistant_done"), null, { timeout: 30000, polling: 200 })
    .catch(() => log("the answer goes on; stopping here"));
  await page.waitForTimeout(1000);
  Object.assign(result, await page.evaluate(() => {
    const audio = window.goassistTalk.recordedAudio(16000);
    return {
      events: window.__seen,
      audio_16k: audio ? audio.samples : [],
      audio_started_ms: audio ? audio.startedAt - window.__t0 : null,
      jaw: window.__jaw,
      mouth: window.__mouth,
      rtp: window.__rtp,
      video_transitions: window.goassistTalk.video.transitions.map((t) => ({ ...t, at: t.at - window.__t0 })),
      face_kind: window.goassistTalk.face?.kind(),
    };
  }));
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  log("failed:", result.error);
} finally {
  if (standin) killStandin(standin);
  await browser.close().catch(() => {});
}
writeFileSync(out, JSON.stringify(result));
log(`done: ok=${result.ok}`);
process.exit(result.ok ? 0 : 1);
