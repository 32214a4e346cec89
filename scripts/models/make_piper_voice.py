#!/usr/bin/env python3
"""Writes a synthetic Piper voice: the exact Piper ONNX contract, no weights.

Usage:
    .venv/bin/python scripts/models/make_piper_voice.py --out DIR --config REAL.onnx.json

writes into DIR (created if missing):
    synthetic-single.onnx       single-speaker model
    synthetic-single.onnx.json  its voice config
    synthetic-multi.onnx        multi-speaker model (3 speakers)
    synthetic-multi.onnx.json   its voice config

Output bytes depend only on this file and the --config file: no timestamps,
no randomness. Needs only `onnx` and `numpy`.

Contract (that of a Piper VITS export, opset 15)
------------------------------------------------
Inputs, in this order:
    input          int64   [batch_size, phonemes]  phoneme ids; Piper always sends
                                                   batch_size 1 (only row 0 is read)
    input_lengths  int64   [batch_size]            input_lengths[0] = how many ids of row 0 count
    scales         float32 [3]                     [noise_scale, length_scale, noise_w]
    sid            int64   [1]                     speaker id; multi-speaker model only
Output:
    output         float32 [1, 1, 1, T]            mono audio at the config's sample rate
The graph declares the dims symbolically ("batch_size", "phonemes", "time"),
like a real export, so a caller cannot rely on declared shapes either.

Audio rule (`expected_audio` below is the reference implementation)
--------------------------------------------------------------------
    sr    = audio.sample_rate of the config (22050 for the shared config)
    BASE  = sr // 10                       samples per id at length_scale 1 (2205: 100 ms)
    ids   = input[0, :K]  where K = clamp(input_lengths[0], 0, phonemes)
    L     = max(1, round_half_even(float32(BASE) * float32(length_scale)))
            -> samples per id, the same for every id (2205 at 1.0, 1102 at 0.5,
               4410 at 2.0); length_scale must be finite and positive
    f(i, sid) = 200 + 25 * i + SPEAKER_OFFSET_HZ[sid]   (integer Hz)
            SPEAKER_OFFSET_HZ = [0, 100, 200]  (alice, bob, carol); single-speaker: 0
    segment k (k = 0..K-1), local sample n = 0..L-1:
        m = (f(ids[k], sid) * n) mod sr            exact int64 arithmetic
        x = 0.5 * sin(float32(m) * float32(2*pi/sr))   float32 arithmetic
    output = segments concatenated in id order, T = K * L.

So every segment starts at phase 0 with amplitude 0.5, its frequency names
its id, and the multi-speaker model with sid 0 sounds exactly like the
single-speaker one. noise_scale and noise_w are ignored. K = 0 gives T = 0
(output [1, 1, 1, 0]). Like a real voice (whose embeddings are Gather ops),
an id outside [-num_symbols, num_symbols) or a sid outside
[-num_speakers, num_speakers) makes ONNX Runtime fail the run (negative
values index from the end, as ONNX Gather does). num_symbols comes from the
config (256), so the highest frequency is 200 + 25*255 + 200 = 6775 Hz,
well under Nyquist.

Voice configs
-------------
`<model>.onnx.json` is the --config file with these keys changed (all others,
including audio.sample_rate, espeak.voice, inference.*, phoneme_type and
phoneme_id_map, are copied unchanged and in order):
    dataset         "synthetic-single" / "synthetic-multi"
    num_speakers    1 / 3
    speaker_id_map  {} / {"alice": 0, "bob": 1, "carol": 2}
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 15
IR_VERSION = 8  # the IR version that goes with opset 15
AMPLITUDE = 0.5
BASE_HZ = 200
HZ_PER_ID = 25
SPEAKERS = {"alice": 0, "bob": 1, "carol": 2}
SPEAKER_OFFSET_HZ = [0, 100, 200]
DEFAULT_NUM_SYMBOLS = 256
DEFAULT_SAMPLE_RATE = 22050
PRODUCER = "assistantd scripts/models/make_piper_voice.py"
PRODUCER_VERSION = "1"


def base_samples(sample_rate: int) -> int:
    """Samples per id at length_scale 1.0: 100 ms."""
    return sample_rate // 10


def segment_samples(length_scale: float, sample_rate: int = DEFAULT_SAMPLE_RATE) -> int:
    """L of the audio rule, computed in float32 exactly as the graph does."""
    scaled = np.float32(base_samples(sample_rate)) * np.float32(length_scale)
    return int(max(np.float32(1.0), np.round(scaled)))


def frequency_hz(phoneme_id: int, sid: int | None = None) -> int:
    """f(i, sid) of the audio rule."""
    offset = 0 if sid is None else SPEAKER_OFFSET_HZ[sid]
    return BASE_HZ + HZ_PER_ID * int(phoneme_id) + offset


def expected_audio(
    ids,
    scales,
    sid: int | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    input_length: int | None = None,
) -> np.ndarray:
    """The audio the synthetic models produce, as float32 [T].

    `ids` is row 0 of `input`; `scales` is [noise_scale, length_scale,
    noise_w]; `sid` is None for the single-speaker model; `input_length` is
    input_lengths[0] (default: all ids). Ids and sid must be in range
    (non-negative here).
    """
    ids = [int(i) for i in ids]
    count = len(ids) if input_length is None else min(max(int(input_length), 0), len(ids))
    ids = ids[:count]
    length = segment_samples(float(np.float32(scales[1])), sample_rate)
    n = np.arange(length, dtype=np.int64)
    step = np.float32(2.0 * math.pi / sample_rate)
    segments = []
    for i in ids:
        m = (np.int64(frequency_hz(i, sid)) * n) % np.int64(sample_rate)
        x = np.sin(m.astype(np.float32) * step).astype(np.float32) * np.float32(AMPLITUDE)
        segments.append(x.astype(np.float32))
    if not segments:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(segments).astype(np.float32)


def _const(name: str, array: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=name, value=numpy_helper.from_array(array, name))


def build_model(num_symbols: int, sample_rate: int, multi_speaker: bool) -> onnx.ModelProto:
    """The graph of the audio rule (see the module docstring)."""
    i64 = np.int64
    freqs = np.array([BASE_HZ + HZ_PER_ID * i for i in range(num_symbols)], dtype=i64)
    nodes = [
        _const("row0", np.array(0, dtype=i64)),
        _const("zero_1d", np.array([0], dtype=i64)),
        _const("axis0_1d", np.array([0], dtype=i64)),
        _const("axis1_1d", np.array([1], dtype=i64)),
        _const("one_idx", np.array(1, dtype=i64)),
        _const("zero_i64", np.array(0, dtype=i64)),
        _const("one_i64", np.array(1, dtype=i64)),
        _const("base_samples", np.array(base_samples(sample_rate), dtype=np.float32)),
        _const("one_f32", np.array(1.0, dtype=np.float32)),
        _const("sample_rate", np.array(sample_rate, dtype=i64)),
        _const("radians_per_step", np.array(2.0 * math.pi / sample_rate, dtype=np.float32)),
        _const("amplitude", np.array(AMPLITUDE, dtype=np.float32)),
        _const("freq_table", freqs),
        _const("out_shape", np.array([1, 1, 1, -1], dtype=i64)),
        # ids = input[0, :input_lengths[0]] (Slice clamps the end to [0, phonemes])
        helper.make_node("Gather", ["input", "row0"], ["row"], name="take_row0", axis=0),
        helper.make_node("Gather", ["input_lengths", "zero_1d"], ["length0"], name="take_length0", axis=0),
        helper.make_node("Slice", ["row", "zero_1d", "length0", "axis0_1d"], ["ids"], name="take_lengths"),
        # f = 200 + 25 * id (+ speaker offset)
        helper.make_node("Gather", ["freq_table", "ids"], ["id_hz"], name="id_frequency", axis=0),
    ]
    if multi_speaker:
        nodes += [
            _const("speaker_offset_table", np.array(SPEAKER_OFFSET_HZ, dtype=i64)),
            helper.make_node("Gather", ["speaker_offset_table", "sid"], ["speaker_hz"], name="speaker_offset", axis=0),
            helper.make_node("Add", ["id_hz", "speaker_hz"], ["hz"], name="add_speaker"),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["id_hz"], ["hz"], name="no_speaker"))
    nodes += [
        # L = max(1, round(BASE * length_scale))
        helper.make_node("Gather", ["scales", "one_idx"], ["length_scale"], name="take_length_scale", axis=0),
        helper.make_node("Mul", ["base_samples", "length_scale"], ["scaled"], name="scale_base"),
        helper.make_node("Round", ["scaled"], ["rounded"], name="round_length"),
        helper.make_node("Max", ["rounded", "one_f32"], ["length_f"], name="at_least_one"),
        helper.make_node("Cast", ["length_f"], ["length"], name="length_int", to=TensorProto.INT64),
        helper.make_node("Range", ["zero_i64", "length", "one_i64"], ["n"], name="sample_index"),
        # m = (f * n) mod sr, as a [K, L] grid
        helper.make_node("Unsqueeze", ["hz", "axis1_1d"], ["hz_col"], name="hz_column"),
        helper.make_node("Unsqueeze", ["n", "axis0_1d"], ["n_row"], name="n_row"),
        helper.make_node("Mul", ["hz_col", "n_row"], ["cycles_x_sr"], name="hz_times_n"),
        helper.make_node("Mod", ["cycles_x_sr", "sample_rate"], ["m"], name="wrap_phase", fmod=0),
        # x = 0.5 * sin(m * 2pi/sr)
        helper.make_node("Cast", ["m"], ["m_f"], name="phase_float", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["m_f", "radians_per_step"], ["radians"], name="to_radians"),
        helper.make_node("Sin", ["radians"], ["wave"], name="sine"),
        helper.make_node("Mul", ["wave", "amplitude"], ["grid"], name="scale_amplitude"),
        helper.make_node("Reshape", ["grid", "out_shape"], ["output"], name="to_piper_output"),
    ]
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, ["batch_size", "phonemes"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, ["batch_size"]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    if multi_speaker:
        inputs.append(helper.make_tensor_value_info("sid", TensorProto.INT64, [1]))
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "time"])]
    name = "synthetic-multi" if multi_speaker else "synthetic-single"
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
        ir_version=IR_VERSION,
        doc_string=(
            "Synthetic Piper voice (no weights): each phoneme id i becomes round(BASE*length_scale) samples "
            "of 0.5*sin at 200+25*i Hz (+ speaker offset); see scripts/models/make_piper_voice.py."
        ),
    )
    helper.set_model_props(
        model,
        {
            "assistantd.synthetic": "piper",
            "assistantd.base_samples": str(base_samples(sample_rate)),
            "assistantd.speaker_offset_hz": json.dumps(SPEAKER_OFFSET_HZ if multi_speaker else [0]),
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def voice_config(real: dict, multi_speaker: bool) -> dict:
    """The shared config with only the speaker fields (and dataset) changed."""
    config = copy.deepcopy(real)
    config["dataset"] = "synthetic-multi" if multi_speaker else "synthetic-single"
    config["num_speakers"] = len(SPEAKERS) if multi_speaker else 1
    config["speaker_id_map"] = dict(SPEAKERS) if multi_speaker else {}
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write the models and configs into")
    parser.add_argument("--config", required=True, type=Path, help="a real Piper voice config (.onnx.json)")
    args = parser.parse_args(argv)

    real = json.loads(args.config.read_text(encoding="utf-8"))
    sample_rate = int(real.get("audio", {}).get("sample_rate", 0))
    if sample_rate <= 0:
        parser.error(f"{args.config}: no audio.sample_rate")
    id_map = real.get("phoneme_id_map")
    if not isinstance(id_map, dict) or not id_map:
        parser.error(f"{args.config}: no phoneme_id_map")
    num_symbols = int(real.get("num_symbols", DEFAULT_NUM_SYMBOLS))
    highest = max(i for ids in id_map.values() for i in ids)
    if highest >= num_symbols:
        parser.error(f"{args.config}: phoneme id {highest} >= num_symbols {num_symbols}")
    top_hz = frequency_hz(num_symbols - 1) + max(SPEAKER_OFFSET_HZ)
    if 2 * top_hz >= sample_rate:
        parser.error(f"{args.config}: {top_hz} Hz for id {num_symbols - 1} is above Nyquist at {sample_rate} Hz")

    args.out.mkdir(parents=True, exist_ok=True)
    for multi in (False, True):
        name = "synthetic-multi" if multi else "synthetic-single"
        model = build_model(num_symbols, sample_rate, multi)
        (args.out / f"{name}.onnx").write_bytes(model.SerializeToString(deterministic=True))
        text = json.dumps(voice_config(real, multi), indent=2, ensure_ascii=False) + "\n"
        (args.out / f"{name}.onnx.json").write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}.onnx (+ .onnx.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
