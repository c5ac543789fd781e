// Opens pages in headless Chromium under network conditions given per case and reports what
// the page's help box says. Each case runs in its own browser (the conditions are launch flags).
//
//   node network_help.mjs OUT.json CASES_JSON
//
// A case: { name, url, flags: [extra Chromium flags], click: "#connect" | null,
//           expect: problem id the help box should reach (null: it must stay empty),
//           within_ms, standin: [stand-in streamer args] | null,
//           talk_help: "video" | null (also wait for window.goassistTalk.help[that].id = expect_talk) ,
//           expect_talk }
// Reports per case: { name, problem, text, connect_disabled, talk_help, error }.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

/** This folder (import.meta.dirname needs Node 20.11; Debian 12 ships Node 18). */
const here = dirname(fileURLToPath(import.meta.url));

const [out, casesJson] = process.argv.slice(2);
const cases = JSON.parse(casesJson);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const log = (...a) => console.error("network_help:", ...a);

function startStandin(args) {
  const child = spawn(process.execPath, [join(here, "standin_streamer.mjs"), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("stand-in streamer not ready in 60 s")), 60000);
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

function stopStandin({ child, browserPid }) {
  try { process.kill(-browserPid, "SIGKILL"); } catch { /* gone */ }
  try { child.kill("SIGKILL"); } catch { /* gone */ }
}

const reports = [];
for (const c of cases) {
  const report = { name: c.name };
  let standin = null;
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
      "--autoplay-policy=no-user-gesture-required",
      ...(c.flags || []),
    ],
  });
  try {
    if (c.standin) standin = await startStandin(c.standin);
    const page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") log(`${c.name} page:`, m.text()); });
    await page.goto(c.url);
    await page.waitForSelector("#network-help", { state: "attached" });
    if (c.click) {
      await page.waitForTimeout(500);
      await page.click(c.click);
    }
    const started = Date.now();
    if (c.expect) {
      await page.waitForFunction((id) => document.getElementById("network-help").dataset.problem === id,
        c.expect, { timeout: c.within_ms, polling: 100 });
    } else {
      await page.waitForTimeout(c.within_ms);
    }
    if (c.talk_help) {
      await page.waitForFunction(([which, id]) => window.goassistTalk?.help?.[which]?.id === id,
        [c.talk_help, c.expect_talk], { timeout: c.within_ms, polling: 100 });
      report.talk_help = await page.evaluate((which) => window.goassistTalk.help[which], c.talk_help);
    }
    report.after_ms = Date.now() - started;
    Object.assign(report, await page.evaluate(() => {
      const box = document.getElementById("network-help");
      return {
        problem: box.dataset.problem ?? null,
        visible: !box.hidden,
        text: box.textContent,
        connect_disabled: document.getElementById("connect").disabled,
      };
    }));
  } catch (e) {
    report.error = String(e && e.message ? e.message : e);
    log(`${c.name}:`, report.error);
  } finally {
    if (standin) stopStandin(standin);
    await browser.close().catch(() => {});
  }
  reports.push(report);
}
writeFileSync(out, JSON.stringify(reports));
log(`done: ${reports.length} cases`);
