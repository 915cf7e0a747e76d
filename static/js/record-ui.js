// The "Record" controls of the upload form: start the microphone, show the countdown and the level
// meter while it listens, and hand the finished recording over to be analysed like an upload.
import { clock } from './format.js';
import { MIN_S, Recorder } from './recorder.js';

/**
 * `els`: {button, length, panel, countdown, stop, cancel, level, levelBar, stopNote};
 * `onStart()` when Record is pressed, `onFile(file)` with the recording, `onError(title, message)`.
 * Returns {cancel()}: turn the microphone off and drop the recording (e.g. a file was chosen instead).
 */
export function initRecording(els, { onStart, onFile, onError }) {
  let current = null; // the Recorder while the microphone is on

  const show = ({ remaining, level, canStop }) => {
    els.countdown.textContent = clock(Math.ceil(remaining));
    const percent = Math.round(level * 100);
    els.levelBar.style.width = `${percent}%`;
    els.level.setAttribute('aria-valuenow', String(percent));
    els.level.setAttribute('aria-valuetext', `${percent}%`);
    els.stop.disabled = !canStop;
  };

  /** Turn the microphone off; `keep` hands what was recorded so far to onFile. */
  const finish = ({ keep }) => {
    if (current) {
      if (keep) current.stop();
      else current.cancel();
    }
    current = null;
    els.panel.hidden = true;
    els.button.disabled = false;
    els.length.disabled = false;
  };

  els.button.addEventListener('click', async () => {
    onStart();
    const seconds = Number(els.length.value);
    const recorder = new Recorder({
      seconds,
      onTick: (state) => { if (current === recorder) show(state); },
      onDone: (file) => {
        if (current === recorder) finish({ keep: true });
        onFile(file);
      },
    });
    current = recorder;
    els.button.disabled = true;
    els.length.disabled = true;
    els.stopNote.textContent = `You can stop after ${MIN_S} s.`;
    els.stopNote.hidden = seconds <= MIN_S;
    show({ remaining: seconds, level: 0, canStop: false });
    try {
      await recorder.start();
      if (current !== recorder) return;
      els.panel.hidden = false;
      els.cancel.focus();
    } catch (err) {
      if (current === recorder) finish({ keep: false });
      onError(err.title || 'Recording did not start', err.message || String(err));
    }
  });
  els.stop.addEventListener('click', () => finish({ keep: true }));
  els.cancel.addEventListener('click', () => {
    finish({ keep: false });
    els.button.focus();
  });

  return { cancel: () => { if (current) finish({ keep: false }); } };
}
