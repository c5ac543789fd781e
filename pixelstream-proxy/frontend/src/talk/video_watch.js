// Decides, from what the page observes, whether the avatar video is live or the page stands by
// with its own face. Sans-IO: the page feeds it the decoded-frame counter with the time it read
// it, and what the signalling said; it answers the state. No timers, no DOM, so it is tested
// with virtual time.
//
// States:
//   "connecting": no video yet (the built-in face shows, "connecting to the avatar video");
//   "live":       frames arrive (the video shows);
//   "standby":    the video stopped after it was live (the built-in face shows, "reconnecting").
//
// Frames stop when Unreal crashes, hangs or its pod dies, whatever the signalling knows, so the
// frame counter decides: no new frame for `stallMs` means standby. A signal that the streamer
// is gone switches at once. Video is back after `resumeMs` of frames arriving with no gap over
// `runGapMs` (one straggling frame of a dying stream does not flip the page back and forth).

export const VIDEO_STATES = ["connecting", "live", "standby"];

export class VideoWatch {
  /**
   * @param {{stallMs?: number, resumeMs?: number}} options
   *   stallMs: no new frame this long while live = standby (frames come every 17-33 ms);
   *   resumeMs: frames flowing this long (no gap over runGapMs) = live again.
   */
  constructor({ stallMs = 500, resumeMs = 300, runGapMs = 250 } = {}) {
    this.stallMs = stallMs;
    this.resumeMs = resumeMs;
    this.runGapMs = runGapMs;
    this.state = "connecting";
    this.lastCount = null; // frame counter at the last observation
    this.lastFrameAt = null; // when the counter last moved
    this.flowingSince = null; // start of the current run of frames
    this.transitions = []; // [{ state, at, why }]
  }

  /** The decoded-frame counter `count` (null: no video element/stream) read at `now` (ms). */
  observe(now, count) {
    const moved = count !== null && this.lastCount !== null && count !== this.lastCount;
    this.lastCount = count;
    if (moved) {
      const runBroken = this.lastFrameAt === null || now - this.lastFrameAt > this.runGapMs;
      if (runBroken || this.flowingSince === null) this.flowingSince = now;
      this.lastFrameAt = now;
    }
    const stalled = this.lastFrameAt === null || now - this.lastFrameAt > this.stallMs;
    if (stalled) this.flowingSince = null;
    const flowedFor = this.flowingSince === null ? 0 : this.lastFrameAt - this.flowingSince;
    if (this.state === "live" && stalled) {
      this.#enter("standby", now, `no video frame for ${Math.round(now - this.lastFrameAt)} ms`);
    } else if (this.state !== "live" && !stalled && flowedFor >= this.resumeMs) {
      this.#enter("live", now, "video frames arriving");
    }
    return this.state;
  }

  /** The signalling said the video is gone (streamer disconnected, WebRTC failed or closed). */
  lost(now, why) {
    this.flowingSince = null;
    // Frames counted before the loss must not count as the new stream's.
    this.lastFrameAt = null;
    if (this.state === "live") this.#enter("standby", now, why);
    return this.state;
  }

  #enter(state, at, why) {
    this.state = state;
    this.transitions.push({ state, at, why });
  }
}
