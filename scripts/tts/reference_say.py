#!/usr/bin/env python3
"""The reference for `assistantd say -o`: the same text spoken by PyPI
``piper-tts`` 1.2.0 (``PiperVoice.synthesize_ids_to_raw``) into a WAV file laid
out as ours is (int16 mono at the voice's rate, each sentence peak-normalised
by piper's ``audio_float_to_int16`` and followed by its silence).

    .venv/bin/python scripts/tts/reference_say.py --model VOICE.onnx [--config VOICE.onnx.json] \\
        [--noise-scale X] [--length-scale X] [--noise-w X] [--sentence-silence 0.2] \\
        --out ref.wav "Text to speak."

Phoneme ids: piper-tts 1.2.0's own ``PiperVoice.phonemes_to_ids`` puts no pad
after the BOS id (``^ p1 _ p2 _ ... $``), while ``piper-phonemize`` 1.1.0 (whose
C++ rule Piper's training and its binary use, and which our ids follow
exactly: scripts/tts/check_parity) does (``^ _ p1 _ ... $``). This script
therefore takes the sentences' phonemes from piper-tts (``PiperVoice.phonemize``,
which is ``piper_phonemize.phonemize_espeak``) and their ids from
``piper_phonemize.phoneme_ids_espeak``, and runs piper-tts's inference on those
ids: the same model inputs on both sides.

Prints one JSON line: the sample count of each sentence (silence included),
the scales used, and the onnxruntime version. The session is made the way
``PiperVoice.load`` makes it (default options, CPU), with one intra-op thread
as ``assistantd say`` uses by default (``--threads``).
"""

from __future__ import annotations

import argparse
import json
import sys
import wave
from pathlib import Path

sys.dont_write_bytecode = True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--config", type=Path, help="default: MODEL.json")
    ap.add_argument("--noise-scale", type=float)
    ap.add_argument("--length-scale", type=float)
    ap.add_argument("--noise-w", type=float)
    ap.add_argument("--sentence-silence", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("text")
    args = ap.parse_args()

    import onnxruntime
    from piper.config import PiperConfig
    from piper.voice import PiperVoice
    from piper_phonemize import phoneme_ids_espeak

    config_path = args.config or Path(f"{args.model}.json")
    config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    voice = PiperVoice(
        config=config,
        session=onnxruntime.InferenceSession(str(args.model), sess_options=options,
                                             providers=["CPUExecutionProvider"]),
    )
    scales = {
        "noise_scale": config.noise_scale if args.noise_scale is None else args.noise_scale,
        "length_scale": config.length_scale if args.length_scale is None else args.length_scale,
        "noise_w": config.noise_w if args.noise_w is None else args.noise_w,
    }
    silence = bytes(int(args.sentence_silence * config.sample_rate) * 2)
    sentences = []
    with wave.open(str(args.out), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(config.sample_rate)
        for phonemes in voice.phonemize(args.text):
            audio = voice.synthesize_ids_to_raw(phoneme_ids_espeak(phonemes), **scales) + silence
            out.writeframes(audio)
            sentences.append(len(audio) // 2)
    print(json.dumps({"sentence_samples": sentences, "scales": scales,
                      "onnxruntime": onnxruntime.__version__, "sample_rate": config.sample_rate}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
