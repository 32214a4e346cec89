#!/usr/bin/env python3
"""Writes the TTS benchmark's voice: Piper's ONNX contract, and the compute of
a real medium Piper voice (VITS), with seeded random weights.

Usage:
    .venv/bin/python scripts/bench/make_bench_voice.py --out DIR --config REAL.onnx.json

writes into DIR (created if missing):
    bench-medium.onnx       the model (about 57 MB of float32 weights)
    bench-medium.onnx.json  its voice config

Never commit these files. Output bytes depend only on this file, the --config
file and the numpy/onnx versions: fixed seed, no timestamps. Needs only
`onnx` and `numpy`.

Why not scripts/models/make_piper_voice.py: its synthetic voice is a sine
generator that costs almost nothing to run, so a speed ratio on it would
measure only the overhead around the model. This voice makes ONNX Runtime do
about the work a real medium Piper voice makes it do, so the ratio measures
what a user would see. It says nothing intelligible: the weights are random.

Contract (that of a Piper VITS export, opset 15)
------------------------------------------------
Inputs:
    input          int64   [batch_size, phonemes]  phoneme ids (row 0 is read)
    input_lengths  int64   [batch_size]            how many ids of row 0 count
    scales         float32 [3]                     [noise_scale, length_scale, noise_w]
Output:
    output         float32 [1, 1, 1, time]         mono audio at 22050 Hz, in [-1, 1]
Single speaker (no sid input). Dims are symbolic, as in a real export.

Graph (a medium Piper voice is VITS with hidden 192, upsample_initial_channel
256, upsample rates 8,8,4, kernels 16,16,8, resblock "2" with kernel sizes
3,5,7 and dilations (1,2),(2,6),(3,12); this mirrors each stage):
    text encoder  (phoneme rate)  embedding 256x192 (* sqrt 192), then 6 feed-
                  forward blocks (Conv1d 192->768 k3, ReLU, Conv1d 768->192 k3,
                  residual) and a 1x1 projection; VITS's encoder also has self-
                  attention in each layer, left out (at phoneme rate it is a
                  small share of the cost).
    durations     frames per id = max(1, round(length_scale * D[id])), with D a
                  fixed integer table (below) in place of VITS's stochastic
                  duration predictor, so that both implementations get exactly
                  the same number of samples from the same ids.
    length        VITS's generate_path: a [frames, ids] 0/1 path from the
    regulation    cumulative durations, MatMul with the encoder output.
    flow          (frame rate) 4 residual coupling layers as in VITS (mean-only):
                  split 96/96, 1x1 96->192, WaveNet of 4 layers (Conv1d
                  192->384 k5, tanh*sigmoid, 1x1 192->384 skip/residual), 1x1
                  192->96, subtract, swap halves.
    decoder       HiFi-GAN as in Piper medium: Conv1d 192->256 k7; three times
                  LeakyReLU(0.1), ConvTranspose1d (256->128 x8 k16, 128->64 x8
                  k16, 64->32 x4 k8), then the mean of three resblock-2 stacks
                  (k3 d1,2; k5 d2,6; k7 d3,12); LeakyReLU(0.01), Conv1d 32->1 k7
                  (no bias), tanh.
So T = 256 * sum(frames): 256 samples (11.6 ms) per frame. noise_scale and
noise_w are accepted and ignored (no random sampling, so a run is
deterministic).

Duration table D (frames of 11.6 ms at length_scale 1), by the symbol the
config maps to the id:
    "_" (pad, after every phoneme), "^", "$", " ", and the marks ˈ ˌ ː   1
    "," ":" ";"                                                          10
    "." "?" "!"                                                          12
    every other symbol                                                   3..6 (seeded)
    ids not in the config                                                4
which gives about 12-13 phonemes (3 words) per second, close to a real
English voice at length_scale 1.

Voice config
------------
`bench-medium.onnx.json` is the --config file with `dataset` set to
"bench-medium", `num_speakers` 1 and `speaker_id_map` {}; every other key
(sample_rate, espeak.voice, inference, phoneme_id_map, ...) is copied
unchanged, so both implementations phonemize and map ids identically.
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
SEED = 20261126
NAME = "bench-medium"
PRODUCER = "assistantd scripts/bench/make_bench_voice.py"
PRODUCER_VERSION = "1"

HIDDEN = 192
FILTER = 768
ENCODER_LAYERS = 6
FLOWS = 4
WN_LAYERS = 4
WN_KERNEL = 5
UPSAMPLE_INITIAL = 256
UPSAMPLE_RATES = (8, 8, 4)
UPSAMPLE_KERNELS = (16, 16, 8)
RESBLOCK_KERNELS = (3, 5, 7)
RESBLOCK_DILATIONS = ((1, 2), (2, 6), (3, 12))
LRELU_SLOPE = 0.1
HOP = math.prod(UPSAMPLE_RATES)  # 256 samples per frame

SHORT_SYMBOLS = {"_": 1, "^": 1, "$": 1, "ˈ": 1, "ˌ": 1, "ː": 1, " ": 1}
PAUSE_SYMBOLS = {",": 10, ":": 10, ";": 10, ".": 12, "?": 12, "!": 12}
DEFAULT_FRAMES = 4
PHONE_FRAMES = (3, 6)  # inclusive range for every other symbol


def duration_table(id_map: dict, num_symbols: int, rng: np.random.Generator) -> np.ndarray:
    """D of the module docstring, as float32 [num_symbols] of whole numbers."""
    table = np.full(num_symbols, DEFAULT_FRAMES, dtype=np.float32)
    for symbol in sorted(id_map):  # sorted: the draws do not depend on key order
        frames = SHORT_SYMBOLS.get(symbol, PAUSE_SYMBOLS.get(symbol))
        if frames is None:
            frames = int(rng.integers(PHONE_FRAMES[0], PHONE_FRAMES[1] + 1))
        for i in id_map[symbol]:
            table[int(i)] = frames
    return table


class Graph:
    """Nodes and initializers with generated names."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, array: np.ndarray) -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], prefix: str | None = None, outputs: int = 1, **attrs):
        names = [self.name(prefix or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=names[0], **attrs))
        return names if outputs > 1 else names[0]

    def weight(self, shape: tuple[int, ...], fan_in: int, gain: float = 1.0) -> np.ndarray:
        std = gain / math.sqrt(fan_in)
        return (self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    def conv(self, x: str, cin: int, cout: int, k: int, dilation: int = 1, bias: bool = True, gain: float = 1.0):
        """Conv1d with 'same' padding, on [1, cin, L]."""
        w = self.const("conv_w", self.weight((cout, cin, k), cin * k, gain))
        inputs = [x, w]
        if bias:
            inputs.append(self.const("conv_b", (self.rng.standard_normal(cout, dtype=np.float32) * 0.01)))
        pad = dilation * (k - 1) // 2
        return self.op("Conv", inputs, "conv", kernel_shape=[k], pads=[pad, pad], dilations=[dilation], strides=[1])

    def conv_transpose(self, x: str, cin: int, cout: int, k: int, stride: int):
        """ConvTranspose1d that multiplies the length by `stride` exactly."""
        w = self.const("up_w", self.weight((cin, cout, k), cin * k // stride))
        b = self.const("up_b", self.rng.standard_normal(cout, dtype=np.float32) * 0.01)
        pad = (k - stride) // 2
        return self.op("ConvTranspose", [x, w, b], "up", kernel_shape=[k], strides=[stride], pads=[pad, pad])

    def lrelu(self, x: str, slope: float = LRELU_SLOPE) -> str:
        return self.op("LeakyRelu", [x], "lrelu", alpha=slope)


def build_model(id_map: dict, num_symbols: int) -> onnx.ModelProto:
    """The graph of the module docstring."""
    rng = np.random.default_rng(SEED)
    g = Graph(rng)
    i64 = np.int64
    zero_1d = g.const("zero_1d", np.array([0], dtype=i64))
    one_1d = g.const("one_1d", np.array([1], dtype=i64))

    # ids = input[0, :input_lengths[0]]
    row = g.op("Gather", ["input", g.const("row0", np.array(0, dtype=i64))], "row", axis=0)
    length0 = g.op("Gather", ["input_lengths", zero_1d], "length0", axis=0)
    ids = g.op("Slice", [row, zero_1d, length0, zero_1d], "ids")

    # Text encoder at phoneme rate: [1, HIDDEN, K].
    table = g.weight((num_symbols, HIDDEN), 1) * np.float32(1.0 / math.sqrt(HIDDEN))
    emb = g.op("Gather", [g.const("emb", table), ids], "emb", axis=0)  # [K, H]
    emb = g.op("Mul", [emb, g.const("sqrt_h", np.array(math.sqrt(HIDDEN), dtype=np.float32))], "emb_scaled")
    h = g.op("Unsqueeze", [g.op("Transpose", [emb], "emb_t", perm=[1, 0]), zero_1d], "enc_in")  # [1, H, K]
    for _ in range(ENCODER_LAYERS):
        y = g.op("Relu", [g.conv(h, HIDDEN, FILTER, 3)])
        y = g.conv(y, FILTER, HIDDEN, 3, gain=0.5)
        h = g.op("Add", [h, y], "enc_res")
    m_p = g.conv(h, HIDDEN, HIDDEN, 1)  # [1, H, K]

    # Durations: frames[k] = max(1, round(length_scale * D[ids[k]])).
    durations = g.const("durations", duration_table(id_map, num_symbols, rng))
    length_scale = g.op("Gather", ["scales", g.const("one", np.array(1, dtype=i64))], "length_scale", axis=0)
    d = g.op("Gather", [durations, ids], "d_table", axis=0)
    d = g.op("Round", [g.op("Mul", [d, length_scale], "d_scaled")], "d_round")
    d = g.op("Max", [d, g.const("one_f", np.array(1.0, dtype=np.float32))], "d_frames")  # float [K]
    d_i = g.op("Cast", [d], "d_int", to=TensorProto.INT64)
    ends = g.op("CumSum", [d_i, g.const("axis0", np.array(0, dtype=i64))], "ends")  # [K]
    starts = g.op("Sub", [ends, d_i], "starts")
    total = g.op("ReduceSum", [d_i], "total", keepdims=0)
    t = g.op("Range", [g.const("zero", np.array(0, dtype=i64)), total, g.const("one_i", np.array(1, dtype=i64))],
             "t")  # [T_f]
    t_col = g.op("Unsqueeze", [t, one_1d], "t_col")  # [T_f, 1]
    # path[t, k] = starts[k] <= t < ends[k]
    before_end = g.op("Cast", [g.op("Less", [t_col, ends], "lt_end")], "lt_end_f", to=TensorProto.FLOAT)
    before_start = g.op("Cast", [g.op("Less", [t_col, starts], "lt_start")], "lt_start_f", to=TensorProto.FLOAT)
    path = g.op("Sub", [before_end, before_start], "path")  # [T_f, K]
    m_k = g.op("Transpose", [g.op("Squeeze", [m_p, zero_1d], "m_sq")], "m_kt", perm=[1, 0])  # [K, H]
    z = g.op("MatMul", [path, m_k], "expand")  # [T_f, H]
    z = g.op("Unsqueeze", [g.op("Transpose", [z], "z_t", perm=[1, 0]), zero_1d], "z")  # [1, H, T_f]

    # Flow (reverse, mean-only coupling layers), at frame rate.
    half = HIDDEN // 2
    for _ in range(FLOWS):
        x0, x1 = g.op("Split", [z, g.const("halves", np.array([half, half], dtype=i64))], "split", outputs=2,
                      axis=1)
        hh = g.conv(x0, half, HIDDEN, 1)
        skip = None
        for layer in range(WN_LAYERS):
            x_in = g.conv(hh, HIDDEN, 2 * HIDDEN, WN_KERNEL)
            a, b = g.op("Split", [x_in, g.const("gate", np.array([HIDDEN, HIDDEN], dtype=i64))], "gate", outputs=2,
                        axis=1)
            acts = g.op("Mul", [g.op("Tanh", [a]), g.op("Sigmoid", [b])], "acts")
            if layer < WN_LAYERS - 1:
                rs = g.conv(acts, HIDDEN, 2 * HIDDEN, 1, gain=0.5)
                res, sk = g.op("Split", [rs, g.const("rs", np.array([HIDDEN, HIDDEN], dtype=i64))], "rs",
                               outputs=2, axis=1)
                hh = g.op("Add", [hh, res], "wn_res")
            else:
                sk = g.conv(acts, HIDDEN, HIDDEN, 1, gain=0.5)
            skip = sk if skip is None else g.op("Add", [skip, sk], "skip")
        m = g.conv(skip, HIDDEN, half, 1, gain=0.1)
        x1 = g.op("Sub", [x1, m], "couple")
        z = g.op("Concat", [x1, x0], "flip", axis=1)

    # HiFi-GAN decoder (Piper medium).
    x = g.conv(z, HIDDEN, UPSAMPLE_INITIAL, 7)
    channels = UPSAMPLE_INITIAL
    for rate, kernel in zip(UPSAMPLE_RATES, UPSAMPLE_KERNELS):
        x = g.conv_transpose(g.lrelu(x), channels, channels // 2, kernel, rate)
        channels //= 2
        total_blocks = None
        for k, dilations in zip(RESBLOCK_KERNELS, RESBLOCK_DILATIONS):
            xb = x
            for dil in dilations:
                xb = g.op("Add", [xb, g.conv(g.lrelu(xb), channels, channels, k, dilation=dil, gain=0.5)], "rb")
            total_blocks = xb if total_blocks is None else g.op("Add", [total_blocks, xb], "rb_sum")
        x = g.op("Mul", [total_blocks, g.const("third", np.array(1.0 / len(RESBLOCK_KERNELS), dtype=np.float32))],
                 "rb_mean")
    x = g.conv(g.lrelu(x, 0.01), channels, 1, 7, bias=False)
    audio = g.op("Tanh", [x], "audio")  # [1, 1, T]
    g.nodes.append(helper.make_node("Unsqueeze", [audio, zero_1d], ["output"], name="to_piper_output"))

    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, ["batch_size", "phonemes"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, ["batch_size"]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "time"])]
    graph = helper.make_graph(g.nodes, NAME, inputs, outputs, initializer=g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
        ir_version=IR_VERSION,
        doc_string=(
            "Benchmark voice: Piper's contract and a medium VITS voice's compute (encoder, table durations, "
            "flow, HiFi-GAN 256/8,8,4), random weights; see scripts/bench/make_bench_voice.py."
        ),
    )
    helper.set_model_props(model, {"assistantd.synthetic": "piper-bench", "assistantd.hop": str(HOP)})
    onnx.checker.check_model(model)
    return model


def voice_config(real: dict) -> dict:
    config = copy.deepcopy(real)
    config["dataset"] = NAME
    config["num_speakers"] = 1
    config["speaker_id_map"] = {}
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write the model and config into")
    parser.add_argument("--config", required=True, type=Path, help="a real Piper voice config (.onnx.json)")
    args = parser.parse_args(argv)

    real = json.loads(args.config.read_text(encoding="utf-8"))
    if int(real.get("audio", {}).get("sample_rate", 0)) != 22050:
        parser.error(f"{args.config}: audio.sample_rate must be 22050 (a medium voice's rate)")
    id_map = real.get("phoneme_id_map")
    if not isinstance(id_map, dict) or not id_map:
        parser.error(f"{args.config}: no phoneme_id_map")
    num_symbols = int(real.get("num_symbols", 256))
    highest = max(i for ids in id_map.values() for i in ids)
    if highest >= num_symbols:
        parser.error(f"{args.config}: phoneme id {highest} >= num_symbols {num_symbols}")

    args.out.mkdir(parents=True, exist_ok=True)
    model = build_model(id_map, num_symbols)
    (args.out / f"{NAME}.onnx").write_bytes(model.SerializeToString(deterministic=True))
    text = json.dumps(voice_config(real), indent=2, ensure_ascii=False) + "\n"
    (args.out / f"{NAME}.onnx.json").write_text(text, encoding="utf-8")
    print(f"wrote {args.out / NAME}.onnx (+ .onnx.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
