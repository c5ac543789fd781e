// What stands between a page and the assistant when the network is in the way, said in words a
// person understands and with the settings the operator changes. Shared by the voice page
// (served by goassist-inference) and the Profile C talk page (bundled into the Pixel Streaming
// proxy's frontend). The diagnoses are pure functions of what the page can see; showHelp()
// renders one into the page's help box.

/**
 * Why the microphone cannot be used before anything is tried, or null. Browsers expose
 * navigator.mediaDevices only in secure contexts: https:// pages, or http:// from localhost.
 * `env` = { secure, hasMediaDevices, protocol, host } (see pageEnvironment()).
 */
export function microphoneProblem(env) {
  if (env.hasMediaDevices) return null;
  if (!env.secure && env.protocol === "http:") {
    return {
      id: "insecure-origin",
      title: "No microphone on a plain http:// page",
      what: `This page was opened over plain http:// from ${env.host}. Browsers give the microphone only to pages served over HTTPS (or from localhost), so the assistant cannot hear you.`,
      fix: [
        `Operator: serve the page over HTTPS: put a TLS reverse proxy (nginx, Caddy) in front of the server and give people the https:// address.`,
        `Testing on one machine: open it as http://localhost instead.`,
      ],
      settings: ["HTTPS"],
    };
  }
  return {
    id: "no-media-devices",
    title: "This browser offers no microphone",
    what: "The browser does not expose a microphone to web pages (navigator.mediaDevices is missing).",
    fix: ["Use a current Chrome, Edge, Firefox or Safari."],
    settings: [],
  };
}

/** What the page sees of its own origin, for microphoneProblem(). */
export function pageEnvironment(win = globalThis) {
  return {
    secure: Boolean(win.isSecureContext),
    hasMediaDevices: typeof win.navigator?.mediaDevices?.getUserMedia === "function",
    protocol: win.location?.protocol ?? "",
    host: win.location?.host ?? "",
  };
}

/** A getUserMedia() rejection, explained (these are the person's side, not the operator's). */
export function microphoneError(error) {
  const name = error?.name ?? "";
  if (name === "NotAllowedError" || name === "SecurityError") {
    return {
      id: "microphone-denied",
      title: "Microphone permission denied",
      what: "The browser refused the microphone to this page.",
      fix: ["Allow the microphone in the browser's site settings (the icon left of the address), then connect again."],
      settings: [],
    };
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return {
      id: "no-microphone",
      title: "No microphone found",
      what: "The browser found no microphone on this device.",
      fix: ["Plug in or enable a microphone, then connect again."],
      settings: [],
    };
  }
  return {
    id: "microphone-failed",
    title: "The microphone could not be opened",
    what: `The browser could not open the microphone (${name || String(error)}); another application may hold it.`,
    fix: ["Close other applications using the microphone, then connect again."],
    settings: [],
  };
}

const PRIVATE_V4 = [
  [10, 0, 8], [172, 16, 12], [192, 168, 16], [100, 64, 10], [169, 254, 16], [127, 0, 8],
];

/** True for addresses a browser elsewhere cannot reach: RFC 1918, CGNAT, link-local, loopback. */
export function isPrivateAddress(ip) {
  const v4 = ip.split(".").map(Number);
  if (v4.length === 4 && v4.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)) {
    const value = ((v4[0] << 24) >>> 0) + (v4[1] << 16) + (v4[2] << 8) + v4[3];
    return PRIVATE_V4.some(([a, b, bits]) => {
      const net = ((a << 24) >>> 0) + (b << 16);
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      return ((value & mask) >>> 0) === ((net & mask) >>> 0);
    });
  }
  const lower = ip.toLowerCase();
  return lower === "::1" || lower.startsWith("fe80:") || lower.startsWith("fc") || lower.startsWith("fd");
}

/** The host-candidate addresses (ip:port) in an SDP. */
export function candidateAddresses(sdp) {
  const found = [];
  for (const line of String(sdp ?? "").split(/\r?\n/)) {
    // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
    const m = line.match(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) (\d+) typ (\S+)/);
    if (m) found.push({ address: m[1], port: Number(m[2]), type: m[3] });
  }
  return found;
}

/**
 * A WebRTC connection that never came up although signalling worked: ICE found no path.
 * `which`: "voice" (the inference server's session) or "video" (Unreal through Pixel
 * Streaming); `state`: "failed" or "timeout"; `candidates`: what the other side offered
 * (candidateAddresses of its SDP, when the page has it).
 */
export function connectionProblem({ which, state, candidates = [], seconds = 0 }) {
  const how = state === "timeout" ? `did not connect within ${seconds} s` : "failed (ICE found no path)";
  if (which === "video") {
    return {
      id: "video-ice-failed",
      title: "The avatar video cannot reach this browser",
      what: `The Pixel Streaming video ${how}: this browser and Unreal on the render pod cannot exchange UDP. The conversation goes on with the built-in face.`,
      fix: [
        "Operator: give the Pixel Streaming proxy a STUN and a TURN server (PS_STUN_SERVER, PS_TURN_SERVER with PS_TURN_SECRET), so Unreal and browsers behind NAT or firewalls can reach each other.",
      ],
      settings: ["PS_STUN_SERVER", "PS_TURN_SERVER", "PS_TURN_SECRET"],
    };
  }
  const hosts = candidates.filter((c) => c.type === "host").map((c) => c.address);
  const unreachable = hosts.length > 0 && hosts.every(isPrivateAddress);
  const offered = hosts.length
    ? ` The server offered ${[...new Set(hosts)].join(", ")}${unreachable ? ": a private address, so the server is behind NAT and did not say its public one" : ""}.`
    : "";
  return {
    id: "voice-ice-failed",
    title: "The voice connection failed",
    what: `The server answered, but the audio connection ${how}: no UDP path between this browser and the server's media ports.${offered}`,
    fix: [
      "Operator: set WEBRTC_PUBLIC_IPS to the inference server's public IP address and open its UDP media ports (WEBRTC_UDP_PORT_MIN-WEBRTC_UDP_PORT_MAX, default 9000-9200) to the internet.",
      "Where UDP is blocked (company networks), set WEBRTC_TURN_SERVER and WEBRTC_TURN_SECRET (its shared secret) to a TURN server (turns: on port 443 passes most firewalls).",
    ],
    settings: ["WEBRTC_PUBLIC_IPS", "WEBRTC_UDP_PORT_MIN", "WEBRTC_UDP_PORT_MAX", "WEBRTC_TURN_SERVER"],
  };
}

/** Shows `help` in `box` (hidden when help is null); the box's data-problem names it for tests. */
export function showHelp(box, help) {
  if (!box) return;
  if (!help) {
    box.hidden = true;
    box.replaceChildren();
    delete box.dataset.problem;
    return;
  }
  const doc = box.ownerDocument;
  const el = (tag, text) => {
    const node = doc.createElement(tag);
    node.textContent = text;
    return node;
  };
  const fixes = doc.createElement("ul");
  for (const line of help.fix) fixes.appendChild(el("li", line));
  box.replaceChildren(el("strong", help.title), el("p", help.what), fixes);
  box.dataset.problem = help.id;
  box.hidden = false;
}
