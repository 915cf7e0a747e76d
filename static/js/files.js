// Which files the page sends to the API. The API takes any file with an audio stream that ffmpeg
// decodes (the sound of a video too: MP4, MOV, 3GP phone recordings, ...) and answers 415 with a
// clear message for anything else. So the page only turns away what the browser itself says is a
// document or a picture, and leaves every other judgement to the server.

/** Extensions of common audio, and of video whose sound the API reads; shown first by the picker. */
export const MEDIA_EXTENSIONS = [
  'mp3', 'wav', 'flac', 'ogg', 'oga', 'opus', 'm4a', 'aac', 'webm', 'weba', 'aif', 'aiff', 'aifc', 'wma',
  'amr', 'mka', 'ac3', 'caf', 'mp2', 'au', 'mp4', 'm4v', 'mov', '3gp', '3gpp', '3g2', 'mkv', 'avi', 'mpg',
  'mpeg', 'wmv', 'ogv', 'ts',
];

/** The file input's accept attribute. */
export const ACCEPT = ['audio/*', 'video/*', ...MEDIA_EXTENSIONS.map((e) => `.${e}`)].join(',');

// Browser types that are certainly not audio: text, pictures, documents and archives.
const NOT_MEDIA = /^(text|image|font|model)\/|^application\/(pdf|json|xml|zip|gzip|x-tar|x-7z-compressed|x-rar-compressed|msword|vnd\.)/;

export function extensionOf(name) {
  const dot = String(name ?? '').lastIndexOf('.');
  return dot >= 0 ? String(name).slice(dot + 1).toLowerCase() : '';
}

/** Might the API find sound in a file of this name and browser type? */
export function mayBeMedia(name, type) {
  const t = String(type ?? '').toLowerCase();
  if (t.startsWith('audio/') || t.startsWith('video/') || MEDIA_EXTENSIONS.includes(extensionOf(name))) return true;
  return !NOT_MEDIA.test(t);
}
