"""The library tagger: classify every audio file under a folder into one CSV, on every core.

    python -m genrelens.library ~/Music --out results.csv [--workers 4] [--write-tags] [--model musicnn]
    python -m genrelens.library ~/Music --out results.csv --server http://127.0.0.1:5000
    python -m genrelens.library ~/Music --out results.csv --playlists ~/Playlists

- **Which files**: folders are walked in sorted order (hidden files and folders skipped, symlinked
  folders not followed) for the extensions in ``AUDIO_EXTENSIONS``; a file named on the command line
  is classified whatever its extension.
- **filename column**: a file found in a folder is named by its path relative to that folder, with
  ``/`` separators (``Artist/Album/01.flac``), so the CSV survives moving the library and resumes
  from any working directory; a file named on the command line keeps the path as given. A name that
  is not UTF-8 is written with its odd bytes as backslash escapes (``caf\\xe9.mp3``, in messages too);
  a cell a spreadsheet would run as a formula gets a leading quote (``genrelens.results_csv``).
- **Resume**: rows already in ``--out`` with status ``done`` are skipped; every other file is
  classified (again), and its old rows are dropped. Rows of files not in this run are kept as they
  were. The CSV is rewritten once at the start (a temporary file moved into place), then each file's
  row is appended and flushed as it finishes: a run killed at any moment keeps every finished row.
- **--write-tags**: the top genre's name from the genre guide goes into the file's own genre tag
  (``genrelens.library.file_tags``: a link's target is tagged, a file changed meanwhile is left alone)
  when the file is classified; files done in an earlier run are not touched. A genre that could not be
  written (a format without a genre tag, a read-only file, ...) is a warning (logged, the row's ``note``,
  counted in the summary), not a failure. At the start, the hidden copies a killed run left beside the
  files are removed.
- **--playlists DIR**: after the run, one extended M3U per genre (``jazz.m3u8``) and per electronic style
  (``electronic-downtempo.m3u8``) of every file classified (this run's and earlier runs' rows), best
  match first, with paths relative to DIR, so a music server that scans DIR finds them
  (``genrelens.explore.playlists``). Only those files are written, only in DIR: the music folder is left
  alone unless DIR is inside it. Files done in an earlier run join the genre playlists only (the CSV
  keeps no style) with an unknown length. An interrupted run writes none; a DIR that cannot be written
  is exit code 2 (the CSV is complete all the same).
- **Interrupts**: Ctrl-C (SIGINT) or SIGTERM removes the copy being tagged, ends the workers, and prints
  what was really done (``genrelens.library.interrupts``).
- **Exit code**: 0 when every file of the run was classified, 1 when any failed, 2 when the run could
  not start or go on (``--out`` is not our CSV, the models or the server are unusable), 130 on Ctrl-C
  (SIGINT), 143 on SIGTERM.

Files are classified by ``genrelens.library.local`` (a pool of ``--workers`` processes here) or by
``genrelens.library.remote`` (``--server``: a GenreLens service's job queue). ``analysis_id`` is empty
locally (nothing is stored) and the server's id with ``--server``.
"""
from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from genrelens.analysis.pipeline import DEFAULT_MAX_ANALYSIS_SECONDS, MODEL_NAMES
from genrelens.explore.playlists import write_folder
from genrelens.library import interrupts
from genrelens.library.file_tags import remove_leftover_copies
from genrelens.library.interrupts import Interrupted
from genrelens.library.outcomes import Fatal, Outcome, Track
from genrelens.models import DEFAULT_MODEL_DIR
from genrelens.results_csv import COLUMNS, EARLIER_COLUMNS, csv_line, printable, to_csv, unescape_cell

log = logging.getLogger("genrelens.library")

AUDIO_EXTENSIONS = frozenset(
    ".mp3 .mp2 .flac .ogg .oga .opus .spx .m4a .m4b .mp4 .aac .wav .wave .aif .aiff .aifc .wma .asf .webm .mka "
    ".ape .wv .mpc .tta .ac3 .eac3 .dts .amr .3gp .caf .au .snd .dsf .dff".split())


# ---- which files ----

def find_tracks(arguments: Iterable[str]) -> list[Track]:
    tracks, names = [], set()
    for argument in arguments:
        if os.path.isdir(argument):
            found = [Track.named(path, Path(os.path.relpath(path, argument)).as_posix())
                     for path in walk_audio(argument)]
        else:
            found = [Track.named(argument, argument)]  # a missing one is a failed row (not_found)
        for track in found:
            if track.name in names:
                log.warning("%s is named twice (one CSV row per name): classified once", track.name)
                continue
            names.add(track.name)
            tracks.append(track)
    return tracks


def walk_audio(root: str) -> Iterator[str]:
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                yield os.path.join(folder, name)


# ---- the CSV ----

def read_rows(path: str) -> list[dict]:
    """The complete rows of an earlier run's CSV (a row cut off by a kill is left out), each cell as it
    was before it was escaped (``unescape_cell``); a CSV of the layout before ``note`` gets an empty one."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) not in (COLUMNS, EARLIER_COLUMNS):
            raise Fatal(f"{path} is not a GenreLens results CSV (its header differs); choose another --out")
        rows = []
        try:
            for row in reader:
                if None not in row and None not in row.values():
                    rows.append({column: unescape_cell(row.get(column, "")) for column in COLUMNS})
        except csv.Error as exc:
            log.warning("%s: reading stopped at a damaged row (%s)", path, exc)
    return rows


def rewrite_atomically(path: str, rows: list[dict]) -> None:
    """Write the CSV beside itself and move it into place: a crash leaves the old file or the new one."""
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise Fatal(f"{path} is not writable")
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        # os.open, not mkstemp: a new CSV gets the usual permissions (0666 less the umask), not 0600
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            out.write(to_csv(rows))
            out.flush()
            os.fsync(out.fileno())
        if os.path.exists(path):
            shutil.copymode(path, temp)
        os.replace(temp, path)
    except OSError as exc:
        raise Fatal(f"{path} cannot be written ({exc.strerror or exc})") from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def plan(tracks: list[Track], out: str) -> tuple[list[Track], int]:
    """Rewrite ``out`` with the rows this run keeps; the tracks to classify and how many were done before."""
    previous = read_rows(out)
    done_before = {row["filename"] for row in previous if row["status"] == "done"}
    todo = [track for track in tracks if track.name not in done_before]
    again = {track.name for track in todo}
    rewrite_atomically(out, [row for row in previous if row["filename"] not in again])
    return todo, len(tracks) - len(todo)


# ---- the run ----

@dataclass
class Tally:
    """What the rows written in this run say: the summary counts only what is in the CSV."""
    done: int = 0
    failed: int = 0
    skipped: int = 0
    tagged: int = 0  # --write-tags: genre written into the file
    tag_kept: int = 0  # --write-tags: the file's genre tag already said so
    untagged: int = 0  # --write-tags: not written (the row's note says why)

    def line(self, seconds: float, write_tags: bool) -> str:
        analysed = self.done + self.failed
        rate = analysed * 60 / seconds if seconds > 0 else 0.0
        minutes, secs = divmod(round(seconds), 60)
        text = (f"{self.done} done, {self.skipped} skipped (done before), {self.failed} failed "
                f"in {minutes}m {secs:02d}s ({rate:.1f} files/min)")
        if write_tags:
            text += f"; genre tag written to {self.tagged} file(s)"
            text += f", already there in {self.tag_kept}" if self.tag_kept else ""
            text += f", not written to {self.untagged} (see the note column)" if self.untagged else ""
        return text


def record(outcome: Outcome, out, tally: Tally) -> None:
    """Append the file's row and push it to the disk: a kill after this keeps it."""
    out.write(csv_line(outcome.row()))
    out.flush()
    os.fsync(out.fileno())
    where = printable(outcome.track.path)
    if outcome.error:
        tally.failed += 1
        log.warning("%s: error: %s", where, printable(outcome.error.get("message") or ""))
    else:
        tally.done += 1
    tally.tagged += outcome.tag == "written"
    tally.tag_kept += outcome.tag == "already"
    if outcome.tag_note:
        tally.untagged += 1
        log.warning("%s: genre tag not written: %s", where, outcome.tag_note)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m genrelens.library", description=(
        "Classify the genre of every audio file of a music library into a CSV."))
    add = parser.add_argument
    add("paths", nargs="+", help="folders to walk and/or audio files")
    add("--out", required=True, help="the results CSV; an existing one is resumed")
    add("--workers", type=int, default=_cores(), help="processes classifying at once (default: every core)")
    add("--model", choices=MODEL_NAMES, help="default: the one chosen on VALID (models/musicnn_card.json)")
    add("--model-dir", default=str(DEFAULT_MODEL_DIR))
    add("--max-seconds", type=float, default=DEFAULT_MAX_ANALYSIS_SECONDS)
    add("--write-tags", action="store_true", help="write the top genre into the genre tag of each file classified")
    add("--quiet", action="store_true", help="no progress bar and no progress messages")
    add("--server", help="send the files to a GenreLens server's job queue (http://host:5000) instead")
    add("--batch-mb", type=float, default=40.0, help="--server: at most this many MB per upload")
    add("--batch-files", type=int, default=50, help="--server: at most this many files per upload")
    add("--playlists", metavar="DIR", help="after the run, write one M3U playlist per genre and electronic style "
                                          "into DIR (made if missing), with paths relative to DIR")
    return parser.parse_args(argv)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run(args: argparse.Namespace, tally: Tally) -> None:
    tracks = find_tracks(args.paths)
    if args.write_tags:
        remove_leftovers(tracks)
    todo, tally.skipped = plan(tracks, args.out)
    log.info("%d file(s) found: %d to classify, %d done before", len(tracks), len(todo), tally.skipped)
    earlier = read_rows(args.out) if args.playlists else []
    finished = classify_all(args, todo, tally) if todo else []
    if args.playlists:
        try:
            written = write_folder(args.playlists, playlist_entries(tracks, earlier, finished))
        except OSError as exc:  # not a folder, not writable, a full disk: the CSV is whole, the playlists are not
            raise Fatal(f"the playlists could not be written into {printable(args.playlists)}: "
                        f"{printable(exc.strerror or str(exc))}") from exc
        log.info("%d playlist(s) written to %s", len(written), printable(args.playlists))


def playlist_entries(tracks: list[Track], earlier: list[dict], finished: list[Outcome]) -> list[dict]:
    """The files classified, in this run (with length, style and tags) and before it (from the CSV: genre
    and confidence only, so they are in the genre playlists, not the style ones), with their paths."""
    path_of = {track.name: track.path for track in tracks}
    entries = {row["filename"]: {"path": path_of[row["filename"]], "filename": row["filename"], "status": "done",
                                 "genre": row["genre"], "confidence": float(row["confidence"] or 0)}
               for row in earlier if row["status"] == "done" and row["filename"] in path_of and row["genre"]}
    for outcome in finished:
        if outcome.genres:
            entries[outcome.track.name] = {"path": outcome.track.path, "filename": outcome.track.name, "status": "done",
                                           "genre": outcome.genres[0]["genre"],
                                           "confidence": outcome.genres[0]["probability"], **(outcome.glance or {})}
    return list(entries.values())


def classify_all(args: argparse.Namespace, todo: list[Track], tally: Tally) -> list[Outcome]:
    """Classify ``todo``, a row in ``--out`` for each as it comes; the outcomes."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if args.server:
        from genrelens.library.remote import remote_outcomes

        outcomes = remote_outcomes(args.server, todo, args.model, args.batch_mb, args.batch_files, args.write_tags)
    else:
        from genrelens.library.local import local_outcomes

        outcomes = local_outcomes(todo, args.workers, args.model_dir, args.max_seconds, args.model, args.write_tags)
    bar = tqdm(total=len(todo), unit="file", desc="classifying", file=sys.stderr, disable=args.quiet)
    finished = []
    try:
        with open(args.out, "a", newline="", encoding="utf-8") as out, logging_redirect_tqdm(), bar:
            for outcome in outcomes:
                with interrupts.held():  # the row on the disk and counted, or neither
                    record(outcome, out, tally)
                finished.append(outcome)
                bar.update()
    finally:
        outcomes.close()  # an interrupt outside the generator ends the pool here, not when it is collected
    return finished


def remove_leftovers(tracks: list[Track]) -> None:
    """Remove the hidden copies a killed --write-tags run left beside these files (or their links' targets)."""
    folders = sorted({os.path.dirname(os.path.realpath(track.path)) for track in tracks})
    for folder in folders:
        for path in remove_leftover_copies(folder):
            log.warning("%s: removed (a copy a stopped run was tagging)", printable(path))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    started, tally = time.monotonic(), Tally()
    with interrupts.caught():
        try:
            run(args, tally)
        except Fatal as exc:
            log.error("%s", exc)
            return 2
        except Interrupted as stop:
            log.warning("%s: the rows of the files finished are in %s; run the same command again to go on",
                        stop, printable(args.out))
            print(tally.line(time.monotonic() - started, args.write_tags))
            return stop.exit_code
    print(tally.line(time.monotonic() - started, args.write_tags))
    return 1 if tally.failed else 0


if __name__ == "__main__":
    # Run the importable copy (genrelens.library), not this __main__ one: the other modules and the
    # worker processes import that one, and its Fatal and Outcome must be the ones main() knows.
    from genrelens.library.tagger import main as _main

    sys.exit(_main())
