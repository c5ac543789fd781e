// What drawing the face costs the browser: opens the face demo (an animated pose loop) in
// headless Chromium once per renderer and measures, over SECONDS, the CPU time of all of
// Chromium's processes (from /proc) and the frames drawn.
// Without --disable-gpu, so WebGL runs wherever this Chromium runs it (SwiftShader without a GPU).
//
//   node face_render_cost.mjs DEMO_URL SECONDS   → one JSON line per renderer
import { chromium } from "playwright-core";
import { readFileSync, readdirSync } from "node:fs";

const [demoUrl, seconds = "10"] = process.argv.slice(2);
const TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU seconds used so far by `root` and every process below it. */
function treeCpuSeconds(root) {
  const stats = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      // Fields after the command name (which may contain spaces) start at ") ".
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      stats.push({ pid: Number(pid), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* gone meanwhile */ }
  }
  const inTree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const s of stats) if (!inTree.has(s.pid) && inTree.has(s.ppid)) { inTree.add(s.pid); grew = true; }
  }
  return stats.filter((s) => inTree.has(s.pid)).reduce((n, s) => n + s.ticks, 0) / TICKS_PER_S;
}

for (const mode of ["2d", "3d"]) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 640, height: 520 } });
  await page.goto(`${demoUrl}?face=${mode}`);
  await page.waitForFunction(() => window.faceDemo, null, { timeout: 60000 });
  const info = await page.evaluate(() => ({ kind: faceDemo.kind, gl: faceDemo.face.glRenderer ?? null }));
  await page.waitForTimeout(2000); // past loading and shader compilation
  // Chromium runs as this script's child: count the whole tree under it (the idle driver too).
  const pid = process.pid;
  const cpu0 = treeCpuSeconds(pid);
  const frames0 = await page.evaluate(() => faceDemo.frames);
  const t0 = Date.now();
  await page.waitForTimeout(Number(seconds) * 1000);
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = (treeCpuSeconds(pid) - cpu0) / elapsed;
  const fps = (await page.evaluate(() => faceDemo.frames) - frames0) / elapsed;
  console.log(JSON.stringify({ mode, kind: info.kind, gl: info.gl, cpu_cores: cpu, fps, seconds: elapsed }));
  await browser.close();
}
