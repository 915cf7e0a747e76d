// The wavesurfer.js player: the local file's waveform with the per-segment genre timeline drawn as
// coloured regions, a time axis, a hover read-out, click-to-seek and keyboard control.
//
// A short file is decoded by the browser. A long one is drawn from the server's peaks of what it
// analysed (no decoding: a 3-hour file would take ~700 MB), and the player covers that part: its
// waveform, regions, axis and seeking span the analysed seconds, and playback stops at their end.
import WaveSurfer from '../vendor/wavesurfer/wavesurfer.esm.js';
import RegionsPlugin from '../vendor/wavesurfer/plugins/regions.esm.js';
import HoverPlugin from '../vendor/wavesurfer/plugins/hover.esm.js';
import { clearAxis, renderAxis } from './axis.js';
import { clock, pct, rgba } from './format.js';

const HEIGHT = 120;
const SKIP_S = 5;

/** The segment that covers time t (seconds), or null. */
export function segmentAt(segments, t) {
  for (const seg of segments) {
    if (t >= seg.start_s && t < seg.end_s) return seg;
  }
  return null;
}

/** wavesurfer over the first `span` seconds of its media: everything that asks its length gets `span`. */
class SpanWaveSurfer extends WaveSurfer {
  getDuration() {
    return this.span > 0 ? this.span : super.getDuration();
  }
}

export class Player {
  /**
   * @param {object} els  {container, playBtn, timeCurrent, timeTotal, loading, nowGenre}
   * @param {object} look {colorOf(genre), labelOf(genre), shadowCss (URL of wavesurfer-shadow.css)}
   */
  constructor(els, look) {
    this.els = els;
    this.look = look;
    this.ws = null;
    this.regions = null;
    this.segments = [];
    this.cleanups = [];
  }

  /**
   * Load a local File and draw the segments on it. Resolves when ready, rejects if it can't decode.
   * With `peaks` (the server's, over `span` seconds) the file is not decoded, only played.
   */
  load(file, segments, { peaks = null, span = 0 } = {}) {
    this.destroy();
    this.segments = Array.isArray(segments) ? segments : [];
    const { container, playBtn, loading, timeline } = this.els;
    const fromPeaks = Array.isArray(peaks) && peaks.length > 0 && span > 0;
    container.dataset.source = fromPeaks ? 'server-peaks' : 'decoded';
    const { colorOf, labelOf } = this.look;
    container.dataset.regionCount = '0';
    container.style.setProperty('--ws-height', `${HEIGHT}px`);
    playBtn.disabled = true;
    loading.hidden = false;

    this.regions = RegionsPlugin.create();
    this.ws = new SpanWaveSurfer({
      container,
      height: HEIGHT,
      waveColor: '#8b95a5',
      progressColor: '#f1f3f5',
      cursorColor: '#ffffff',
      cursorWidth: 2,
      barWidth: 2,
      barGap: 1,
      barRadius: 2,
      normalize: true,
      dragToSeek: true,
      plugins: [
        this.regions,
        HoverPlugin.create({
          lineColor: '#ffffff',
          lineWidth: 1,
          labelBackground: 'rgba(15, 17, 23, 0.92)',
          labelColor: '#ffffff',
          labelSize: 12,
          formatTimeCallback: (t) => {
            const seg = segmentAt(this.segments, t);
            return seg ? `${clock(t)} · ${labelOf(seg.genre)}` : clock(t);
          },
        }),
      ],
    });
    if (fromPeaks) this.ws.span = span;
    this.adoptShadowStyles();

    const ws = this.ws;
    const on = (event, fn) => this.cleanups.push(ws.on(event, fn));

    on('decode', (duration) => this.drawRegions(duration, colorOf, labelOf));
    on('timeupdate', (t) => {
      if (fromPeaks && t >= span && ws.isPlaying()) ws.pause(); // the end of what was analysed
      this.onTime(Math.min(t, ws.getDuration()));
    });
    on('play', () => this.setPlaying(true));
    on('pause', () => this.setPlaying(false));
    on('finish', () => this.setPlaying(false));

    this.regions.on('region-clicked', (region, e) => {
      // Seek to the exact point clicked, not the region's start.
      e.stopPropagation();
      const rect = ws.getWrapper().getBoundingClientRect();
      const x = Math.min(Math.max(e.clientX - rect.left, 0), rect.width);
      ws.seekTo(rect.width ? x / rect.width : 0);
    });

    const onClick = () => ws.playPause();
    playBtn.addEventListener('click', onClick);
    this.cleanups.push(() => playBtn.removeEventListener('click', onClick));
    const onKey = (e) => this.onKey(e);
    container.addEventListener('keydown', onKey);
    this.cleanups.push(() => container.removeEventListener('keydown', onKey));

    return new Promise((resolve, reject) => {
      const fail = (err) => {
        loading.hidden = true;
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      on('ready', (duration) => {
        loading.hidden = true;
        playBtn.disabled = false;
        this.els.timeTotal.textContent = clock(duration);
        container.setAttribute('aria-valuemax', String(Math.round(duration)));
        renderAxis(timeline, duration);
        this.onTime(0);
        resolve();
      });
      on('error', fail);
      if (fromPeaks) {
        // Not decoded, so a format the browser cannot play shows only when the media element fails.
        const media = ws.getMediaElement();
        const onMediaError = () => {
          playBtn.disabled = true;
          this.look.onUnplayable?.();
        };
        media.addEventListener('error', onMediaError);
        this.cleanups.push(() => media.removeEventListener('error', onMediaError));
      }
      (fromPeaks ? ws.loadBlob(file, [peaks], span) : ws.loadBlob(file)).catch((err) => {
        if (err && err.name === 'AbortError') return; // superseded by a newer load
        fail(err);
      });
    });
  }

  /**
   * wavesurfer renders into a shadow root with an inline <style>, which the server's
   * Content-Security-Policy (style-src 'self') blocks. Link the same rules from a file instead.
   */
  adoptShadowStyles() {
    const root = this.ws.getWrapper().getRootNode();
    if (!(root instanceof ShadowRoot) || !this.look.shadowCss) return;
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = this.look.shadowCss;
    root.prepend(link);
  }

  drawRegions(duration, colorOf, labelOf) {
    this.regions.clearRegions();
    this.segments.forEach((seg, i) => {
      const start = Math.max(0, Math.min(seg.start_s, duration));
      const end = Math.max(start, Math.min(seg.end_s, duration));
      const region = this.regions.addRegion({
        id: `segment-${i}`,
        start,
        end,
        color: rgba(colorOf(seg.genre), 0.32),
        drag: false,
        resize: false,
      });
      if (region.element) {
        region.element.setAttribute('title', `${clock(seg.start_s)}–${clock(seg.end_s)}: ${labelOf(seg.genre)} ${pct(seg.probability, 0)}`);
        region.element.dataset.genre = seg.genre;
      }
    });
    this.els.container.dataset.regionCount = String(this.regions.getRegions().length);
  }

  onTime(t) {
    const { timeCurrent, container, nowGenre } = this.els;
    timeCurrent.textContent = clock(t);
    container.setAttribute('aria-valuenow', String(Math.round(t)));
    const seg = segmentAt(this.segments, t);
    const label = seg ? this.look.labelOf(seg.genre) : '';
    container.setAttribute('aria-valuetext', label ? `${clock(t)}, ${label}` : clock(t));
    if (seg) {
      nowGenre.hidden = false;
      nowGenre.textContent = '';
      const dot = document.createElement('span');
      dot.className = 'swatch';
      dot.style.backgroundColor = this.look.colorOf(seg.genre);
      nowGenre.append(dot, ` Now: ${label} · ${pct(seg.probability, 0)}`);
    } else {
      nowGenre.hidden = true;
    }
  }

  setPlaying(playing) {
    const { playBtn } = this.els;
    playBtn.classList.toggle('is-playing', playing);
    playBtn.setAttribute('aria-label', playing ? 'Pause' : 'Play');
  }

  onKey(e) {
    const ws = this.ws;
    if (!ws || !ws.getDuration()) return;
    const t = ws.getCurrentTime();
    const d = ws.getDuration();
    const keys = {
      ArrowLeft: () => ws.setTime(Math.max(0, t - SKIP_S)),
      ArrowDown: () => ws.setTime(Math.max(0, t - SKIP_S)),
      ArrowRight: () => ws.setTime(Math.min(d, t + SKIP_S)),
      ArrowUp: () => ws.setTime(Math.min(d, t + SKIP_S)),
      PageDown: () => ws.setTime(Math.max(0, t - 30)),
      PageUp: () => ws.setTime(Math.min(d, t + 30)),
      Home: () => ws.setTime(0),
      End: () => ws.setTime(d),
      ' ': () => ws.playPause(),
      Enter: () => ws.playPause(),
      k: () => ws.playPause(),
    };
    const action = keys[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  }

  destroy() {
    for (const cleanup of this.cleanups.splice(0)) {
      try { cleanup(); } catch { /* already gone */ }
    }
    if (this.ws) {
      this.ws.destroy();
      this.ws = null;
    }
    this.regions = null;
    this.setPlaying(false);
    this.els.playBtn.disabled = true;
    this.els.nowGenre.hidden = true;
    this.els.timeCurrent.textContent = '0:00';
    this.els.timeTotal.textContent = '0:00';
    this.els.container.dataset.regionCount = '0';
    clearAxis(this.els.timeline);
  }
}
