// GoAssist talk page (Profile C): talk to the Unreal-rendered avatar from one page.
//
// Two connections, two pods:
// - the voice: a WHIP session with the inference server (?voice=<its origin>, default this
//   origin): microphone up; the assistant's audio, events and ARKit face frames down. The
//   audio the person hears is always this one.
// - the video: Epic's Pixel Streaming frontend library (unmodified) subscribed, through this
//   proxy, to Unreal on the render pod. Unreal's own audio is muted: its lips are driven by
//   the same session (render-bridge -> Live Link), the voice comes from the session directly.
// When the video stops (Unreal crashed, render pod gone) the page switches within a second to
// the built-in face driven by the session's face frames (Profile B's renderer, the 3D head
// when the inference server has it), says the video is reconnecting, keeps asking the proxy
// for the streamer, and switches back once frames flow again. The conversation never waits.
//
// URL parameters: voice=<inference server origin>, token=<player token> (forwarded to the
// signalling socket), audioDelayMs=<0-1000> (hold the voice back to meet a late video),
// face=2d|3d|auto, log=debug (Epic's library logs every message), and Epic's own
// (StreamerId=..., ss=...). In the fragment, which browsers never send to a server:
// voiceToken=<the inference server's join token> (docs/security.md).
import { Config, Flags, Logger, LogLevel, PixelStreaming } from '@epicgames-ps/lib-pixelstreamingfrontend-ue5.5';
import { attachFace } from '../../../../inference/web/face/face.js';
import { microphoneProblem, pageEnvironment, showHelp, connectionProblem } from '../../../../inference/web/network_help.js';
import { VideoWatch } from './video_watch.js';
import { VoiceSession, playedTimeline, recordPlayout } from './voice.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
/** How often the page reads the video's frame counter (the stall verdict needs 500 ms). */
const VIDEO_POLL_MS = 100;
/** While no streamer is subscribed, ask the proxy for the streamer list this often. */
const STREAMER_POLL_MS = 1000;
/** A subscription that brought no video this long is tried again. */
const SUBSCRIBE_TIMEOUT_MS = 10000;

const talk = {
  events: [], // every voice event, in order
  voiceState: 'idle',
  video: new VideoWatch(),
  face: null,
  voice: null,
  recorder: null,
  pixelStreaming: null,
  help: { voice: null, video: null, microphone: null },
};
window.goassistTalk = talk;

function voiceBase() {
  const chosen = params.get('voice');
  if (!chosen) return location.origin;
  try {
    const url = new URL(chosen, location.href);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // fall through
  }
  console.warn('ignoring ?voice= (not an http(s) URL):', chosen);
  return location.origin;
}

function signallingUrl() {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const url = new URL(scheme + location.host + '/');
  const token = params.get('token');
  if (token) url.searchParams.set('token', token);
  return url.toString();
}

// ---- help box: one problem at a time, the most basic first ----
function refreshHelp() {
  const { microphone, voice, video } = talk.help;
  showHelp($('network-help'), microphone ?? voice ?? video);
}

// ---- the voice ----
function setVoiceState(state) {
  talk.voiceState = state;
  $('status').dataset.state = state;
  $('status').textContent = state.replace('_', ' ');
}

let partialItem = null;
let assistantItem = null;
function addLine(role, text, cls = '') {
  const li = document.createElement('li');
  li.className = `${role} ${cls}`.trim();
  li.textContent = text;
  $('transcript').appendChild(li);
  return li;
}

function onEvent(event) {
  talk.events.push(event);
  switch (event.type) {
    case 'state':
      setVoiceState(event.state);
      if (event.state === 'thinking' || event.state === 'listening') assistantItem = null;
      break;
    case 'user_transcript':
      if (!partialItem) partialItem = addLine('user', '', 'partial');
      partialItem.textContent = event.text;
      if (event.final) {
        partialItem.classList.remove('partial');
        partialItem = null;
      }
      break;
    case 'assistant_text':
      if (!assistantItem) assistantItem = addLine('assistant', '');
      assistantItem.textContent = (assistantItem.textContent + ' ' + event.text).trim();
      break;
    case 'interrupted':
      if (assistantItem) assistantItem.classList.add('interrupted');
      assistantItem = null;
      break;
    case 'error':
      addLine('error', `${event.code}: ${event.message}`);
      break;
  }
}

async function connectVoice() {
  $('connect').disabled = true;
  const voice = new VoiceSession({
    base: voiceBase(),
    joinToken: new URLSearchParams(location.hash.slice(1)).get('voiceToken'),
    onEvent,
    onState: setVoiceState,
    onHelp: (help) => {
      talk.help.voice = help;
      refreshHelp();
    },
    onAudio: (track) => {
      $('assistant-audio').srcObject = new MediaStream([track]);
      talk.recorder = recordPlayout(track);
    },
    audioDelayMs: Math.min(Math.max(Number(params.get('audioDelayMs')) || 0, 0), 1000),
  });
  talk.voice = voice;
  if (!(await voice.connect())) {
    $('connect').disabled = false;
    return;
  }
  talk.face?.listen(voice.faceChannel, voice.receiver);
  $('hangup').disabled = false;
  $('typed-text').disabled = false;
}

async function hangupVoice() {
  await talk.voice?.hangup();
  setVoiceState('idle');
  $('hangup').disabled = true;
  $('connect').disabled = false;
  $('typed-text').disabled = true;
}

/** The played audio on the page's clock (tests): { startedAt, rate, samples }. */
talk.recordedAudio = (rate = 16000) => {
  const timeline = playedTimeline(talk.recorder, rate);
  return timeline && { ...timeline, samples: Array.from(timeline.samples) };
};

// ---- the video ----
function startVideo() {
  const config = new Config({
    useUrlParams: true,
    initialSettings: {
      ss: signallingUrl(),
      AutoConnect: true,
      AutoPlayVideo: true,
      StartVideoMuted: true,
      // The avatar takes no input: keys and clicks stay with the page.
      KeyboardInput: false,
      MouseInput: false,
      TouchInput: false,
      GamepadInput: false,
      XRControllerInput: false,
      UseMic: false,
      UseCamera: false,
      TimeoutIfIdle: false,
      MatchViewportRes: false,
      // Signalling drops are retried for a long time; the streamer itself is waited for below.
      MaxReconnectAttempts: 999,
    },
  });
  // The library's own wait re-subscribes on every list it receives, and so would ours: one loop.
  config.setFlagEnabled(Flags.WaitForStreamer, false);
  const stream = new PixelStreaming(config, { videoElementParent: $('video') });
  talk.pixelStreaming = stream;

  let awaitingStreamer = true;
  let subscribedAt = null;
  const lost = (why) => {
    awaitingStreamer = true;
    subscribedAt = null;
    showVideoState(talk.video.lost(performance.now(), why));
  };
  stream.signallingProtocol.addListener('streamerDisconnected', () => lost('streamer disconnected'));
  stream.addEventListener('webRtcDisconnected', () => lost('video connection closed'));
  stream.addEventListener('webRtcFailed', () => lost('video connection set-up failed'));
  stream.addEventListener('streamerListMessage', (e) => {
    if (e.data.autoSelectedStreamerId) {
      awaitingStreamer = false;
      subscribedAt = performance.now();
    }
  });
  // Unreal's audio would double the voice (and arrive with the video, late): mute it, the
  // voice comes from the inference session.
  stream.addEventListener('playStream', muteUnreal);
  stream.addEventListener('videoInitialized', muteUnreal);

  // Peer connections that reached "connected": one that fails later lost its streamer; one
  // that never connected could not find a network path (the video help says what to set).
  const connected = new WeakSet();
  setInterval(() => {
    const now = performance.now();
    showVideoState(talk.video.observe(now, framesDecoded()));
    const pc = stream.webRtcController?.peerConnectionController?.peerConnection;
    const ice = pc?.iceConnectionState;
    if (ice === 'connected' || ice === 'completed') connected.add(pc);
    if (talk.video.state === 'live') {
      if (talk.help.video) {
        talk.help.video = null;
        refreshHelp();
      }
      return;
    }
    const waited = subscribedAt !== null && now - subscribedAt > SUBSCRIBE_TIMEOUT_MS;
    if (pc && !connected.has(pc) && (ice === 'failed' || waited) && !talk.help.video) {
      talk.help.video = connectionProblem({
        which: 'video', state: ice === 'failed' ? 'failed' : 'timeout', seconds: SUBSCRIBE_TIMEOUT_MS / 1000,
      });
      refreshHelp();
    }
    if (waited) {
      awaitingStreamer = true; // the subscription never turned into video: ask again
      subscribedAt = null;
    }
  }, VIDEO_POLL_MS);
  setInterval(() => {
    if (awaitingStreamer && talk.video.state !== 'live' && stream.signallingProtocol.isConnected()) {
      stream.signallingProtocol.sendMessage({ type: 'listStreamers' });
    }
  }, STREAMER_POLL_MS);
}

function videoElement() {
  return $('video').querySelector('video');
}

/** The video's decoded-frame counter, or null while there is no video stream. */
function framesDecoded() {
  const video = videoElement();
  if (!video || !video.srcObject) return null;
  return video.getVideoPlaybackQuality?.().totalVideoFrames ?? null;
}

function muteUnreal() {
  const video = videoElement();
  if (video) video.muted = true;
  const audio = talk.pixelStreaming?.webRtcController?.streamController?.audioElement;
  if (audio) audio.muted = true;
}

function showVideoState(state) {
  const stage = $('stage');
  if (stage.dataset.video === state) return;
  stage.dataset.video = state;
  $('standby-note').textContent =
    state === 'standby' ? 'The avatar video is reconnecting. The conversation goes on.'
      : state === 'connecting' ? 'Connecting to the avatar video…' : '';
}

// ---- the face shown while there is no video ----
async function showFace() {
  const base = new URL('face/vendor/', voiceBase().replace(/\/?$/, '/')).toString();
  // three.js imports itself as "three": map it to the inference server's copy before any
  // module loads (the 3D head is optional; without it the 2D face is used).
  const map = document.createElement('script');
  map.type = 'importmap';
  map.textContent = JSON.stringify({ imports: { three: `${base}three/build/three.module.js` } });
  document.head.appendChild(map);
  const canvas = document.createElement('canvas');
  canvas.width = 320;
  canvas.height = 320;
  $('face-slot').replaceChildren(canvas);
  talk.face = attachFace({ canvas, head: params.get('face') || 'auto', headBase: base });
  if (talk.voice?.faceChannel) talk.face.listen(talk.voice.faceChannel, talk.voice.receiver);
}

// ---- start ----
// Epic's library logs every signalling message with a stack trace at its default level.
Logger.InitLogging(params.get('log') === 'debug' ? LogLevel.Debug : LogLevel.Warning, false);
talk.help.microphone = microphoneProblem(pageEnvironment());
refreshHelp();
if (talk.help.microphone) $('connect').disabled = true;
$('connect').onclick = () => connectVoice().catch((e) => {
  addLine('error', String(e.message ?? e));
  setVoiceState('error');
  $('connect').disabled = false;
});
$('hangup').onclick = () => hangupVoice();
$('typed').onsubmit = (e) => {
  e.preventDefault();
  const text = $('typed-text').value.trim();
  if (text && talk.voice?.sendText(text)) $('typed-text').value = '';
};
showVideoState('connecting');
showFace().catch((e) => console.warn('face unavailable', e));
startVideo();
