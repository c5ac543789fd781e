// Opens the server's voice page in headless Chromium and reports which face it chose and what
// the 3D head did with face frames pushed through the page's own path (decode → schedule →
// render): the morph target influences and the pixels drawn. The Rust test
// (tests/face_head_3d.rs) judges the JSON.
//
//   node face_3d.mjs WITH_HEAD_URL WITHOUT_HEAD_URL FRAMES.json OUT.json [SCREENSHOT.png]
//
// FRAMES.json: {"neutral": [150 bytes], "jaw": [...], "blink": [...]} (encoded FaceFrames).
import { chromium } from "playwright-core";
import { readFileSync, writeFileSync } from "node:fs";

const [withHead, withoutHead, framesFile, out, screenshot] = process.argv.slice(2);
const frames = JSON.parse(readFileSync(framesFile, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // No --disable-gpu: WebGL then runs on SwiftShader, Chromium's CPU renderer.
  args: ["--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage();
// Console errors, labelled with the step (the page without the head logs its probe's 404).
const errors = [];
let step = "";
page.on("console", (m) => { if (m.type() === "error") errors.push(`${step}: ${m.text()}`); });
page.on("pageerror", (e) => errors.push(`${step}: ${e}`));

/** Opens the voice page and waits until it has chosen its face. */
async function open(url) {
  await page.goto(url);
  await page.waitForFunction(() => window.goassist?.face, null, { timeout: 30000 });
  return page.evaluate(async () => ({ ...(await window.goassist.face.chosen), note: document.getElementById("face-note").textContent }));
}

const result = { errors };
step = "auto";
result.auto = await open(withHead);
step = "missing";
result.missing = await open(`${withoutHead}?face=3d`);
step = "forced";
result.forced = await open(`${withHead}?face=3d`);

if (result.forced.kind === "3d") {
  result.head = await page.evaluate(() => {
    const r = window.goassist.face.renderer();
    return { mapped: r.mapped, glRenderer: r.glRenderer, width: r.canvas.width, height: r.canvas.height };
  });
  // Each pose arrives as a binary frame, like one from the data channel; after a few animation
  // frames the head shows it. The pixels are read by drawing the WebGL canvas right after a render.
  result.poses = {};
  for (const name of ["neutral", "jaw", "blink"]) {
    await page.evaluate((bytes) => window.goassist.face.push(new Uint8Array(bytes).buffer), frames[name]);
    await page.waitForTimeout(150);
    result.poses[name] = await page.evaluate(() => {
      const face = window.goassist.face;
      const r = face.renderer();
      r.render(face.scheduler.shown);
      const c = document.createElement("canvas");
      c.width = r.canvas.width;
      c.height = r.canvas.height;
      const ctx = c.getContext("2d");
      ctx.drawImage(r.canvas, 0, 0);
      return {
        jawOpen: r.influence("jawOpen"),
        eyeBlinkLeft: r.influence("eyeBlinkLeft"),
        pixels: Array.from(ctx.getImageData(0, 0, c.width, c.height).data),
      };
    });
    if (name === "jaw" && screenshot) await page.locator("main").screenshot({ path: screenshot });
  }
}
await browser.close();

// Pixel statistics here keep the JSON small: coverage of the head, and where two poses differ.
function compare(a, b, width) {
  let changed = 0, sumY = 0, covered = 0;
  const n = a.length / 4;
  for (let i = 0; i < n; i++) {
    if (a[4 * i + 3] > 0) covered++;
    const d = Math.max(...[0, 1, 2, 3].map((k) => Math.abs(a[4 * i + k] - b[4 * i + k])));
    if (d > 16) { changed++; sumY += Math.floor(i / width); }
  }
  const height = n / width;
  return { coverage: covered / n, changed: changed / n, centroid_y: changed ? sumY / changed / height : null };
}
if (result.poses) {
  const { neutral, jaw, blink } = result.poses;
  const w = result.head.width;
  result.jaw_vs_neutral = compare(neutral.pixels, jaw.pixels, w);
  result.blink_vs_neutral = compare(neutral.pixels, blink.pixels, w);
  for (const p of Object.values(result.poses)) delete p.pixels;
}
writeFileSync(out, JSON.stringify(result, null, 1));
console.log(`face_3d: auto=${result.auto.kind} forced=${result.forced.kind} missing=${result.missing.kind}`);
