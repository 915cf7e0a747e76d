"""Take a screenshot of a real result page for the README.

Starts the app in-process, makes a music-like MP3 (the same generator the browser tests use),
uploads it through the page in headless chromium, waits for the whole result and saves a PNG.

    .venv/bin/python scripts/screenshot.py                   # -> docs/screenshot.png
    .venv/bin/python scripts/screenshot.py --width 375 --out /tmp/phone.png --full
    .venv/bin/python scripts/screenshot.py --element "#genre-guide" --out docs/images/guide.png   # one part

The browser cannot reach the artist photos' host (tests/test_page.py chrome()), so the guide shows
the artists' initials, as it does offline.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_page as page
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1480, help="viewport height (ignored with --full)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the generated song")
    parser.add_argument("--full", action="store_true", help="capture the whole page, not just the viewport")
    parser.add_argument("--shared", action="store_true", help="screenshot the /?analysis=<id> view instead")
    parser.add_argument("--element", help="CSS selector: capture only this element of the result page")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if page._SKIP_REASON:
        print(f"cannot take a screenshot: {page._SKIP_REASON}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory() as tmp:
        song = page.write_mp3(Path(tmp) / "Midnight Groove.mp3", seconds=args.seconds, seed=11)
        with page.serve_app({"ANALYSIS_DIR": str(Path(tmp) / "analyses")}) as base, \
                page.chrome(width=args.width, height=args.height) as driver:
            driver.get(f"{base}/")
            page.upload_in_page(driver, song)
            analysis_id = page.wait_for_result(driver)
            if args.shared:
                driver.get(f"{base}/?analysis={analysis_id}")
                page.wait_for_result(driver)
                page.wait_pictures_loaded(driver, "#static-wave-img, .analysis-img")
            else:
                page.wait_pictures_loaded(driver)
                # move the play head a little so the progress colour and "Now:" read-out show
                waveform = driver.find_element(By.ID, "waveform")
                driver.execute_script("arguments[0].focus()", waveform)
                for _ in range(2):
                    waveform.send_keys(Keys.ARROW_RIGHT)
                driver.execute_script("document.activeElement.blur()")
            if args.full:
                height = driver.execute_script("return document.documentElement.scrollHeight")
                if args.width < 500:  # phone emulation (see tests/test_page.py chrome())
                    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                        "width": args.width, "height": height, "deviceScaleFactor": 2, "mobile": True})
                else:
                    driver.set_window_size(args.width, height + 100)
                driver.execute_script("window.scrollTo({top: 0, behavior: 'instant'})")
            else:
                driver.execute_script(
                    "const top = document.getElementById('result').getBoundingClientRect().top + window.scrollY;"
                    "window.scrollTo({top: top - 80, behavior: 'instant'});")
            driver.execute_script("return new Promise(r => setTimeout(r, 700))")  # let bar transitions finish
            args.out.parent.mkdir(parents=True, exist_ok=True)
            if args.element:
                part = driver.find_element(By.CSS_SELECTOR, args.element)
                driver.execute_script("document.querySelector('nav.navbar').parentElement.style.visibility = 'hidden'")
                driver.execute_script("arguments[0].scrollIntoView({block: 'start', behavior: 'instant'})", part)
                driver.execute_script("return new Promise(r => setTimeout(r, 300))")
                part.screenshot(str(args.out))
            else:
                driver.save_screenshot(str(args.out))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
