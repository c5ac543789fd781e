// GoAssist face renderer (ES module, no build step).
//
// Decodes FaceFrames from the "face" data channel (150-byte little-endian codec, see
// protocol/src/face_frame.rs), schedules each by matching its sample position to the RTP
// timestamp of the audio playing now (RTCRtpReceiver.getSynchronizationSources()), eases to
// neutral when frames stop, and draws a built-in 2D face (canvas, licence-clean) or, when the
// optional facecap.glb and three.js are installed, a 3D head.

/** Apple camelCase names of the 61 curves, in Unreal's order (docs/protocols.md §1). */
export const CURVE_NAMES = [
  "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
  "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
  "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
  "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel",
  "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
  "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
  "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
  "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
  "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
  "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
  "noseSneerRight", "tongueOut",
  "headYaw", "headPitch", "headRoll", "leftEyeYaw", "leftEyePitch", "leftEyeRoll",
  "rightEyeYaw", "rightEyePitch", "rightEyeRoll",
];
export const BLENDSHAPE_COUNT = 52;
export const CURVE_COUNT = 61;
export const FACE_FRAME_LEN = 150;
export const FACE_FRAME_MAGIC = 0xfa;
const IDX = Object.fromEntries(CURVE_NAMES.map((n, i) => [n, i]));

/**
 * Decodes one binary face frame. Returns null for anything that is not a valid version-1
 * frame (wrong length, magic or version): peer input never throws.
 * samplePos is a Number (exact below 2^53 samples, about 5900 years at 48 kHz).
 */
export function decodeFaceFrame(data) {
  const buf = data instanceof ArrayBuffer ? data : data?.buffer?.slice(data.byteOffset, data.byteOffset + data.byteLength);
  if (!(buf instanceof ArrayBuffer) || buf.byteLength !== FACE_FRAME_LEN) return null;
  const v = new DataView(buf);
  if (v.getUint8(0) !== FACE_FRAME_MAGIC || v.getUint8(1) !== 1) return null;
  const values = new Float32Array(CURVE_COUNT);
  for (let i = 0; i < CURVE_COUNT; i++) {
    values[i] = i < BLENDSHAPE_COUNT ? v.getUint16(28 + 2 * i, true) / 65535 : v.getInt16(28 + 2 * i, true) / 32767;
  }
  return {
    sessionId: v.getBigUint64(4, true),
    epoch: v.getUint32(12, true),
    seq: v.getUint32(16, true),
    samplePos: Number(v.getBigUint64(20, true)),
    values,
  };
}

/** Signed difference a - b of two positions compared on the 32-bit RTP timestamp circle. */
export function rtpDiff(a, b) {
  const d = ((a - b) % 4294967296 + 4294967296) % 4294967296;
  return d >= 2147483648 ? d - 4294967296 : d;
}

/**
 * The audio clock as the listener hears it: the RTP timestamp of the audio playing now, from
 * getSynchronizationSources(), extrapolated with wall time between updates (the browser updates
 * it per played packet) and when audio pauses.
 */
export class PlayoutClock {
  constructor(receiver, { rate = 48000, now = () => performance.now() } = {}) {
    this.receiver = receiver;
    this.rate = rate;
    this.nowMs = now;
    this.anchor = null; // { ts, at }
  }
  /** Estimated RTP timestamp playing now (unwrapped Number), or null before any audio. */
  position() {
    const t = this.nowMs();
    const sources = this.receiver?.getSynchronizationSources?.() ?? [];
    const src = sources.find((s) => typeof s.rtpTimestamp === "number");
    if (src && (!this.anchor || src.rtpTimestamp !== this.anchor.raw)) {
      // The browser's timestamp is the one played at src.timestamp (ms, performance clock).
      const at = typeof src.timestamp === "number" && src.timestamp <= t ? src.timestamp : t;
      this.anchor = { raw: src.rtpTimestamp, ts: src.rtpTimestamp, at };
    }
    if (!this.anchor) return null;
    return this.anchor.ts + ((t - this.anchor.at) * this.rate) / 1000;
  }
}

/**
 * Holds received frames and answers "which pose now". Rules:
 * - a frame of an older epoch than the newest seen is dropped (barge-in fence);
 * - a newer frame (higher seq) whose position is earlier than buffered frames supersedes them
 *   (the server changed its mind: ease after a kill-switch, a new turn);
 * - the pose shown is interpolated between the two frames around the playing position;
 * - when no frame is due for `stallMs`, the face eases from its last pose to neutral over
 *   `slowFreezeMs` instead of snapping.
 */
export class FaceScheduler {
  constructor({ rate = 48000, slowFreezeMs = 400, stallMs = 100 } = {}) {
    this.rate = rate;
    this.slowFreezeMs = slowFreezeMs;
    this.stallSamples = (stallMs * rate) / 1000;
    this.frames = []; // sorted by samplePos
    this.epoch = 0;
    this.lastSeq = -1;
    this.shown = new Float32Array(CURVE_COUNT);
    this.lastFramePose = new Float32Array(CURVE_COUNT);
    this.lastFrameAt = null; // playing position when a frame was last due
    this.stats = { received: 0, rendered: 0, dropped: 0, superseded: 0, malformed: 0 };
  }

  push(frame) {
    if (!frame) {
      this.stats.malformed++;
      return;
    }
    this.stats.received++;
    if (frame.epoch < this.epoch) {
      this.stats.dropped++;
      return;
    }
    if (frame.epoch > this.epoch) {
      this.epoch = frame.epoch;
      const before = this.frames.length;
      this.frames = this.frames.filter((f) => f.epoch >= frame.epoch);
      this.stats.dropped += before - this.frames.length;
    }
    if (frame.seq > this.lastSeq) {
      const before = this.frames.length;
      this.frames = this.frames.filter((f) => !(f.seq < frame.seq && f.samplePos >= frame.samplePos));
      this.stats.superseded += before - this.frames.length;
      this.lastSeq = frame.seq;
    }
    let i = this.frames.length;
    while (i > 0 && this.frames[i - 1].samplePos > frame.samplePos) i--;
    this.frames.splice(i, 0, frame);
  }

  /** The pose for playing position `pos` (null = no audio clock yet: show the newest frame). */
  poseAt(pos) {
    if (pos === null || pos === undefined) {
      const f = this.frames.shift();
      if (f) {
        this.frames = [];
        return this.#show(f.values);
      }
      return this.shown;
    }
    // Frames whose successor is already due are behind the playing position: skip them.
    while (this.frames.length > 1 && rtpDiff(pos, this.frames[1].samplePos) >= 0) this.frames.shift();
    const first = this.frames[0];
    if (first && rtpDiff(pos, first.samplePos) >= 0) {
      const next = this.frames[1];
      if (next) {
        const span = rtpDiff(next.samplePos, first.samplePos);
        const f = span > 0 ? Math.min(1, rtpDiff(pos, first.samplePos) / span) : 0;
        const values = lerp(first.values, next.values, f);
        this.lastFramePose.set(values);
        this.lastFrameAt = pos;
        this.stats.rendered++;
        return this.#show(values);
      }
      // The newest frame: shown until it is older than the stall time, then eased away.
      this.lastFramePose.set(first.values);
      this.lastFrameAt = first.samplePos;
      if (rtpDiff(pos, first.samplePos) < this.stallSamples) {
        this.stats.rendered++;
        return this.#show(first.values);
      }
      this.frames.shift();
    }
    // Nothing due: hold briefly, then ease to neutral.
    if (this.lastFrameAt === null) return this.shown;
    const since = rtpDiff(pos, this.lastFrameAt);
    if (since < this.stallSamples) return this.#show(this.lastFramePose);
    const x = Math.min(1, (since - this.stallSamples) / ((this.slowFreezeMs * this.rate) / 1000));
    const remaining = 1 - x * x * (3 - 2 * x);
    const eased = this.lastFramePose.map((v) => v * remaining);
    return this.#show(eased);
  }

  #show(values) {
    this.shown.set(values);
    return this.shown;
  }
}

function lerp(a, b, f) {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + (b[i] - a[i]) * f;
  return out;
}

/** The built-in 2D face: a canvas drawing driven by the ARKit weights (no assets needed). */
export class Face2D {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
  }

  render(w) {
    const { ctx, canvas } = this;
    const W = canvas.width, H = canvas.height, s = Math.min(W, H) / 400;
    const g = (name) => w[IDX[name]] ?? 0;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#1d2330";
    ctx.fillRect(0, 0, W, H);
    // Head pose: yaw shifts, pitch shifts vertically, roll rotates (values are degrees/180).
    const yawDeg = g("headYaw") * 180, pitchDeg = g("headPitch") * 180, rollDeg = g("headRoll") * 180;
    ctx.translate(W / 2 + yawDeg * 4 * s, H / 2 + pitchDeg * 4 * s);
    ctx.rotate((rollDeg * Math.PI) / 180);
    ctx.scale(s, s);
    // Head.
    ctx.fillStyle = "#e8b894";
    ctx.beginPath();
    ctx.ellipse(0, 0, 130, 165, 0, 0, Math.PI * 2);
    ctx.fill();
    // Eyes with lids and pupils.
    for (const side of [-1, 1]) {
      const L = side < 0 ? "Left" : "Right";
      const x = side * 50, y = -35;
      const blink = Math.min(1, g(`eyeBlink${L}`) + 0.3 * g(`eyeSquint${L}`));
      const wide = g(`eyeWide${L}`);
      const open = Math.max(0.02, 1 - blink) * (1 + 0.3 * wide);
      ctx.fillStyle = "#fff";
      ctx.beginPath();
      ctx.ellipse(x, y, 24, 15 * open, 0, 0, Math.PI * 2);
      ctx.fill();
      if (open > 0.15) {
        const eyeYaw = (side < 0 ? g("leftEyeYaw") : g("rightEyeYaw")) * 180;
        const eyePitch = (side < 0 ? g("leftEyePitch") : g("rightEyePitch")) * 180;
        const lookX = g(`eyeLookOut${L}`) * side - g(`eyeLookIn${L}`) * side;
        const px = x + Math.max(-12, Math.min(12, eyeYaw * 2.5 + lookX * 10));
        const py = y + Math.max(-6, Math.min(6, -eyePitch * 2 + (g(`eyeLookDown${L}`) - g(`eyeLookUp${L}`)) * 6));
        ctx.fillStyle = "#2b3a55";
        ctx.beginPath();
        ctx.arc(px, py, 8 * Math.min(1, open), 0, Math.PI * 2);
        ctx.fill();
      }
      // Brows.
      const up = g("browInnerUp") * 10 + g(`browOuterUp${L}`) * 8 - g(`browDown${L}`) * 8;
      ctx.strokeStyle = "#5a3d2b";
      ctx.lineWidth = 6;
      ctx.beginPath();
      ctx.moveTo(x - side * 22, y - 28 - up - g("browInnerUp") * 6);
      ctx.lineTo(x + side * 24, y - 26 - up);
      ctx.stroke();
    }
    // Mouth: jaw opens it, stretch/smile widen it, pucker/funnel narrow and round it,
    // press/roll thin it, smile/frown curve the corners.
    const jaw = g("jawOpen");
    const widen = (g("mouthStretchLeft") + g("mouthStretchRight")) / 2 + 0.6 * (g("mouthSmileLeft") + g("mouthSmileRight")) / 2;
    const narrow = 0.7 * g("mouthPucker") + 0.5 * g("mouthFunnel");
    const thin = Math.max(g("mouthPressLeft"), g("mouthPressRight"), g("mouthRollLower"), g("mouthClose"));
    const halfW = 45 * (1 + 0.45 * widen - 0.45 * narrow);
    const openH = Math.max(1.5, 70 * jaw + 14 * g("mouthFunnel") + 6 * (g("mouthLowerDownLeft") + g("mouthUpperUpLeft")) - 6 * thin);
    const curve = 14 * ((g("mouthSmileLeft") + g("mouthSmileRight")) / 2 - (g("mouthFrownLeft") + g("mouthFrownRight")) / 2);
    const my = 75 + jaw * 8;
    ctx.fillStyle = "#5b1f24";
    ctx.beginPath();
    ctx.moveTo(-halfW, my - curve);
    ctx.quadraticCurveTo(0, my - openH * 0.35, halfW, my - curve);
    ctx.quadraticCurveTo(0, my + openH, -halfW, my - curve);
    ctx.fill();
    if (g("tongueOut") > 0.05) {
      ctx.fillStyle = "#d0606a";
      ctx.beginPath();
      ctx.ellipse(0, my + openH * 0.4, halfW * 0.45, 6 + 10 * g("tongueOut"), 0, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.strokeStyle = "#a5534f";
    ctx.lineWidth = 4 * (1 - 0.5 * thin);
    ctx.stroke();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  }
}

/** Renderer names that mean WebGL runs on the CPU (a 3D head there costs whole cores). */
const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe|software/i;

/**
 * The optional 3D head: three.js (npm three@0.187.0) and facecap.glb (52 ARKit morph targets),
 * both served under `base` (the server maps "/face/vendor/" to MODELS_DIR/face/vendor/). Resolves
 * to a renderer with the same render(weights) as Face2D, or rejects with an Error saying why
 * there is no 3D head: files not installed, no WebGL, software WebGL (unless `allowSoftware`:
 * SwiftShader draws this head at ~14 fps with two cores busy; docs/benchmarks/face-render.md),
 * or a failed load.
 * three's loaders import the bare name "three", so the page needs an import map, e.g.
 * <script type="importmap">{"imports":{"three":"/face/vendor/three/build/three.module.js"}}</script>
 */
export async function loadFace3D(container, { base = "/face/vendor/", allowSoftware = false } = {}) {
  // Decided before any download: no point fetching 1.5 MB of three.js to then not use it.
  const glName = webglRendererName();
  if (glName === null) throw new Error("no WebGL in this browser");
  const software = glName.match(SOFTWARE_GL);
  if (software && !allowSoftware) {
    throw new Error(`software WebGL (${software[0]}): the 2D face is cheaper; ?face=3d forces the head`);
  }
  for (const file of ["facecap.glb", "three/build/three.module.js"]) {
    const probe = await fetch(`${base}${file}`, { method: "HEAD" });
    if (!probe.ok) throw new Error(`3D head not installed (${base}${file}: HTTP ${probe.status})`);
  }
  const THREE = await import(`${base}three/build/three.module.js`);
  const { GLTFLoader } = await import(`${base}three/examples/jsm/loaders/GLTFLoader.js`);
  const { KTX2Loader } = await import(`${base}three/examples/jsm/loaders/KTX2Loader.js`);
  const { MeshoptDecoder } = await import(`${base}three/examples/jsm/libs/meshopt_decoder.module.js`);
  const renderer = new THREE.WebGLRenderer({ antialias: true, alpha: true });
  const size = Math.min(container.clientWidth, container.clientHeight) || 320;
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setSize(size, size);
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(25, 1, 0.1, 100);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 2.0));
  const key = new THREE.DirectionalLight(0xffffff, 1.2);
  key.position.set(1, 1, 2);
  scene.add(key);
  const ktx2 = new KTX2Loader().setTranscoderPath(`${base}three/examples/jsm/libs/basis/`).detectSupport(renderer);
  let gltf;
  try {
    gltf = await new GLTFLoader().setKTX2Loader(ktx2).setMeshoptDecoder(MeshoptDecoder).loadAsync(`${base}facecap.glb`);
  } catch (e) {
    renderer.dispose();
    throw new Error(`loading ${base}facecap.glb failed: ${e.message ?? e}`);
  } finally {
    ktx2.dispose(); // its transcoder worker is not needed once the textures are decoded
  }
  const root = gltf.scene;
  scene.add(root);
  const meshes = [];
  root.traverse((o) => o.morphTargetDictionary && meshes.push(o));
  const box = new THREE.Box3().setFromObject(root);
  root.position.sub(box.getCenter(new THREE.Vector3()));
  camera.position.set(0, 0, box.getSize(new THREE.Vector3()).length() * 1.4);
  // Morph target names vary in spelling (jawOpen, eyeBlink_L): compare them normalised.
  const norm = (n) => n.toLowerCase().replace(/_l$/, "left").replace(/_r$/, "right").replace(/_/g, "");
  const targets = CURVE_NAMES.slice(0, BLENDSHAPE_COUNT).map((name) =>
    meshes.map((m) => Object.entries(m.morphTargetDictionary).find(([n]) => norm(n) === norm(name))?.[1]));
  container.appendChild(renderer.domElement);
  return {
    kind: "3d",
    canvas: renderer.domElement,
    glRenderer: glName,
    /** How many of the 52 ARKit blendshapes the head has a morph target for. */
    mapped: targets.filter((perMesh) => perMesh.some((t) => t !== undefined)).length,
    /** The influence the head shows for an ARKit name (first mesh that has it), for tests. */
    influence(name) {
      const perMesh = targets[IDX[name]] ?? [];
      const m = perMesh.findIndex((t) => t !== undefined);
      return m < 0 ? null : meshes[m].morphTargetInfluences[perMesh[m]];
    },
    render(w) {
      targets.forEach((perMesh, i) => perMesh.forEach((t, m) => {
        if (t !== undefined) meshes[m].morphTargetInfluences[t] = w[i];
      }));
      // Rotations travel as degrees/180, so × π gives radians.
      root.rotation.set(-w[IDX.headPitch] * Math.PI, w[IDX.headYaw] * Math.PI, w[IDX.headRoll] * Math.PI);
      renderer.render(scene, camera);
    },
    dispose() {
      renderer.dispose();
      renderer.domElement.remove();
    },
  };
}

/** The WebGL renderer's name (the GPU, or e.g. SwiftShader), or null without WebGL. */
function webglRendererName() {
  const canvas = document.createElement("canvas");
  const gl = canvas.getContext("webgl2") ?? canvas.getContext("webgl");
  if (!gl) return null;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension("WEBGL_lose_context")?.loseContext();
  return name;
}

/**
 * Picks the renderer for `canvas`'s place on the page. mode "2d": the built-in face; "3d": the
 * head whenever it loads (even on software WebGL); "auto": the head when it is installed and
 * WebGL runs on a GPU. Resolves to { face, kind: "2d" | "3d", why } (why: the reason for 2D).
 */
export async function chooseFace(canvas, { mode = "auto", base = "/face/vendor/" } = {}) {
  if (mode === "2d") return { face: new Face2D(canvas), kind: "2d", why: "2D face requested" };
  try {
    const face = await loadFace3D(canvas.parentElement, { base, allowSoftware: mode === "3d" });
    canvas.style.display = "none";
    return { face, kind: "3d", why: null };
  } catch (e) {
    console.info("GoAssist face: built-in 2D face:", e.message);
    return { face: new Face2D(canvas), kind: "2d", why: e.message };
  }
}

/**
 * Wires everything: frames from `channel` (an RTCDataChannel labelled "face", binaryType set
 * here), the clock from `receiver` (the audio RTCRtpReceiver), drawing into `canvas` (or the 3D
 * head in its place, see chooseFace; `head` is its mode). Both can be given later with
 * listen(), so the idle face shows before a session starts. Returns a controller whose
 * currentWeights() tests can sample.
 */
export function attachFace({ channel = null, receiver = null, canvas, slowFreezeMs = 400, head = "2d", headBase = "/face/vendor/" } = {}) {
  let scheduler;
  let clock;
  let face = new Face2D(canvas);
  let choice = { kind: "2d", why: "2D face requested" };
  const chosen = head === "2d" ? Promise.resolve(choice) : chooseFace(canvas, { mode: head, base: headBase }).then((c) => {
    face = c.face;
    choice = { kind: c.kind, why: c.why };
    // A lost GPU context (driver reset, tab in background on mobile) must not blank the face.
    if (c.kind === "3d") c.face.canvas.addEventListener("webglcontextlost", () => {
      c.face.dispose();
      canvas.style.display = "";
      face = new Face2D(canvas);
      choice = { kind: "2d", why: "WebGL context lost" };
    });
    return choice;
  });
  let running = true;
  const onMessage = (ev) => {
    if (typeof ev.data === "string") return; // JSON events share the page, not this channel
    scheduler.push(decodeFaceFrame(ev.data));
  };
  // A new session starts a new epoch count and audio clock: fresh scheduler and clock.
  const listen = (ch, rx) => {
    channel?.removeEventListener("message", onMessage);
    channel = ch;
    receiver = rx;
    scheduler = new FaceScheduler({ slowFreezeMs });
    clock = new PlayoutClock(rx);
    if (channel) {
      channel.binaryType = "arraybuffer";
      channel.addEventListener("message", onMessage);
    }
  };
  listen(channel, receiver);
  const frame = () => {
    if (!running) return;
    const pos = receiver ? clock.position() : null;
    face.render(scheduler.poseAt(pos));
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  return {
    get scheduler() { return scheduler; },
    get clock() { return clock; },
    /** Resolves to { kind, why } once the renderer is chosen. */
    chosen,
    kind: () => choice.kind,
    renderer: () => face,
    listen,
    push: (bytes) => scheduler.push(decodeFaceFrame(bytes)),
    currentWeights: () => Object.fromEntries(CURVE_NAMES.map((n, i) => [n, scheduler.shown[i]])),
    jawOpen: () => scheduler.shown[IDX.jawOpen],
    stop() {
      running = false;
      channel?.removeEventListener("message", onMessage);
    },
  };
}
