#!/usr/bin/env python3
"""How long ONNX Runtime takes to make a session for a voice model, with the
onnxruntime of the interpreter that runs this (so two venvs compare two
runtime versions on the same file):

    .venv/bin/python scripts/bench/voice_load.py VOICE.onnx [--repeat 7] [--threads 1]
    python3 -m venv /tmp/ort132 && /tmp/ort132/bin/pip install onnxruntime==1.32.0 numpy
    /tmp/ort132/bin/python scripts/bench/voice_load.py VOICE.onnx

Reports the median and minimum over --repeat loads of:

* ``plain``: ``InferenceSession(model)`` with default options and the given
  intra-op threads: what ``PiperVoice.load`` does (with its threads set);
* ``ort format``: the same session made from the graph ONNX Runtime optimized
  and saved in its own format on a first load, as assistantd's optimized-model
  cache does (``session.save_model_format = ORT``).

The import of onnxruntime and the first session of the process (which
registers the operator schemas) happen before anything is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import onnxruntime as ort

    def session(path: Path, save: Path | None = None):
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.log_severity_level = 3
        if save is not None:
            options.optimized_model_filepath = str(save)
            options.add_session_config_entry("session.save_model_format", "ORT")
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    def timed(path: Path) -> list[float]:
        out = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            session(path)
            out.append((time.perf_counter() - start) * 1e3)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "voice.ort"
        session(args.model, save=optimized)  # the process's first session, and the ORT-format copy
        for name, path in [("plain", args.model), ("ort format", optimized)]:
            t = timed(path)
            print(f"onnxruntime {ort.__version__}  {name:10}  median {statistics.median(t):6.0f} ms  "
                  f"min {min(t):6.0f} ms  ({args.repeat} loads, {args.threads} thread(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
