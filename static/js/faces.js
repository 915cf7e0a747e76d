// Faces and portraits in the genre guide. An artist with a freely licensed photo on Wikimedia Commons
// (genres.json: file, author, licence) gets a small round thumbnail loaded from upload.wikimedia.org,
// credited on hover and focus; until it has loaded, and for good when it cannot (offline, blocked, gone)
// or there is no free photo, the artist's initials stand in, in the genre's colour. The thumbnail stays
// hidden until it has loaded, so the page never shows a broken image. Each genre and electronic style
// also has a portrait drawn from its training music (training/genre_portraits.py), served from static/.
import { h, textOn } from './format.js';

const THUMB_HOST = /^https:\/\/upload\.wikimedia\.org\/wikipedia\/commons\//;
const FILE_PAGE = /^https:\/\/commons\.wikimedia\.org\/wiki\/File:/;
const LICENCE_PAGE = /^https:\/\/creativecommons\.org\//;
const QUIET_WORDS = new Set(['the', 'and', 'of', 'a', '&']);
const PORTRAITS = new URL('../images/genres/', import.meta.url);

/** "Grandmaster Flash and the Furious Five" -> "GF", "B.B. King" -> "BK", "Moby" -> "M". */
export function initials(name) {
  const words = String(name ?? '').split(/[\s\-/]+/)
    .map((w) => w.replace(/^[^\p{L}\p{N}]+/u, ''))
    .filter((w) => w && !QUIET_WORDS.has(w.toLowerCase()));
  const letters = words.slice(0, 2).map((w) => [...w][0].toUpperCase()).join('');
  return letters || '?';
}

/** The photo block if it is complete and points where it should (a Commons thumbnail and file page), else null. */
export function usablePhoto(photo) {
  if (!photo || typeof photo !== 'object') return null;
  const { thumb, page, author, license } = photo;
  const ok = typeof thumb === 'string' && THUMB_HOST.test(thumb) && typeof page === 'string' && FILE_PAGE.test(page)
    && typeof author === 'string' && author.trim() && typeof license === 'string' && license.trim();
  return ok ? photo : null;
}

function face(artist, photo, color) {
  const letters = h('span', { class: 'artist-initials', 'aria-hidden': 'true', text: initials(artist.name) });
  const box = h('span', { class: 'artist-face', dataset: { state: photo ? 'loading' : 'none' } }, letters);
  box.style.setProperty('--face-color', color);
  box.style.setProperty('--face-ink', textOn(color));
  if (!photo) {
    box.title = 'No freely licensed photo found';
    return box;
  }
  const img = h('img', { alt: '', src: photo.thumb, width: 40, height: 40, decoding: 'async', hidden: true,
    referrerpolicy: 'no-referrer' });
  img.addEventListener('load', () => {
    if (img.naturalWidth > 0) {
      img.hidden = false;
      box.dataset.state = 'photo';
    } else {
      img.remove();
      box.dataset.state = 'failed';
    }
  }, { once: true });
  img.addEventListener('error', () => {
    img.remove();
    box.dataset.state = 'failed';
  }, { once: true });
  box.append(img);
  return box;
}

function credit(photo) {
  const licence = typeof photo.license_url === 'string' && LICENCE_PAGE.test(photo.license_url)
    ? h('a', { href: photo.license_url, target: '_blank', rel: 'noopener noreferrer', class: 'credit-link',
      text: photo.license })
    : photo.license;
  return h('span', { class: 'photo-credit small' },
    'Photo: ',
    h('a', { href: photo.page, target: '_blank', rel: 'noopener noreferrer', class: 'credit-link' }, photo.author,
      h('span', { class: 'visually-hidden', text: ' (the file on Wikimedia Commons, opens in a new tab)' })),
    ', ', licence);
}

function nameOf(artist) {
  if (!artist.url) return h('span', { class: 'artist-name', text: artist.name });
  return h('a', { href: artist.url, target: '_blank', rel: 'noopener noreferrer', class: 'artist-link artist-name' },
    artist.name, h('span', { class: 'visually-hidden', text: ' (Wikipedia, opens in a new tab)' }));
}

function names(list) {
  if (list.length <= 1) return list.join('');
  return `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`;
}

/**
 * Artists as a list: face, name (linked to Wikipedia when genres.json gives a page) and the photo's
 * credit; then a line naming the artists without a free photo. ``color`` is the genre's colour.
 */
export function artistList(artists, color) {
  const shown = artists.filter((a) => a && typeof a.name === 'string' && a.name);
  const items = shown.map((a) => {
    const photo = usablePhoto(a.photo);
    return h('li', { class: 'artist', dataset: { photo: photo ? 'commons' : 'none' } },
      face(a, photo, color), h('span', { class: 'artist-text' }, nameOf(a), photo ? credit(photo) : null));
  });
  const without = shown.filter((a) => !usablePhoto(a.photo)).map((a) => a.name);
  const note = without.length
    ? h('p', { class: 'photo-note small text-body-secondary mb-0',
      text: `No freely licensed photo found for ${names(without)}: initials stand in.` })
    : null;
  return h('div', { class: 'artists-block' }, h('ul', { class: 'artists list-unstyled mb-0' }, items), note);
}

/** A genre's or style's portrait ("blues", "House" -> house.png); hidden if the file cannot load. */
export function portrait(slug, label, extraClass = '') {
  const file = `${String(slug).toLowerCase().replace(/[^a-z0-9-]/g, '')}.png`;
  const img = h('img', {
    class: `genre-portrait ${extraClass}`.trim(), src: new URL(file, PORTRAITS).href, width: 256, height: 256,
    alt: `${label}: a portrait of its sound, drawn from its training music (petals: its spectrum; rings: its pulse)`,
    title: `${label}, drawn from its training music: the petals are its spectrum, the rings its pulse`,
    decoding: 'async', dataset: { portrait: file.replace(/\.png$/, '') },
  });
  img.addEventListener('error', () => { img.hidden = true; }, { once: true });
  return img;
}
