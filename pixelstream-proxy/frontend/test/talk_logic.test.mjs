// The talk page's decisions in virtual time (node:test, no browser): when the video counts as
// live or lost, and what the network help says. Run by pixelstream-proxy/tests/talk_page.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VideoWatch } from '../src/talk/video_watch.js';
import { playedTimeline } from '../src/talk/voice.js';
import {
    candidateAddresses, connectionProblem, isPrivateAddress, microphoneError, microphoneProblem,
} from '../../../inference/web/network_help.js';

/** Feeds `watch` a counter that advances `fps` frames per second from `from` to `to` (ms),
 * polled every `poll` ms; returns the state at the end. */
function run(watch, { from, to, fps, start = 0, poll = 100 }) {
    let count = start;
    for (let t = from; t <= to; t += poll) {
        if (fps > 0) count = start + Math.floor(((t - from) * fps) / 1000);
        watch.observe(t, count);
    }
    return { state: watch.state, count };
}

test('video is live once frames flow for resumeMs, not on the first frame', () => {
    const w = new VideoWatch({ stallMs: 500, resumeMs: 300 });
    assert.equal(w.observe(0, null), 'connecting');
    assert.equal(w.observe(100, 0), 'connecting');
    assert.equal(w.observe(200, 3), 'connecting'); // frames start
    assert.equal(w.observe(400, 9), 'connecting');
    assert.equal(w.observe(500, 12), 'live'); // 300 ms of frames
    assert.deepEqual(w.transitions.map((t) => [t.state, t.at]), [['live', 500]]);
});

test('frames stopping switches to standby within stallMs plus one poll', () => {
    const w = new VideoWatch({ stallMs: 500, resumeMs: 300 });
    const { count } = run(w, { from: 0, to: 2000, fps: 30 });
    assert.equal(w.state, 'live');
    // The streamer dies at 2000 ms: the counter freezes.
    let standbyAt = null;
    for (let t = 2100; t <= 4000; t += 100) {
        if (w.observe(t, count) === 'standby' && standbyAt === null) standbyAt = t;
    }
    assert.ok(standbyAt !== null && standbyAt - 2000 <= 600, `standby at ${standbyAt}`);
    assert.match(w.transitions.at(-1).why, /no video frame for \d+ ms/);
});

test('a gap shorter than stallMs is not a loss', () => {
    const w = new VideoWatch({ stallMs: 500, resumeMs: 300 });
    const { count } = run(w, { from: 0, to: 1000, fps: 30 });
    for (let t = 1100; t <= 1400; t += 100) w.observe(t, count); // 400 ms without frames
    run(w, { from: 1500, to: 2500, fps: 30, start: count + 1 });
    assert.equal(w.state, 'live');
    assert.equal(w.transitions.length, 1);
});

test('a lost signal switches at once and old frames do not bring the video back', () => {
    const w = new VideoWatch({ stallMs: 500, resumeMs: 300 });
    const { count } = run(w, { from: 0, to: 1000, fps: 30 });
    assert.equal(w.lost(1010, 'streamer disconnected'), 'standby');
    // One straggling frame of the dead stream, then nothing.
    w.observe(1100, count + 1);
    for (let t = 1200; t <= 3000; t += 100) w.observe(t, count + 1);
    assert.equal(w.state, 'standby');
    // The new stream's frames (counter restarts) bring it back after resumeMs.
    const back = run(w, { from: 5000, to: 5400, fps: 30, start: 0 });
    assert.equal(back.state, 'live');
    assert.deepEqual(w.transitions.map((t) => t.state), ['live', 'standby', 'live']);
});

test('a flicker of frames while standing by does not flip the page back', () => {
    const w = new VideoWatch({ stallMs: 500, resumeMs: 300 });
    const { count } = run(w, { from: 0, to: 1000, fps: 30 });
    for (let t = 1100; t <= 2000; t += 100) w.observe(t, count);
    assert.equal(w.state, 'standby');
    w.observe(2100, count + 2); // a burst, then silence again
    for (let t = 2200; t <= 3500; t += 100) w.observe(t, count + 2);
    assert.equal(w.state, 'standby');
});

test('the microphone help names HTTPS for plain http from a named host only', () => {
    const insecure = microphoneProblem({ secure: false, hasMediaDevices: false, protocol: 'http:', host: 'avatar.example.com:8080' });
    assert.equal(insecure.id, 'insecure-origin');
    assert.match(insecure.what, /avatar\.example\.com:8080/);
    assert.match(insecure.fix.join(' '), /HTTPS/);
    assert.equal(microphoneProblem({ secure: true, hasMediaDevices: true, protocol: 'https:', host: 'x' }), null);
    assert.equal(microphoneProblem({ secure: true, hasMediaDevices: false, protocol: 'https:', host: 'x' }).id, 'no-media-devices');
    assert.equal(microphoneError({ name: 'NotAllowedError' }).id, 'microphone-denied');
    assert.equal(microphoneError({ name: 'NotFoundError' }).id, 'no-microphone');
    assert.equal(microphoneError(new Error('busy')).id, 'microphone-failed');
});

test('the ICE help names the settings and recognises a private address behind NAT', () => {
    const sdp = 'v=0\r\na=candidate:1 1 udp 2130706431 10.2.3.4 9012 typ host\r\na=candidate:2 1 udp 2130706431 172.20.0.5 9012 typ host\r\n';
    const candidates = candidateAddresses(sdp);
    assert.deepEqual(candidates.map((c) => `${c.address}:${c.port}`), ['10.2.3.4:9012', '172.20.0.5:9012']);
    const voice = connectionProblem({ which: 'voice', state: 'failed', candidates });
    assert.equal(voice.id, 'voice-ice-failed');
    assert.match(voice.what, /10\.2\.3\.4, 172\.20\.0\.5: a private address/);
    for (const setting of ['WEBRTC_PUBLIC_IPS', 'WEBRTC_UDP_PORT_MIN', 'WEBRTC_TURN_SERVER']) {
        assert.ok(voice.fix.join(' ').includes(setting), setting);
    }
    const public_ = connectionProblem({ which: 'voice', state: 'timeout', seconds: 15, candidates: candidateAddresses('a=candidate:1 1 udp 1 203.0.113.7 9000 typ host') });
    assert.match(public_.what, /did not connect within 15 s/);
    assert.doesNotMatch(public_.what, /private/);
    const video = connectionProblem({ which: 'video', state: 'failed' });
    assert.equal(video.id, 'video-ice-failed');
    assert.match(video.fix.join(' '), /PS_TURN_SERVER/);
});

test('private address ranges', () => {
    for (const ip of ['10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '169.254.1.1', '127.0.0.1', '::1', 'fe80::1', 'fd00::1']) {
        assert.ok(isPrivateAddress(ip), ip);
    }
    for (const ip of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '100.128.0.1', '203.0.113.7', '2001:db8::1']) {
        assert.ok(!isPrivateAddress(ip), ip);
    }
});

test('the played timeline spreads bursts back and keeps dropped audio as a gap', () => {
    // 10 ms chunks at 48 kHz whose first sample is their index; chunk i plays at 1000 + 10 i ms.
    const chunk = (i) => Float32Array.from({ length: 480 }, () => i);
    const chunks = [];
    for (let i = 0; i < 100; i++) {
        if (i >= 40 && i < 50) continue; // dropped by the reader's queue: 100 ms of nothing
        // Read on time (just after it played), except 20..29, read in one burst at chunk 30's time.
        const readAt = i >= 20 && i < 30 ? 1000 + 10 * 31 + 1 : 1000 + 10 * (i + 1) + 1;
        chunks.push({ readAt, samples: chunk(i) });
    }
    const t = playedTimeline({ sampleRate: 48000, chunks }, 16000);
    assert.ok(Math.abs(t.startedAt - 1001) < 0.01, `started at ${t.startedAt}`);
    // Mid-chunk (chunks are read 1 ms after they end, so the timeline is 1 ms late).
    const at = (ms) => t.samples[Math.round(((ms + 5 - t.startedAt) / 1000) * 16000)];
    assert.equal(at(1000 + 10 * 5), 5);
    assert.equal(at(1000 + 10 * 25), 25); // in the burst, back where it played
    assert.equal(at(1000 + 10 * 45), 0); // dropped: silence, not the next chunk
    assert.equal(at(1000 + 10 * 55), 55); // after the gap, on time
    assert.equal(at(1000 + 10 * 99), 99);
    assert.equal(playedTimeline({ chunks: [] }), null);
});
