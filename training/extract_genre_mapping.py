"""Write ``genre_mapping.txt`` (model output index -> genre name, one per line) from the model card."""
from __future__ import annotations

import argparse
from pathlib import Path

from genrelens.models.mfcc_cnn import ModelCard

ROOT = Path(__file__).resolve().parent.parent


def write_mapping(genres: list[str], out: Path) -> None:
    out.write_text("".join(f"{genre}\n" for genre in genres))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--out", type=Path, default=ROOT / "genre_mapping.txt")
    args = parser.parse_args(argv)
    write_mapping(ModelCard.load(args.model_dir).genres, args.out)


if __name__ == "__main__":
    main()
