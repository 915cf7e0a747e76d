"""Which inference engine runs each served network, and one way to call it whatever the engine.

The three networks (musicnn, the student, the MFCC CNN) ship as LiteRT ``.tflite`` files and as ONNX
twins converted from them (``training/export_onnx.py``). The engines differ in speed per network on a
given CPU, not in the answer (``tests/test_runtimes.py`` holds them to a tolerance), so the choice is a
setting: ``MODEL_RUNTIME`` = ``auto`` (each network on the winner ``bench/bench_runtimes.py --write``
recorded in ``models/runtimes.json``), ``litert`` or ``onnxruntime`` (every network on that engine).

A ``Network`` is built lazily in the process that calls it and rebuilt after a fork: neither engine's
threads survive a fork, and gunicorn's master (``--preload``) must not hand its sessions to workers.
Each engine runs one intra-op thread unless told otherwise: the web server, the job pool and the
tagger already run one process per core, so more threads per process would only fight over the cores.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

LITERT, ONNXRUNTIME = "litert", "onnxruntime"
RUNTIMES = (LITERT, ONNXRUNTIME)
CHOICES = ("auto", *RUNTIMES)  # the values MODEL_RUNTIME may take
DEFAULT_CHOICE = "auto"
RUNTIMES_FILE = "runtimes.json"
# What an answer's ``model.backend`` calls each engine (LiteRT keeps the name answers always gave it).
LABELS = {LITERT: "tflite", ONNXRUNTIME: "onnxruntime"}
_INHERITED: list = []  # engines made before a fork: never freed in the child (their destructors may wait on
#                         threads that only the parent has)


class RuntimeUnavailable(RuntimeError):
    """The engine asked for is not installed, or the network has no file for it."""


def check_choice(value: str) -> str:
    """``value`` if it is a valid ``MODEL_RUNTIME``, else a ``ValueError`` that lists the valid ones."""
    if value not in CHOICES:
        raise ValueError(f"MODEL_RUNTIME={value!r} is not one of {', '.join(CHOICES)}")
    return value


@dataclass(frozen=True)
class NetworkSpec:
    """One served network: its files, the block size it is called with, its outputs told apart by width.

    Neither file names its outputs usefully (LiteRT numbers them by graph position, tf2onnx copies
    TensorFlow's tensor names), but each output has its own width, so the width names it on both.
    """

    name: str  # the key in models/runtimes.json
    tflite: str
    outputs: dict  # output name -> width
    batch: int  # inputs go through in blocks of this size, the last padded: one shape, memory allocated once

    @property
    def onnx(self) -> str:
        return self.tflite.removesuffix(".tflite") + ".onnx"

    def path(self, model_dir: Path, runtime: str) -> Path:
        return Path(model_dir) / (self.tflite if runtime == LITERT else self.onnx)


def recorded_winners(model_dir: Path) -> dict[str, str]:
    """models/runtimes.json's runtime per network ({} without the file); values outside RUNTIMES dropped."""
    path = Path(model_dir) / RUNTIMES_FILE
    if not path.exists():
        return {}
    networks = json.loads(path.read_text()).get("networks", {})
    return {name: entry["runtime"] for name, entry in networks.items() if entry.get("runtime") in RUNTIMES}


def installed(runtime: str) -> bool:
    module = {LITERT: "ai_edge_litert.interpreter", ONNXRUNTIME: "onnxruntime"}[runtime]
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def choose(spec: NetworkSpec, model_dir: Path, choice: str) -> str:
    """The engine ``spec`` runs on under ``MODEL_RUNTIME=choice``.

    ``auto`` takes the recorded winner if it is installed and its file is there, else LiteRT. A named
    engine that cannot run the network is an error at start (``RuntimeUnavailable``), not a quiet swap.
    """
    check_choice(choice)
    if choice == "auto":
        wanted = recorded_winners(model_dir).get(spec.name, LITERT)
        if wanted != LITERT and not (installed(wanted) and spec.path(model_dir, wanted).exists()):
            log.warning("%s: %s recorded in %s cannot run here; LiteRT runs it", spec.name, wanted, RUNTIMES_FILE)
            wanted = LITERT
        return wanted
    if not installed(choice):
        raise RuntimeUnavailable(f"MODEL_RUNTIME={choice}: the {choice} package is not installed")
    if not spec.path(model_dir, choice).exists():
        raise RuntimeUnavailable(f"MODEL_RUNTIME={choice}: {spec.path(model_dir, choice).name} is missing in {model_dir}")
    return choice


class _LiteRT:
    """One LiteRT interpreter with its input resized to (batch, ...)."""

    def __init__(self, path: Path, batch: int, widths: dict, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]
        self.input_shape = (batch, *(int(n) for n in self._input["shape"][1:]))
        self._interpreter.resize_tensor_input(self._input["index"], list(self.input_shape))
        self._interpreter.allocate_tensors()
        by_width = {int(d["shape"][-1]): d["index"] for d in self._interpreter.get_output_details()}
        self._outputs = {name: by_width[width] for name, width in widths.items()}

    def invoke(self, block: np.ndarray) -> dict[str, np.ndarray]:
        self._interpreter.set_tensor(self._input["index"], block)
        self._interpreter.invoke()
        return {name: self._interpreter.get_tensor(index) for name, index in self._outputs.items()}


class _OnnxRuntime:
    """One ONNX Runtime session on the CPU, sequential, ``threads`` intra-op threads that do not spin.

    Spinning threads would burn a core between calls that another worker process could use.
    """

    def __init__(self, path: Path, batch: int, widths: dict, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initialisers are the converter's, not ours
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        first = self._session.get_inputs()[0]
        self._input = first.name
        self.input_shape = (batch, *(int(n) for n in first.shape[1:]))
        by_width = {int(o.shape[-1]): o.name for o in self._session.get_outputs()}
        self._names = {name: by_width[width] for name, width in widths.items()}
        self._order = list(self._names.values())

    def invoke(self, block: np.ndarray) -> dict[str, np.ndarray]:
        values = self._session.run(self._order, {self._input: block})
        return dict(zip(self._names, values))


ENGINES = {LITERT: _LiteRT, ONNXRUNTIME: _OnnxRuntime}


class Network:
    """``run(inputs)``: one network on one engine, the same call and the same output names on every engine.

    Thread-safe (one engine per process, used under a lock) and fork-aware: the engine is made on the
    first ``run`` in each process, and ``release`` drops it (gunicorn's master calls it before forking).
    """

    def __init__(self, spec: NetworkSpec, model_dir: Path, runtime: str = LITERT, threads: int = 1):
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
        self.spec, self.runtime, self.threads = spec, runtime, threads
        self.path = spec.path(model_dir, runtime)
        if not self.path.exists():
            raise RuntimeUnavailable(f"{self.path} is missing")
        self._lock = threading.Lock()
        self._engine, self._pid = None, None

    @property
    def label(self) -> str:
        return LABELS[self.runtime]

    def release(self) -> None:
        with self._lock:
            self._engine, self._pid = None, None

    def connect(self) -> None:
        """Make this process's engine now (the first ``run`` would otherwise): a bad file fails at start."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> None:
        """This process's engine, made now if it has none or only the one it inherited through a fork.

        An inherited LiteRT interpreter with two XNNPACK threads ran about half as fast in a worker as a
        fresh one (its threads stayed in the parent); it is kept, never freed, because its destructor
        would wait for those threads forever.
        """
        if self._engine is not None and self._pid == os.getpid():
            return
        if self._engine is not None:
            _INHERITED.append(self._engine)
        self._engine = ENGINES[self.runtime](self.path, self.spec.batch, self.spec.outputs, self.threads)
        self._block = np.zeros(self._engine.input_shape, np.float32)
        self._pid = os.getpid()

    def run(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Every output, shape (len(inputs), width), for inputs of shape (n, *the network's input shape)."""
        out = {name: np.zeros((len(inputs), width), np.float32) for name, width in self.spec.outputs.items()}
        with self._lock:
            self._ensure()
            block = self._block
            for first in range(0, len(inputs), len(block)):
                part = inputs[first : first + len(block)]
                block[: len(part)] = part.reshape(len(part), *block.shape[1:])
                block[len(part) :] = 0.0
                for name, value in self._engine.invoke(block).items():
                    out[name][first : first + len(part)] = value[: len(part)]
        return out
