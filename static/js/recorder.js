// Listening through the microphone: record 10-30 s of what is playing in the room with MediaRecorder
// (WebM/Opus, which the API decodes like any upload), with a level meter and a countdown.

export const MIN_S = 10; // shorter recordings give the models too little to go on
export const MAX_S = 30;
// Preferred recording formats, best first; the browser picks the first it can make.
export const RECORDING_TYPES = ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4'];

/** The first of RECORDING_TYPES the browser can record, or '' (then the browser chooses). */
export function recordingType(isSupported) {
  return RECORDING_TYPES.find((type) => {
    try { return isSupported(type); } catch { return false; }
  }) ?? '';
}

/** "recording 2026-11-30 14.05.09.webm" for a recording of the given container type. */
export function recordingName(date, type) {
  const two = (n) => String(n).padStart(2, '0');
  const day = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
  const time = `${two(date.getHours())}.${two(date.getMinutes())}.${two(date.getSeconds())}`;
  const ext = /ogg/.test(type) ? 'ogg' : /mp4/.test(type) ? 'm4a' : 'webm';
  return `recording ${day} ${time}.${ext}`;
}

/** The level of a block of samples for the meter, 0..1: RMS on a 60-dB scale (-60 dBFS -> 0, 0 dBFS -> 1). */
export function meterLevel(samples) {
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = samples.length ? Math.sqrt(sum / samples.length) : 0;
  if (rms <= 0) return 0;
  return Math.max(0, Math.min(1, (20 * Math.log10(rms) + 60) / 60));
}

/**
 * Why recording cannot start, as {title, message}, or null when it can. `env` says what the page
 * has: {secure, mediaDevices, mediaRecorder}; `err` is what getUserMedia rejected with, if anything.
 */
export function micProblem(env, err = null) {
  if (!env.secure) {
    return { title: 'Recording needs a secure page', message: 'Browsers let only pages served over https (or from this computer) use the microphone. Open the page through https, or upload a file instead.' };
  }
  if (!env.mediaDevices || !env.mediaRecorder) {
    return { title: 'This browser cannot record', message: 'It has no way for a page to record from a microphone. Try a current Chrome, Edge, Firefox or Safari, or upload a file instead.' };
  }
  if (!err) return null;
  switch (err.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return { title: 'Microphone access is blocked', message: 'Allow this page to use the microphone (in the site settings next to the address) and press Record again.' };
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return { title: 'No microphone found', message: 'Connect a microphone, or check that it is switched on and not muted, and press Record again.' };
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return { title: 'The microphone is busy', message: 'Another program may be using it. Close it and press Record again.' };
    default:
      return { title: 'Recording did not start', message: err.message || String(err) };
  }
}

/** What this page can do: the environment micProblem() judges. */
export function recordingEnvironment() {
  return {
    secure: window.isSecureContext !== false,
    mediaDevices: typeof navigator.mediaDevices?.getUserMedia === 'function',
    mediaRecorder: typeof window.MediaRecorder === 'function',
  };
}

export class RecordingError extends Error {
  constructor(problem) {
    super(problem.message);
    this.name = 'RecordingError';
    this.title = problem.title;
  }
}

/**
 * One recording of `seconds` (MIN_S..MAX_S). `onTick({remaining, elapsed, level, canStop})` about ten
 * times a second; `onDone(file)` with the finished recording; never called after cancel().
 */
export class Recorder {
  constructor({ seconds, onTick = () => {}, onDone = () => {} }) {
    this.seconds = Math.max(MIN_S, Math.min(MAX_S, Number(seconds) || MIN_S));
    this.onTick = onTick;
    this.onDone = onDone;
    this.cancelled = false;
  }

  /** Ask for the microphone and start recording; rejects with a RecordingError saying what is wrong. */
  async start() {
    const env = recordingEnvironment();
    const unsupported = micProblem(env);
    if (unsupported) throw new RecordingError(unsupported);
    try {
      // Music, not a call: no echo cancelling, noise suppression or automatic gain.
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (err) {
      throw new RecordingError(micProblem(env, err));
    }
    if (this.cancelled) {
      this.release();
      return;
    }
    const type = recordingType((t) => MediaRecorder.isTypeSupported(t));
    this.recorder = new MediaRecorder(this.stream, type ? { mimeType: type } : undefined);
    const chunks = [];
    this.recorder.addEventListener('dataavailable', (e) => {
      if (e.data && e.data.size) chunks.push(e.data);
    });
    this.recorder.addEventListener('stop', () => {
      this.release();
      if (this.cancelled) return;
      const mime = (this.recorder.mimeType || type || 'audio/webm').split(';')[0];
      this.onDone(new File(chunks, recordingName(new Date(), mime), { type: mime }));
    });
    this.startMeter();
    this.recorder.start(1000); // a chunk a second, so a long recording is not one big buffer at the end
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.tick(), 100);
    this.tick();
  }

  startMeter() {
    try {
      this.audio = new AudioContext();
      const source = this.audio.createMediaStreamSource(this.stream);
      this.analyser = this.audio.createAnalyser();
      this.analyser.fftSize = 2048;
      source.connect(this.analyser);
      this.samples = new Float32Array(this.analyser.fftSize);
      this.audio.resume?.().catch(() => {});
    } catch {
      this.analyser = null; // no meter, the recording itself still works
    }
  }

  tick() {
    const elapsed = (performance.now() - this.startedAt) / 1000;
    let level = 0;
    if (this.analyser) {
      this.analyser.getFloatTimeDomainData(this.samples);
      level = meterLevel(this.samples);
    }
    const remaining = Math.max(0, this.seconds - elapsed);
    this.onTick({ remaining, elapsed, level, canStop: elapsed >= MIN_S });
    if (remaining <= 0) this.stop();
  }

  /** Finish now (the page allows it from MIN_S on) and hand the recording to onDone. */
  stop() {
    clearInterval(this.timer);
    if (this.recorder && this.recorder.state !== 'inactive') this.recorder.stop();
    else this.release();
  }

  /** Stop and throw the recording away. */
  cancel() {
    this.cancelled = true;
    this.stop();
  }

  release() {
    clearInterval(this.timer);
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.audio?.close().catch(() => {});
    this.audio = null;
    this.analyser = null;
  }
}
