// The voice half of the talk page: a WHIP session with the inference server (another origin:
// the inference pod), the microphone up, the assistant's audio, JSON events and face frames
// down. The audio played here is the inference server's own: it never passes through the
// render pod, so a dead Unreal cannot interrupt it.
import {
  candidateAddresses, connectionProblem, microphoneError,
} from '../../../../inference/web/network_help.js';

/** A voice connection not up this long after the answer gets the network help. */
export const CONNECT_TIMEOUT_S = 15;

export class VoiceSession {
  /**
   * @param {object} options
   * @param {string} options.base        origin (and path prefix) of the inference server's API
   * @param {(event: object) => void} options.onEvent   every server event, in order
   * @param {(state: string) => void} options.onState   connection progress ("connecting", ...)
   * @param {(help: object|null) => void} options.onHelp a network problem to show, or null
   * @param {(track: MediaStreamTrack, receiver: RTCRtpReceiver) => void} options.onAudio
   * @param {number} options.audioDelayMs hold the assistant's audio back this long (lip sync
   *   with a video that arrives later), 0 = as soon as possible
   * @param {string|null} options.joinToken the inference server's join token, for a server with
   *   SESSION_TOKEN_SECRET (sent as `Authorization: Bearer`), null = none
   */
  constructor({ base, onEvent, onState, onHelp, onAudio, audioDelayMs = 0, joinToken = null }) {
    this.base = base.replace(/\/+$/, '');
    this.auth = joinToken ? { Authorization: `Bearer ${joinToken}` } : {};
    this.onEvent = onEvent;
    this.onState = onState;
    this.onHelp = onHelp;
    this.onAudio = onAudio;
    this.audioDelayMs = audioDelayMs;
    this.pc = null;
    this.sessionUrl = null;
    this.eventsChannel = null;
    this.faceChannel = null;
    this.receiver = null;
  }

  /** Opens the session. Resolves once the answer is applied; false when it could not start. */
  async connect() {
    this.onState('connecting');
    const ice = await fetch(`${this.base}/v1/ice-servers`, { headers: this.auth });
    if (ice.status === 401) {
      this.onState('refused');
      throw new Error('the voice server needs a join token: open the page from your app\'s link (…#voiceToken=…)');
    }
    const { iceServers } = await ice.json();
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    let mic;
    try {
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (e) {
      pc.close();
      this.pc = null;
      this.onHelp(microphoneError(e));
      this.onState('no_microphone');
      return false;
    }
    const transceiver = pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendrecv' });
    this.receiver = transceiver.receiver;
    this.#holdAudio();
    this.eventsChannel = pc.createDataChannel('events');
    this.eventsChannel.onmessage = (m) => {
      let event;
      try {
        event = JSON.parse(m.data);
      } catch (e) {
        console.warn('bad event', e);
        return;
      }
      this.onEvent(event);
    };
    this.faceChannel = pc.createDataChannel('face', { ordered: false, maxRetransmits: 0 });
    this.faceChannel.binaryType = 'arraybuffer';
    pc.ontrack = (e) => this.onAudio(e.track, e.receiver);

    let answerSdp = '';
    const iceHelp = (state) => this.onHelp(connectionProblem({
      which: 'voice', state, seconds: CONNECT_TIMEOUT_S, candidates: candidateAddresses(answerSdp),
    }));
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (state === 'connected') this.onHelp(null);
      if (state === 'failed') iceHelp('failed');
      if (['connected', 'failed', 'closed', 'disconnected'].includes(state)) this.onState(state);
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc);
    const response = await fetch(`${this.base}/v1/sessions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...this.auth },
      body: pc.localDescription.sdp,
    });
    if (response.status !== 201) {
      const body = await response.text();
      pc.close();
      this.pc = null;
      this.onState('refused');
      throw new Error(`the voice server refused the session (${response.status}): ${body}`);
    }
    // Location is relative to the API's origin, not to this page's.
    const location = response.headers.get('Location');
    this.sessionUrl = location ? new URL(location, `${this.base}/`).toString() : null;
    answerSdp = await response.text();
    await pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
    setTimeout(() => {
      if (this.pc === pc && !['connected', 'failed', 'closed'].includes(pc.connectionState)) iceHelp('timeout');
    }, CONNECT_TIMEOUT_S * 1000);
    return true;
  }

  /** Sends a typed message (a user turn) when the events channel is open. */
  sendText(text) {
    if (this.eventsChannel?.readyState !== 'open') return false;
    this.eventsChannel.send(JSON.stringify({ type: 'user_text', text }));
    return true;
  }

  /** Ends the session (DELETE on its location) and closes the connection. */
  async hangup() {
    if (this.sessionUrl) await fetch(this.sessionUrl, { method: 'DELETE' }).catch(() => {});
    this.sessionUrl = null;
    this.pc?.close();
    this.pc = null;
  }

  // Delays playout so the voice meets the lips of a video that arrives later (Chromium's
  // jitterBufferTarget; other browsers play as soon as they can). The face drawn by the page
  // follows the audio as played, so it stays in sync either way.
  #holdAudio() {
    if (this.audioDelayMs > 0 && this.receiver && 'jitterBufferTarget' in this.receiver) {
      this.receiver.jitterBufferTarget = this.audioDelayMs;
    }
  }
}

function waitForIce(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === 'complete') resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 2000); // host candidates are enough on a LAN
  });
}

/**
 * Records what the browser plays of `track` (decoded, as it plays out), so tests can compare it
 * with the face and the video: chunks of samples with the time each was read. See
 * playedTimeline() for how read times become play times.
 */
export function recordPlayout(track) {
  const recorder = { sampleRate: 48000, chunks: [] };
  if (typeof MediaStreamTrackProcessor === 'undefined') return recorder;
  const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const samples = new Float32Array(value.numberOfFrames);
      value.copyTo(samples, { planeIndex: 0, format: 'f32-planar' });
      recorder.sampleRate = value.sampleRate;
      value.close();
      recorder.chunks.push({ readAt: performance.now(), samples });
    }
  })().catch((e) => console.warn('recording failed', e));
  return recorder;
}

/**
 * The recorded audio on the page's clock, at `rate` Hz (averaging down from 48 kHz):
 * { startedAt (ms), rate, samples }. A chunk is read at or after it plays and before the next
 * one plays, so its latest possible play time is the smaller of "its read time minus its
 * length" and "the next chunk's play time minus its length" (computed from the last chunk
 * back). Unlike one anchor for the whole recording, this stays right when a busy machine reads
 * in bursts or drops audio: gaps stay gaps, bursts are spread back where they played.
 */
export function playedTimeline(recorder, rate = 16000) {
  const chunks = recorder?.chunks ?? [];
  if (chunks.length === 0) return null;
  const inRate = recorder.sampleRate;
  const starts = new Array(chunks.length);
  for (let i = chunks.length - 1; i >= 0; i--) {
    const length = (chunks[i].samples.length / inRate) * 1000;
    const latest = chunks[i].readAt - length;
    starts[i] = i === chunks.length - 1 ? latest : Math.min(latest, starts[i + 1] - length);
  }
  const startedAt = starts[0];
  const step = inRate / rate;
  const lastLength = chunks.at(-1).samples.length / step;
  const total = Math.ceil(((starts.at(-1) - startedAt) / 1000) * rate + lastLength);
  const out = new Float32Array(total);
  chunks.forEach(({ samples }, i) => {
    const at = Math.round(((starts[i] - startedAt) / 1000) * rate);
    for (let k = 0; (k + 1) * step <= samples.length && at + k < total; k++) {
      let sum = 0;
      for (let j = Math.round(k * step); j < Math.round((k + 1) * step); j++) sum += samples[j];
      out[at + k] = sum / (Math.round((k + 1) * step) - Math.round(k * step));
    }
  });
  return { startedAt, rate, samples: out };
}
