#!/usr/bin/env python3
"""Write a synthetic streaming LSTM transducer that sherpa-onnx loads for real.

    python scripts/models/make_transducer.py --out /tmp/tone-transducer \
        [--vocab tones|questions]

writes encoder.onnx, decoder.onnx, joiner.onnx and tokens.txt (a few KB in
all).  ``--vocab questions`` writes the "questions" transducer: the same three
ONNX files, byte for byte (the graphs see only tones, never words), and the
tokens.txt of tones.QUESTION_VOCAB (what, time, is, it, the, weather, like,
today, tell, me, a, joke on the 12 tones), so it reads the tone of "one" as
"what".  The output is byte-for-byte reproducible: no randomness, no
timestamps, fixed opset/IR version.  Requires only ``onnx`` and ``numpy``.

What sherpa-onnx sees (the icefall LSTM-transducer export contract, checked
against sherpa-onnx/csrc/online-lstm-transducer-model.{h,cc},
online-transducer-model.cc, online-transducer-greedy-search-decoder.cc and
online-recognizer-transducer-impl.h):

encoder.onnx  metadata model_type=lstm, num_encoder_layers=1, T=16,
              decode_chunk_len=16, rnn_hidden_size=12, d_model=12
    inputs  (by position) x [N,16,80] f32 fbank frames,
                          h [1,N,12] f32, c [1,N,12] f32
    outputs (by position) encoder_out [N,4,13] f32, next_h [1,N,12],
                          next_c [1,N,12]
    sherpa feeds T=16 frames per call and advances by decode_chunk_len=16
    (chunk = 160 ms); 4 feature frames make one encoder frame, the
    subsampling factor 4 that sherpa hard-codes for timestamps/endpoints.
decoder.onnx  metadata vocab_size=13, context_size=2
    input y [N,2] int64 (last two tokens, blank-padded), output
    decoder_out [N,13] f32
joiner.onnx   inputs encoder_out [N,13], decoder_out [N,13];
              output logit [N,13]

The tone vocabulary (tones.py): token k (1..12) is a sine at the centre of
mel filter 10+4(k-1), ~304 Hz .. ~3087 Hz; id 0 is blank.

How the graph decides, per encoder frame u (4 fbank frames):
  evidence  e_k = logmel[bin_k] - mean(logmel[bin_k +- 3..6]), per fbank
            frame (a local spectral peak: loudness cancels, digital silence
            and white noise give ~0, a tone at its frequency ~9.8)
  ev_k(u)   = min of e_k over the frame's 4 fbank frames
  active_k  = ev_k is the largest of all tokens and ev_k > THRESHOLD (3.0)
  emit_k(u) = active_k(u-1) and not active_k(u)
The token is emitted in the first encoder frame after its tone has ended.
active(u-1) for the first frame of a chunk comes from h (next_h carries the
last frame's one-hot activity; c is passed through unchanged), so the result
does not depend on where chunk boundaries fall.
  encoder_out[u] = [BLANK_SCORE, EMIT_SCORE * emit_1 .. emit_12]
  decoder_out    = -REPEAT_PENALTY * onehot(previous token)  (0 for blank)
  logit          = encoder_out + decoder_out
with BLANK_SCORE=10, EMIT_SCORE=20, REPEAT_PENALTY=5.  Greedy search
therefore outputs blank except in a frame where a tone has just ended
(20 - 5 > 10), i.e. exactly one token per tone; the margins of 5+ nats keep
blank's softmax probability near 1 elsewhere, so modified_beam_search
agrees with greedy search.

Repeat suppression lives in the encoder (one emission per tone, via the
state) rather than in a large decoder penalty: sherpa-onnx keeps the last
context_size tokens as decoder context across endpoint resets, so a decoder
veto would swallow a word that repeats the previous utterance's last word
(and "one one" could never be said).  The decoder's small penalty never
changes a decision; it only makes the decoder output depend on its input.

Consequences a test author must know: a word appears in the transcript only
after its tone ends (partial results lag one word); trailing silence, as
sherpa counts it for the endpoint rules, starts at the end of the last tone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tones  # noqa: E402

OPSET = 17
IR_VERSION = 8
PRODUCER = "assistantd/scripts/models/make_transducer.py"
PRODUCER_VERSION = "1"

FEATURE_DIM = tones.NUM_MEL_BINS
SUBSAMPLING = 4            # fbank frames per encoder frame (sherpa assumes 4)
DECODE_CHUNK_LEN = 16      # fbank frames consumed per encoder call (160 ms)
T = DECODE_CHUNK_LEN       # frames fed per call; no look-ahead needed
NUM_TOKENS = len(tones.VOCAB)
VOCAB_SIZE = NUM_TOKENS + 1
CONTEXT_SIZE = 2
NUM_LAYERS = 1
D_MODEL = NUM_TOKENS       # h holds the previous frame's one-hot activity
RNN_HIDDEN = NUM_TOKENS    # c is carried unchanged

THRESHOLD = 3.0            # nats above the mean log-mel energy of the flanks
FLANK_NEAR, FLANK_FAR = 3, 6  # flank bins, in filters from the token's bin
BLANK_SCORE = 10.0
EMIT_SCORE = 20.0
REPEAT_PENALTY = 5.0

assert T % SUBSAMPLING == 0
assert EMIT_SCORE - REPEAT_PENALTY > BLANK_SCORE > 0


def const(name: str, array: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name],
                            value=numpy_helper.from_array(array, name))


def finish(graph: onnx.GraphProto, metadata: dict[str, str],
           doc: str) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    for key in sorted(metadata):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(metadata[key])
    onnx.checker.check_model(model, full_check=True)
    return model


def evidence_matrix() -> np.ndarray:
    """[80, K]: column k = the token's mel bin minus the mean of its flanks.

    The flanks are the bins 3..6 filters away on either side: far enough to
    be outside a pure tone's main lobe (which spans about +-2 filters at
    300 Hz), close enough that broadband noise looks the same in the bin and
    its flanks.  A neighbouring token's tone (4 filters away) sits *in* the
    flank, which drives this token's evidence negative.
    """
    w = np.zeros((FEATURE_DIM, NUM_TOKENS), dtype=np.float64)
    for k, tok in enumerate(tones.VOCAB):
        flank = [tok.mel_bin + d for d in (*range(-FLANK_FAR, -FLANK_NEAR + 1),
                                           *range(FLANK_NEAR, FLANK_FAR + 1))]
        assert all(0 <= b < FEATURE_DIM for b in flank)
        w[tok.mel_bin, k] += 1.0
        for b in flank:
            w[b, k] -= 1.0 / len(flank)
    return w.astype(np.float32)


def make_encoder() -> onnx.ModelProto:
    U = T // SUBSAMPLING
    f32 = np.float32
    to_vocab = np.zeros((NUM_TOKENS, VOCAB_SIZE), dtype=f32)
    to_vocab[np.arange(NUM_TOKENS), np.arange(1, VOCAB_SIZE)] = EMIT_SCORE
    blank_bias = np.zeros(VOCAB_SIZE, dtype=f32)
    blank_bias[0] = BLANK_SCORE
    nodes = [
        const("W", evidence_matrix()),
        const("frames_shape", np.array([-1, U, SUBSAMPLING, NUM_TOKENS], np.int64)),
        const("threshold", np.array(THRESHOLD, f32)),
        const("one", np.array(1.0, f32)),
        const("prev_start", np.array([0], np.int64)),
        const("prev_end", np.array([U], np.int64)),
        const("last_end", np.array([U + 1], np.int64)),
        const("time_axis", np.array([1], np.int64)),
        const("to_vocab", to_vocab),
        const("blank_bias", blank_bias),
        # per-fbank-frame evidence, grouped 4 frames per encoder frame
        helper.make_node("MatMul", ["x", "W"], ["e"]),
        helper.make_node("Reshape", ["e", "frames_shape"], ["e4"]),
        helper.make_node("ReduceMin", ["e4"], ["ev"], axes=[2], keepdims=0),
        # one-hot of the winning token, if it clears the threshold
        helper.make_node("ReduceMax", ["ev"], ["ev_max"], axes=[2], keepdims=1),
        helper.make_node("Equal", ["ev", "ev_max"], ["is_max"]),
        helper.make_node("Greater", ["ev", "threshold"], ["loud"]),
        helper.make_node("And", ["is_max", "loud"], ["active_b"]),
        helper.make_node("Cast", ["active_b"], ["active"], to=TensorProto.FLOAT),
        # previous frame's activity: h for the first frame of the chunk
        helper.make_node("Transpose", ["h"], ["h_bt"], perm=[1, 0, 2]),
        helper.make_node("Concat", ["h_bt", "active"], ["history"], axis=1),
        helper.make_node("Slice", ["history", "prev_start", "prev_end", "time_axis"],
                         ["prev"]),
        helper.make_node("Sub", ["one", "active"], ["inactive"]),
        helper.make_node("Mul", ["prev", "inactive"], ["emit"]),
        helper.make_node("MatMul", ["emit", "to_vocab"], ["emit_v"]),
        helper.make_node("Add", ["emit_v", "blank_bias"], ["encoder_out"]),
        # state: last frame's activity -> next_h; c unchanged
        helper.make_node("Slice", ["history", "prev_end", "last_end", "time_axis"],
                         ["last"]),
        helper.make_node("Transpose", ["last"], ["next_h"], perm=[1, 0, 2]),
        helper.make_node("Identity", ["c"], ["next_c"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tone_lstm_encoder",
        inputs=[
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, FEATURE_DIM]),
            helper.make_tensor_value_info("h", TensorProto.FLOAT, [NUM_LAYERS, "N", D_MODEL]),
            helper.make_tensor_value_info("c", TensorProto.FLOAT, [NUM_LAYERS, "N", RNN_HIDDEN]),
        ],
        outputs=[
            helper.make_tensor_value_info("encoder_out", TensorProto.FLOAT, ["N", U, VOCAB_SIZE]),
            helper.make_tensor_value_info("next_h", TensorProto.FLOAT, [NUM_LAYERS, "N", D_MODEL]),
            helper.make_tensor_value_info("next_c", TensorProto.FLOAT, [NUM_LAYERS, "N", RNN_HIDDEN]),
        ],
    )
    meta = {
        "model_type": "lstm",
        "num_encoder_layers": NUM_LAYERS,
        "T": T,
        "decode_chunk_len": DECODE_CHUNK_LEN,
        "rnn_hidden_size": RNN_HIDDEN,
        "d_model": D_MODEL,
        "synthetic": "tone-vocabulary test model (scripts/models/make_transducer.py)",
        "tone_threshold": THRESHOLD,
        "tone_flank": f"{FLANK_NEAR}..{FLANK_FAR}",
        "tone_bins": ",".join(str(t.mel_bin) for t in tones.VOCAB),
    }
    return finish(graph, meta, "Synthetic tone-vocabulary LSTM-transducer encoder")


def make_decoder() -> onnx.ModelProto:
    emb = np.zeros((VOCAB_SIZE, VOCAB_SIZE), dtype=np.float32)
    emb[np.arange(1, VOCAB_SIZE), np.arange(1, VOCAB_SIZE)] = -REPEAT_PENALTY
    nodes = [
        const("embedding", emb),
        const("last_start", np.array([CONTEXT_SIZE - 1], np.int64)),
        const("last_end", np.array([CONTEXT_SIZE], np.int64)),
        const("ctx_axis", np.array([1], np.int64)),
        helper.make_node("Slice", ["y", "last_start", "last_end", "ctx_axis"], ["y_last"]),
        helper.make_node("Squeeze", ["y_last", "ctx_axis"], ["prev"]),
        helper.make_node("Gather", ["embedding", "prev"], ["decoder_out"], axis=0),
    ]
    graph = helper.make_graph(
        nodes,
        "tone_decoder",
        inputs=[helper.make_tensor_value_info("y", TensorProto.INT64, ["N", CONTEXT_SIZE])],
        outputs=[helper.make_tensor_value_info("decoder_out", TensorProto.FLOAT,
                                               ["N", VOCAB_SIZE])],
    )
    meta = {"vocab_size": VOCAB_SIZE, "context_size": CONTEXT_SIZE}
    return finish(graph, meta, "Synthetic tone-vocabulary transducer decoder")


def make_joiner() -> onnx.ModelProto:
    nodes = [helper.make_node("Add", ["encoder_out", "decoder_out"], ["logit"])]
    graph = helper.make_graph(
        nodes,
        "tone_joiner",
        inputs=[
            helper.make_tensor_value_info("encoder_out", TensorProto.FLOAT, ["N", VOCAB_SIZE]),
            helper.make_tensor_value_info("decoder_out", TensorProto.FLOAT, ["N", VOCAB_SIZE]),
        ],
        outputs=[helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N", VOCAB_SIZE])],
    )
    meta = {"joiner_dim": VOCAB_SIZE}
    return finish(graph, meta, "Synthetic tone-vocabulary transducer joiner")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--vocab", default="tones", choices=sorted(tones.VOCABULARIES),
                    help="the words of tokens.txt (the ONNX files are the same for all)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, model in (("encoder.onnx", make_encoder()),
                        ("decoder.onnx", make_decoder()),
                        ("joiner.onnx", make_joiner())):
        (args.out / name).write_bytes(model.SerializeToString(deterministic=True))
    (args.out / "tokens.txt").write_text(tones.tokens_txt(tones.VOCABULARIES[args.vocab]), encoding="utf-8", newline="\n")
    for name in ("encoder.onnx", "decoder.onnx", "joiner.onnx", "tokens.txt"):
        print(f"{args.out / name}  {(args.out / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
