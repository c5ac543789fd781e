// GoAssist voice page: connects over WHIP, plays the assistant, shows the transcript.
// Everything a test needs to observe is on window.goassist (events, received audio level).
import {
  candidateAddresses, connectionProblem, microphoneError, microphoneProblem, pageEnvironment, showHelp,
} from "/network_help.js";

const $ = (id) => document.getElementById(id);
/** A voice connection not up this long after the answer gets the network help (the server
 * drops an unconnected peer after 15 s too). */
const CONNECT_TIMEOUT_S = 15;

export const goassist = {
  events: [],          // every server event, in order
  state: "idle",
  pc: null,
  sessionUrl: null,
  eventsChannel: null,
  faceChannel: null,
  faceFrames: 0,
  onFace: null,        // set by the face renderer: (ArrayBuffer) => void
  receiver: null,      // RTCRtpReceiver of the assistant's audio
  recorder: null,      // { sampleRate, chunks: Float32Array[] } of received audio
};
window.goassist = goassist;

function setState(state) {
  goassist.state = state;
  $("status").dataset.state = state;
  $("status").textContent = state.replace("_", " ");
}

let partialItem = null;
let assistantItem = null;
function addLine(role, text, cls = "") {
  const li = document.createElement("li");
  li.className = `${role} ${cls}`.trim();
  li.textContent = text;
  $("transcript").appendChild(li);
  return li;
}

function onEvent(event) {
  goassist.events.push(event);
  switch (event.type) {
    case "state":
      setState(event.state);
      if (event.state === "thinking" || event.state === "listening") assistantItem = null;
      break;
    case "user_transcript":
      if (!partialItem) partialItem = addLine("user", "", "partial");
      partialItem.textContent = event.text;
      if (event.final) { partialItem.classList.remove("partial"); partialItem = null; }
      break;
    case "assistant_text":
      if (!assistantItem) assistantItem = addLine("assistant", "");
      assistantItem.textContent = (assistantItem.textContent + " " + event.text).trim();
      break;
    case "interrupted":
      if (assistantItem) assistantItem.classList.add("interrupted");
      assistantItem = null;
      break;
    case "error":
      addLine("error", `${event.code}: ${event.message}`);
      break;
  }
}

// Records what the browser actually receives from the assistant (decoded, as it plays out), so
// tests can transcribe it and correlate it with the face. MediaStreamTrackProcessor reads the
// decoded frames without needing an audio output device.
async function recordRemote(track) {
  if (typeof MediaStreamTrackProcessor === "undefined") return;
  const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
  goassist.recorder = { sampleRate: 48000, chunks: [], startedAt: null };
  let recorded = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    // When the first sample played: a chunk is read at or after its time, never before, so the
    // smallest "read time minus audio before it" over all chunks is the tightest estimate (a
    // late first read would otherwise shift the whole timeline).
    recorded += value.numberOfFrames;
    const start = performance.now() - (recorded / value.sampleRate) * 1000;
    const r = goassist.recorder;
    r.startedAt = r.startedAt === null ? start : Math.min(r.startedAt, start);
    goassist.recorder.sampleRate = value.sampleRate;
    const buf = new Float32Array(value.numberOfFrames);
    value.copyTo(buf, { planeIndex: 0, format: "f32-planar" });
    value.close();
    goassist.recorder.chunks.push(buf);
  }
}

goassist.recordedAudio = () => {
  const r = goassist.recorder;
  if (!r) return null;
  const total = r.chunks.reduce((n, c) => n + c.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const c of r.chunks) { all.set(c, at); at += c.length; }
  return { sampleRate: r.sampleRate, samples: Array.from(all) };
};

function waitForIce(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 2000); // host candidates are enough on a LAN
  });
}

// A server with SESSION_TOKEN_SECRET wants a join token (docs/security.md). The app that sends
// its user here puts it in the fragment, `/#token=...`, which browsers never send to a server
// or in a Referer.
function joinHeaders() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export async function connect() {
  $("connect").disabled = true;
  setState("connecting");
  const ice = await fetch("/v1/ice-servers", { headers: joinHeaders() });
  if (ice.status === 401) {
    setState("refused");
    addLine("error", "this server needs a join token: open the page from your app's link (…/#token=…)");
    $("connect").disabled = false;
    return;
  }
  const { iceServers } = await ice.json();
  const pc = new RTCPeerConnection({ iceServers });
  goassist.pc = pc;
  let mic;
  try {
    mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (e) {
    pc.close();
    showHelp($("network-help"), microphoneError(e));
    setState("no_microphone");
    $("connect").disabled = false;
    return;
  }
  const transceiver = pc.addTransceiver(mic.getAudioTracks()[0], { direction: "sendrecv" });
  goassist.receiver = transceiver.receiver;
  goassist.eventsChannel = pc.createDataChannel("events");
  goassist.eventsChannel.onmessage = (m) => {
    try { onEvent(JSON.parse(m.data)); } catch (e) { console.warn("bad event", e); }
  };
  goassist.faceChannel = pc.createDataChannel("face", { ordered: false, maxRetransmits: 0 });
  goassist.faceChannel.binaryType = "arraybuffer";
  goassist.faceChannel.onmessage = (m) => {
    goassist.faceFrames += 1;
    if (goassist.onFace) goassist.onFace(m.data);
  };
  pc.ontrack = (e) => {
    const stream = e.streams[0] || new MediaStream([e.track]);
    $("assistant-audio").srcObject = stream;
    recordRemote(e.track).catch((err) => console.warn("recording failed", err));
  };
  let answerSdp = "";
  const iceHelp = (state) => showHelp($("network-help"), connectionProblem({
    which: "voice", state, seconds: CONNECT_TIMEOUT_S, candidates: candidateAddresses(answerSdp),
  }));
  pc.onconnectionstatechange = () => {
    if (["failed", "closed", "disconnected"].includes(pc.connectionState)) setState(pc.connectionState);
    if (pc.connectionState === "failed") iceHelp("failed");
    if (pc.connectionState === "connected" && $("network-help").dataset.problem === "voice-ice-failed") {
      showHelp($("network-help"), null);
    }
  };
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIce(pc);
  const response = await fetch("/v1/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...joinHeaders() },
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) {
    const body = await response.text();
    setState("refused");
    addLine("error", `server refused the session (${response.status}): ${body}`);
    $("connect").disabled = false;
    return;
  }
  goassist.sessionUrl = response.headers.get("Location");
  goassist.face?.listen(goassist.faceChannel, goassist.receiver);
  answerSdp = await response.text();
  await pc.setRemoteDescription({ type: "answer", sdp: answerSdp });
  setTimeout(() => {
    if (goassist.pc === pc && !["connected", "failed", "closed"].includes(pc.connectionState)) iceHelp("timeout");
  }, CONNECT_TIMEOUT_S * 1000);
  $("hangup").disabled = false;
  $("typed-text").disabled = false;
}

export async function hangup() {
  if (goassist.sessionUrl) await fetch(goassist.sessionUrl, { method: "DELETE" }).catch(() => {});
  if (goassist.pc) goassist.pc.close();
  setState("idle");
  $("hangup").disabled = true;
  $("connect").disabled = false;
  $("typed-text").disabled = true;
}

// Without a secure context there is no microphone: say why and what the operator changes.
const microphoneHelp = microphoneProblem(pageEnvironment());
if (microphoneHelp) {
  showHelp($("network-help"), microphoneHelp);
  $("connect").disabled = true;
}

$("connect").onclick = () => connect().catch((e) => { addLine("error", String(e)); setState("error"); $("connect").disabled = false; });
$("hangup").onclick = () => hangup();
$("typed").onsubmit = (e) => {
  e.preventDefault();
  const text = $("typed-text").value.trim();
  if (text && goassist.eventsChannel?.readyState === "open") {
    goassist.eventsChannel.send(JSON.stringify({ type: "user_text", text }));
    $("typed-text").value = "";
  }
};

// The face (Profile B): face.js renders the frames of the "face" channel, timed against the
// audio actually playing (RTCRtpReceiver.getSynchronizationSources). It shows from page load
// (the idle face arrives with the session); ?face=2d|3d|auto picks the renderer (auto: the 3D
// head when the server has it installed and WebGL runs on a GPU).
async function showFace() {
  const { attachFace } = await import("/face/face.js");
  const canvas = document.createElement("canvas");
  canvas.width = 320;
  canvas.height = 320;
  $("face-slot").replaceChildren(canvas);
  const head = new URLSearchParams(location.search).get("face") || "auto";
  goassist.face = attachFace({ canvas, head });
  const { kind, why } = await goassist.face.chosen;
  $("face-note").textContent = kind === "3d" ? "3D head" : `built-in face${why ? ` (${why})` : ""}`;
}
showFace().catch((e) => console.warn("face unavailable", e));
