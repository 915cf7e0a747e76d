"""Benchmark: each served network on each inference engine, on the same real inputs, one thread, in one run.

    .venv/bin/python bench/bench_runtimes.py                 # from the repo root; a few minutes; prints the table
    .venv/bin/python bench/bench_runtimes.py --write         # also writes models/runtimes.json and bench/runtimes.md
    PYTHONPATH=<a folder with openvino> .venv/bin/python bench/bench_runtimes.py --openvino   # OpenVINO too

The inputs are what the service feeds each network for an upload: bench_upload.py's 30-s synthetic song,
encoded as an MP3, decoded by the service's own decoder and turned into musicnn's patches, the student's
mel blocks and the MFCC CNN's segments (``GenreClassifier.network_inputs``). Each network is called as the
service calls it, one block at a time (musicnn: 1 patch; the student: 8 segments; the MFCC CNN: 16), with
one intra-op thread per engine (a worker process per core, as the server and the pool run). Every engine
gets a warm-up, then ``--rounds`` rounds that call each engine once in turn (a slow spell of a busy machine
hits all alike); p50/p95 per call in ms. Each engine's outputs on all the inputs are compared with LiteRT's
(largest difference relative to the output's largest magnitude, at least 1).

The winner per network is the engine with the lowest p50, but LiteRT (the reference engine) is kept unless
the other is at least ``MARGIN`` faster. ``--write`` records the winners in ``models/runtimes.json``, which
``MODEL_RUNTIME=auto`` (the default) reads, and the table in ``bench/runtimes.md``.

``--openvino`` adds OpenVINO (not a dependency of the service; install it yourself to look) on the ONNX
files, at float32 and at its default precision on this CPU (bfloat16 where the CPU has it): its rows
are for the decision in docs/performance.md, never written as a winner.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness import ROOT, BenchRun, display_command, machine, make_audio, progress, table, write_report  # noqa: E402
from harness import percentile as pct  # noqa: E402
from harness.facts import machine_text, versions  # noqa: E402

from genrelens.analysis.pipeline import GenreClassifier  # noqa: E402
from genrelens.models import DEFAULT_MODEL_DIR  # noqa: E402
from genrelens.models.mfcc_cnn import NetworkPredictor  # noqa: E402
from genrelens.models.musicnn import MusicnnNetwork  # noqa: E402
from genrelens.models.runtimes import LITERT, RUNTIMES, RUNTIMES_FILE, Network, NetworkSpec  # noqa: E402
from genrelens.models.student import StudentNetwork  # noqa: E402

MARGIN = 0.05  # a challenger must beat LiteRT's p50 by this share to take a network from it
PACKAGES = ("numpy", "ai-edge-litert", "onnxruntime", "openvino")


class OpenVino:
    """OpenVINO on an ONNX file with the same call as genrelens.models.runtimes' engines (bench only)."""

    def __init__(self, path: Path, batch: int, widths: dict, threads: int, precision: str | None):
        import openvino

        core = openvino.Core()
        model = core.read_model(str(path))
        shape = [batch, *(d.get_length() for d in list(model.inputs[0].get_partial_shape())[1:])]
        model.reshape({model.inputs[0].any_name: shape})
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        compiled = core.compile_model(model, "CPU", config)
        self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        self._request = compiled.create_infer_request()
        self.input_shape = tuple(shape)
        by_width = {int(o.get_partial_shape()[-1].get_length()): i for i, o in enumerate(compiled.outputs)}
        self._outputs = {name: by_width[width] for name, width in widths.items()}

    def invoke(self, block: np.ndarray) -> dict[str, np.ndarray]:
        result = self._request.infer({0: block})
        return {name: np.asarray(result[index]) for name, index in self._outputs.items()}


class OpenVinoNetwork(Network):
    """A ``Network`` whose engine is OpenVINO at a given precision (``None``: its default on this CPU)."""

    def __init__(self, spec: NetworkSpec, model_dir: Path, precision: str | None):
        super().__init__(spec, model_dir, "onnxruntime", threads=1)  # the .onnx path; the engine is replaced
        self._precision = precision

    def _ensure(self) -> None:
        if self._engine is None:
            self._engine = OpenVino(self.path, self.spec.batch, self.spec.outputs, 1, self._precision)
            self._block = np.zeros(self._engine.input_shape, np.float32)

    @property
    def label(self) -> str:
        self.connect()
        return f"openvino ({self._engine.precision})"


def network_specs(genres: int) -> list[NetworkSpec]:
    cnn = NetworkPredictor.SPEC
    return [MusicnnNetwork.SPEC, StudentNetwork.SPEC, NetworkSpec(cnn.name, cnn.tflite, {"genres": genres}, cnn.batch)]


def engines(spec: NetworkSpec, model_dir: Path, openvino: bool) -> dict[str, Network]:
    found = {runtime: Network(spec, model_dir, runtime, threads=1) for runtime in RUNTIMES}
    if openvino:
        for precision in ("f32", None):
            network = OpenVinoNetwork(spec, model_dir, precision)
            found[network.label] = network
    return found


def largest_difference(ours: dict, reference: dict) -> float:
    return max(float(np.abs(ours[k] - reference[k]).max() / max(1.0, np.abs(reference[k]).max())) for k in reference)


def measure(spec: NetworkSpec, networks: dict[str, Network], inputs: np.ndarray, rounds: int) -> dict[str, dict]:
    """Per engine: the ms of each call on one block, and its outputs' largest difference from LiteRT's."""
    reference, first = networks[LITERT].run(inputs), next(iter(spec.outputs))
    found = {}
    for name, network in networks.items():
        outputs = network.run(inputs)
        found[name] = {"ms": [], "difference": largest_difference(outputs, reference),
                       "same_top": bool((outputs[first].argmax(1) == reference[first].argmax(1)).all())}
    # full blocks, the inputs taken in turn (wrapping round): a call costs the same however many rows are real
    blocks = [np.take(inputs, range(i, i + spec.batch), axis=0, mode="wrap") for i in range(0, len(inputs), spec.batch)]
    for network in networks.values():  # warm-up: first calls plan memory and pick kernels
        for block in blocks[:3]:
            network.run(block)
    for round_ in range(rounds):
        block = blocks[round_ % len(blocks)]
        for name, network in networks.items():
            started = time.perf_counter()
            network.run(block)
            found[name]["ms"].append((time.perf_counter() - started) * 1000)
    return found


def winner(results: dict[str, dict]) -> str:
    """The served engine with the lowest p50; LiteRT unless beaten by at least MARGIN."""
    p50 = {name: pct(results[name]["ms"], 50) for name in RUNTIMES}
    best = min(p50, key=p50.get)
    return best if p50[best] <= (1 - MARGIN) * p50[LITERT] else LITERT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="timed calls per engine and network")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--openvino", action="store_true", help="also time OpenVINO (installed by you)")
    parser.add_argument("--write", action="store_true", help="write models/runtimes.json and bench/runtimes.md")
    args = parser.parse_args(argv)
    with BenchRun("bench/bench_runtimes.py", sys.argv[1:] if argv is None else argv) as run:
        progress("making and decoding the 30-s song")
        song = make_audio(run.tmp / "audio", {"mp3_30": 1})["mp3_30"][0]
        classifier = GenreClassifier(args.model_dir, runtime=LITERT)
        inputs = classifier.network_inputs(classifier.decode(str(song)).samples)
        results, winners = {}, {}
        for spec in network_specs(len(classifier.genres)):
            progress(f"{spec.name}: {len(inputs[spec.name])} inputs, {args.rounds} rounds")
            results[spec.name] = measure(spec, engines(spec, args.model_dir, args.openvino), inputs[spec.name],
                                         args.rounds)
            winners[spec.name] = winner(results[spec.name])
        run.finish()
    command = display_command([sys.executable, "bench/bench_runtimes.py", *(argv if argv is not None else sys.argv[1:])])
    rows = []
    for spec in network_specs(len(classifier.genres)):
        for name, found in results[spec.name].items():
            chosen = "**served**" if name == winners[spec.name] else ""
            rows.append([spec.name, str(spec.batch), name, f"{pct(found['ms'], 50):.2f}", f"{pct(found['ms'], 95):.2f}",
                         f"{pct(results[spec.name][LITERT]['ms'], 50) / pct(found['ms'], 50):.2f}x",
                         f"{found['difference']:.1e}", "yes" if found["same_top"] else "**no**", chosen])
    busy = "busy (others' work shared it: the load at start/end says how much)" if run.busy() else "quiet"
    facts = versions(PACKAGES, ffmpeg=False)
    text = "\n".join([
        "# Inference engines per network (bench/bench_runtimes.py)", "",
        f"Command: `{command}` (from the repo root), {run.started:%Y-%m-%d %H:%M %Z}, {run.elapsed_s:.0f} s; "
        f"load {run.load_start[0]:.2f} at start, {run.load_end[0]:.2f} at end: the machine was {busy}.",
        f"Machine: {machine_text(machine())}.", "Versions: " + ", ".join(f"{k} {v}" for k, v in facts.items()) + ".", "",
        "One call = one block as the service sends it (musicnn one 3-s patch, the student 8 segments, the MFCC CNN 16),",
        f"one thread per engine, {args.rounds} interleaved rounds after a warm-up; inputs from a 30-s synthetic song",
        "decoded by the service. Difference: the largest |engine - LiteRT| over every output, relative to the output's",
        "largest magnitude (at least 1); same top: the strongest tag / genre of every input is LiteRT's.",
        f"Served: the lowest p50 of LiteRT and ONNX Runtime, LiteRT unless beaten by {MARGIN:.0%} "
        f"(models/{RUNTIMES_FILE}, read by `MODEL_RUNTIME=auto`).", "",
        table(["network", "block", "engine", "p50 ms", "p95 ms", "speed vs LiteRT", "difference", "same top", ""], rows),
        ""])
    write_report(text, ROOT / "bench" / "runtimes.md" if args.write else None)
    if args.write:
        record = {"written_by": command, "date": f"{run.started:%Y-%m-%d}", "rule": f"lowest p50; LiteRT unless beaten by {MARGIN:.0%}",
                  "networks": {name: {"runtime": winners[name], "p50_ms": {r: round(pct(results[name][r]["ms"], 50), 3)
                                                                            for r in RUNTIMES}}
                               for name in winners}}
        (args.model_dir / RUNTIMES_FILE).write_text(json.dumps(record, indent=2) + "\n")
        progress(f"wrote {args.model_dir / RUNTIMES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
