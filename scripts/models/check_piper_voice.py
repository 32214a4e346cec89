#!/usr/bin/env python3
"""Runs the synthetic Piper voices on ONNX Runtime and compares them to the rule.

Usage:
    .venv/bin/python scripts/models/check_piper_voice.py --config REAL.onnx.json [--dir DIR]

Generates both models with make_piper_voice.py into DIR (default: a fresh
temporary folder), checks that generating twice gives identical bytes, then
runs both models with the `onnxruntime` Python package for several id
sequences, length_scales 0.5/1.0/2.0, input_lengths shorter than the input,
noise scales (ignored), every sid and out-of-range ids/sids, and compares
every sample with `expected_audio`. Exits 1 on any mismatch.

Needs `onnxruntime` in the venv (pip install onnxruntime==1.28.0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_piper_voice as voice  # noqa: E402

ort.set_default_logger_severity(4)  # the out-of-range runs below fail on purpose; quiet ORT's log
TOLERANCE = 1e-5  # float32 sin of ORT vs numpy; the argument itself is exact

ID_SEQUENCES = [
    [1, 0, 20, 0, 14, 0, 2],  # ^ _ h _ a _ $ , as Piper interleaves pads
    [0],
    [155, 3, 42, 255, 7],  # up to num_symbols - 1
    list(range(0, 256, 17)),
]
LENGTH_SCALES = [0.5, 1.0, 2.0]

failures: list[str] = []
worst = {"error": 0.0, "runs": 0}


def check(condition: bool, what: str) -> None:
    if not condition:
        failures.append(what)
        print(f"FAIL {what}")


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def run(session: ort.InferenceSession, ids, scales, length=None, sid=None) -> np.ndarray:
    feeds = {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids) if length is None else length], dtype=np.int64),
        "scales": np.array(scales, dtype=np.float32),
    }
    if sid is not None:
        feeds["sid"] = np.array([sid], dtype=np.int64)
    (out,) = session.run(["output"], feeds)
    return out


def compare(label: str, out: np.ndarray, want: np.ndarray) -> None:
    check(out.dtype == np.float32, f"{label}: dtype {out.dtype}")
    check(out.ndim == 4 and out.shape[:3] == (1, 1, 1), f"{label}: shape {out.shape}, want [1,1,1,T]")
    got = out.reshape(-1)
    if got.shape != want.shape:
        check(False, f"{label}: T = {got.shape[0]}, want {want.shape[0]}")
        return
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    worst["error"] = max(worst["error"], err)
    worst["runs"] += 1
    check(err <= TOLERANCE, f"{label}: max |error| {err:.3g} > {TOLERANCE}")


def dominant_hz(segment: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(segment, n=16 * len(segment)))
    return float(np.argmax(spectrum)) * sample_rate / (16 * len(segment))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--dir", type=Path, help="where to write the models (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="piper-voice-") as tmp:
        out = args.dir or Path(tmp) / "a"
        voice.main(["--out", str(out), "--config", str(args.config)])
        again = Path(tmp) / "b"
        voice.main(["--out", str(again), "--config", str(args.config)])
        check(digest(out) == digest(again), "two generations differ byte for byte")
        print(f"onnxruntime {ort.__version__}; files: {json.dumps(digest(out), indent=1)}")

        real = json.loads(args.config.read_text(encoding="utf-8"))
        sr = int(real["audio"]["sample_rate"])
        for name, multi in (("synthetic-single", False), ("synthetic-multi", True)):
            config = json.loads((out / f"{name}.onnx.json").read_text(encoding="utf-8"))
            for key in ("audio", "espeak", "inference", "phoneme_type", "phoneme_id_map", "num_symbols"):
                check(config.get(key) == real.get(key), f"{name}.onnx.json: {key} differs from the real config")
            want_speakers = voice.SPEAKERS if multi else {}
            check(config["num_speakers"] == max(1, len(want_speakers)), f"{name}: num_speakers")
            check(config["speaker_id_map"] == want_speakers, f"{name}: speaker_id_map")

            session = ort.InferenceSession(str(out / f"{name}.onnx"), providers=["CPUExecutionProvider"])
            inputs = [(i.name, i.type, i.shape) for i in session.get_inputs()]
            outputs = [(o.name, o.type, o.shape) for o in session.get_outputs()]
            want_inputs = [
                ("input", "tensor(int64)", ["batch_size", "phonemes"]),
                ("input_lengths", "tensor(int64)", ["batch_size"]),
                ("scales", "tensor(float)", [3]),
            ] + ([("sid", "tensor(int64)", [1])] if multi else [])
            check(inputs == want_inputs, f"{name}: inputs {inputs}")
            check(outputs == [("output", "tensor(float)", [1, 1, 1, "time"])], f"{name}: outputs {outputs}")
            print(f"{name}: inputs {inputs} outputs {outputs}")

            sids = list(voice.SPEAKERS.values()) if multi else [None]
            for sid in sids:
                for ids in ID_SEQUENCES:
                    for ls in LENGTH_SCALES:
                        scales = [0.667, ls, 0.8]
                        label = f"{name} sid={sid} ids={ids} length_scale={ls}"
                        got = run(session, ids, scales, sid=sid)
                        want = voice.expected_audio(ids, scales, sid=sid, sample_rate=sr)
                        compare(label, got, want)
                        seg = voice.segment_samples(ls, sr)
                        check(got.shape[3] == len(ids) * seg, f"{label}: T {got.shape[3]} != {len(ids)}*{seg}")
                        # Independent of expected_audio: each segment's peak frequency.
                        flat = got.reshape(-1)
                        for k, i in enumerate(ids):
                            hz = dominant_hz(flat[k * seg : (k + 1) * seg], sr)
                            check(
                                abs(hz - voice.frequency_hz(i, sid)) < 3.0,
                                f"{label}: segment {k} peaks at {hz:.1f} Hz",
                            )
                    # noise scales are ignored
                    a = run(session, ids, [0.0, 1.0, 0.0], sid=sid)
                    b = run(session, ids, [1.0, 1.0, 1.0], sid=sid)
                    check(np.array_equal(a, b), f"{name} sid={sid}: noise scales changed the audio")
                # input_lengths: only the first ids count
                ids = [5, 6, 7, 8, 9]
                for length in (0, 1, 3, 5, 7):  # 7 > phonemes: clamped to 5
                    got = run(session, ids, [0.667, 1.0, 0.8], length=length, sid=sid)
                    want = voice.expected_audio(ids, [0.667, 1.0, 0.8], sid=sid, sample_rate=sr, input_length=length)
                    compare(f"{name} sid={sid} input_lengths={length}", got, want)
                # rounding of L: 2205 * 0.3 = 661.5 -> 662, 2205 * 0.5 = 1102.5 -> 1102 (half even)
                for ls in (0.3, 0.5, 1.37, 0.0001):
                    got = run(session, [10, 11], [0.667, ls, 0.8], sid=sid)
                    check(
                        got.shape[3] == 2 * voice.segment_samples(ls, sr),
                        f"{name} length_scale={ls}: T {got.shape[3]} want {2 * voice.segment_samples(ls, sr)}",
                    )
            if multi:
                ids = [14, 15, 16]
                base = run(session, ids, [0.667, 1.0, 0.8], sid=0)
                single = ort.InferenceSession(str(out / "synthetic-single.onnx"), providers=["CPUExecutionProvider"])
                check(
                    np.array_equal(base, run(single, ids, [0.667, 1.0, 0.8])), "multi sid 0 != single-speaker model"
                )
                for sid in (1, 2):
                    check(not np.array_equal(base, run(session, ids, [0.667, 1.0, 0.8], sid=sid)), f"sid {sid} == 0")
                for sid in (3, 100):
                    try:
                        run(session, ids, [0.667, 1.0, 0.8], sid=sid)
                        check(False, f"sid {sid} (out of range) ran")
                    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types
                        print(f"sid {sid} rejected as expected: {str(e).splitlines()[0][:120]}")
            for bad in (256, 1000):
                try:
                    run(session, [1, bad], [0.667, 1.0, 0.8], sid=0 if multi else None)
                    check(False, f"{name}: id {bad} (>= num_symbols) ran")
                except Exception as e:  # noqa: BLE001
                    print(f"{name}: id {bad} rejected as expected: {str(e).splitlines()[0][:120]}")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print(f"all checks passed ({worst['runs']} runs compared, max |error| {worst['error']:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
