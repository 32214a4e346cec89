#!/usr/bin/env python3
"""The TTS benchmark's reference: the same measurement with PyPI ``piper-tts``
1.2.0 (``piper.voice.PiperVoice``, on piper-phonemize 1.1.0 and the venv's
``onnxruntime``).

    .venv/bin/python scripts/bench/tts_reference.py --model DIR/bench-medium.onnx \\
        [--config PATH] [--texts scripts/bench/tts_texts.json] [--threads 1] \\
        [--repeat 5] [--json]

Per text, it consumes ``PiperVoice.synthesize_stream_raw(text,
sentence_silence=0.2)``: that phonemizes the whole text, then yields each
sentence's int16 audio (peak-normalised, silence appended) as it is made.
Measured exactly as the Rust bench (crates/assistantd/benches/tts.rs):

* wall time (``time.perf_counter``) and process CPU time
  (``time.process_time``, i.e. CLOCK_PROCESS_CPUTIME_ID) from the call to the
  last sentence: the whole reply.  ``PiperVoice.synthesize`` (to a WAV) is
  this same loop writing each chunk into the file;
* time to first audio: from the call to the first yielded sentence (piper
  streams by sentence too, through this generator);
* ``phonemize_s``: ``PiperVoice.phonemize`` alone;
* ``model_s``: the model runs alone, ``session.run`` per sentence with the
  feed ``synthesize_ids_to_raw`` builds (made beforehand), summed.

One unmeasured warm-up pass over every text, then ``--repeat`` rounds;
medians over the rounds.

Threads: ``PiperVoice.load`` makes its ``InferenceSession`` with default
``SessionOptions`` (intra-op threads = every core) and has no parameter for
it.  To run with the same intra-op thread count as ours, this script builds
the voice the way ``load`` does (``PiperConfig.from_dict`` of the JSON, an
``InferenceSession`` on ``CPUExecutionProvider``), with
``SessionOptions.intra_op_num_threads = --threads``; nothing else about the
session differs.

Phoneme ids: piper-tts 1.2.0's ``PiperVoice.phonemes_to_ids`` builds
``^ p1 _ p2 _ ... pn _ $``, while piper-phonemize's ``phonemes_to_ids`` (the
C++ rule the voices were trained with, which the Piper binary and
``piper_phonemize.phoneme_ids_espeak`` follow, and so do we) also puts a pad
after BOS: ``^ _ p1 _ ... $``.  One id more per sentence means more frames and
samples, so the two sides would not produce the same audio.  By default this
script therefore overrides ``phonemes_to_ids`` to insert that pad (a list
operation per sentence; its cost is nil); ``--stock-ids`` keeps piper-tts's
own rule.  Everything else after loading is piper-tts's own code
(``synthesize_stream_raw``, ``synthesize_ids_to_raw``, ``audio_float_to_int16``).

Prints a table, or with --json one JSON object with the Rust bench's schema.
Exits 0, 1 if the audio differs between rounds, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

SENTENCE_SILENCE_S = 0.2
DEFAULT_TEXTS = Path(__file__).resolve().parent / "tts_texts.json"


def load_voice(model: Path, config: Path, threads: int, stock_ids: bool):
    """PiperVoice.load(model, config_path=config), with intra-op threads set
    and (unless stock_ids) the pad after BOS."""
    import onnxruntime
    from piper.config import PiperConfig
    from piper.const import BOS, PAD
    from piper.voice import PiperVoice

    class TrainedIdsVoice(PiperVoice):
        """PiperVoice with piper-phonemize's id rule: ^ _ p1 _ p2 _ ... $."""

        def phonemes_to_ids(self, phonemes):
            ids = super().phonemes_to_ids(phonemes)
            bos = len(self.config.phoneme_id_map[BOS])
            return ids[:bos] + list(self.config.phoneme_id_map[PAD]) + ids[bos:]

    with open(config, "r", encoding="utf-8") as f:
        config_dict = json.load(f)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return (PiperVoice if stock_ids else TrainedIdsVoice)(
        config=PiperConfig.from_dict(config_dict),
        session=onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        ),
    )


class Pass:
    __slots__ = ("wall", "cpu", "first_audio", "sentence_samples", "crc32")

    def __init__(self, wall, cpu, first_audio, sentence_samples, crc32):
        self.wall, self.cpu, self.first_audio = wall, cpu, first_audio
        self.sentence_samples, self.crc32 = sentence_samples, crc32


def speak(voice, text: str) -> Pass:
    chunks: list[bytes] = []
    first_audio = None
    cpu_start = time.process_time()
    start = time.perf_counter()
    for chunk in voice.synthesize_stream_raw(text, sentence_silence=SENTENCE_SILENCE_S):
        if first_audio is None:
            first_audio = time.perf_counter() - start
        chunks.append(chunk)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return Pass(wall, cpu, first_audio, [len(c) // 2 for c in chunks], zlib.crc32(b"".join(chunks)))


def phonemize_time(voice, text: str) -> float:
    start = time.perf_counter()
    voice.phonemize(text)
    return time.perf_counter() - start


def model_time(voice, text: str) -> float:
    """The model runs alone for text's sentences: ids and feeds made first,
    then each ``session.run`` with the feed piper-tts builds, timed and summed."""
    import numpy as np

    feeds = []
    for phonemes in voice.phonemize(text):
        ids = np.expand_dims(np.array(voice.phonemes_to_ids(phonemes), dtype=np.int64), 0)
        c = voice.config
        feeds.append({
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": np.array([c.noise_scale, c.length_scale, c.noise_w], dtype=np.float32),
            "sid": None,
        })
    total = 0.0
    for feed in feeds:
        start = time.perf_counter()
        voice.session.run(None, feed)
        total += time.perf_counter() - start
    return total


def median(values):
    v = sorted(x for x in values if x is not None and not math.isnan(x))
    if not v:
        return math.nan
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def positive(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value}: expected a positive integer")
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", required=True, type=Path, help="a Piper voice (.onnx)")
    parser.add_argument("--config", type=Path, help="its config (default: the model path + .json)")
    parser.add_argument("--texts", type=Path, default=DEFAULT_TEXTS, help="the texts file")
    parser.add_argument("--threads", type=positive, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--repeat", type=positive, default=5, help="measured passes (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--stock-ids", action="store_true",
                        help="keep piper-tts 1.2.0's own phoneme ids (no pad after BOS; see above)")
    args = parser.parse_args(argv)
    config_path = args.config or Path(f"{args.model}.json")

    try:
        spec = json.loads(args.texts.read_text(encoding="utf-8"))
        texts = [(t["name"], t["text"]) for t in spec["texts"]]
        reply = spec["reply"]
        if reply not in [name for name, _ in texts]:
            raise ValueError(f"the reply {reply!r} is not one of the texts")
        import onnxruntime  # noqa: F401  (imported before the clock starts: a module
        import piper.voice  # noqa: F401   import is not part of loading a voice)
        load_start = time.perf_counter()
        voice = load_voice(args.model, config_path, args.threads, args.stock_ids)
        load_s = time.perf_counter() - load_start
    except (OSError, ValueError, KeyError) as e:
        print(f"tts_reference: {e}", file=sys.stderr)
        return 2
    from importlib.metadata import version

    import onnxruntime
    from onnxruntime.capi import onnxruntime_pybind11_state

    for _, text in texts:
        speak(voice, text)
    # As the Rust bench: phonemizer and model-only timings right after each
    # text's pass, in the same rounds.
    passes = [[] for _ in texts]
    phonemize_s = [[] for _ in texts]
    model_s = [[] for _ in texts]
    for _ in range(args.repeat):
        for (_, text), out, ph, m in zip(texts, passes, phonemize_s, model_s):
            out.append(speak(voice, text))
            ph.append(phonemize_time(voice, text))
            m.append(model_time(voice, text))

    rate = voice.config.sample_rate
    rows, unstable = [], []
    for (name, text), p, ph, m in zip(texts, passes, phonemize_s, model_s):
        first = p[0]
        stable = all(x.sentence_samples == first.sentence_samples and x.crc32 == first.crc32 for x in p)
        if not stable:
            unstable.append(name)
        samples = sum(first.sentence_samples)
        audio_s = samples / rate
        wall = median([x.wall for x in p])
        rows.append({
            "name": name,
            "text": text,
            "sentences": len(first.sentence_samples),
            "sentence_samples": first.sentence_samples,
            "phonemes": ["".join(s) for s in voice.phonemize(text)],
            "samples": samples,
            "audio_s": audio_s,
            "crc32": first.crc32,
            "wall_s": wall,
            "cpu_s": median([x.cpu for x in p]),
            "first_audio_s": median([x.first_audio for x in p]),
            "phonemize_s": median(ph),
            "model_s": median(m),
            "rtf": wall / audio_s,
            "stable": stable,
        })
    overall_wall = median([sum(p[k].wall for p in passes) for k in range(args.repeat)])
    overall_cpu = median([sum(p[k].cpu for p in passes) for k in range(args.repeat)])
    overall_audio = sum(r["audio_s"] for r in rows)
    inference = voice.config
    out = {
        "implementation": f"piper-tts {version('piper-tts')} PiperVoice (Python, onnxruntime)",
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_library": onnxruntime_pybind11_state.__file__,
        "onnxruntime_build": onnxruntime.get_build_info(),
        "piper_phonemize": version("piper-phonemize"),
        "ids": "piper-tts 1.2.0 (no pad after BOS)" if args.stock_ids else "piper-phonemize (pad after BOS)",
        "repeat": args.repeat,
        "threads": args.threads,
        "voice": {"model": str(args.model), "config": str(config_path), "sample_rate": rate, "load_s": load_s},
        "settings": {
            "noise_scale": inference.noise_scale,
            "length_scale": inference.length_scale,
            "noise_w": inference.noise_w,
            "sentence_silence_s": SENTENCE_SILENCE_S,
        },
        "reply": reply,
        "texts": rows,
        "overall": {"audio_s": overall_audio, "wall_s": overall_wall, "cpu_s": overall_cpu,
                    "rtf": overall_wall / overall_audio},
        "unstable": unstable,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"{out['implementation']}, onnxruntime {out['onnxruntime']}, {args.threads} intra-op thread(s); "
              f"{args.model}; median of {args.repeat} passes after a warm-up\n")
        print(f"{'text':10} {'sent':>4} {'audio_s':>8} {'wall_ms':>9} {'cpu_ms':>9} {'first_ms':>9} "
              f"{'phon_ms':>8} {'model_ms':>9} {'RTF':>7}")
        for r in rows:
            print(f"{r['name']:10} {r['sentences']:>4} {r['audio_s']:>8.2f} {r['wall_s'] * 1e3:>9.1f} "
                  f"{r['cpu_s'] * 1e3:>9.1f} {r['first_audio_s'] * 1e3:>9.1f} {r['phonemize_s'] * 1e3:>8.2f} "
                  f"{r['model_s'] * 1e3:>9.1f} {r['rtf']:>7.4f}{'  (reply)' if r['name'] == reply else ''}")
        print(f"{'overall':10} {'':>4} {overall_audio:>8.2f} {overall_wall * 1e3:>9.1f} {overall_cpu * 1e3:>9.1f} "
              f"{'':>9} {'':>8} {'':>9} {overall_wall / overall_audio:>7.4f}")
        print(f"voice loaded in {load_s * 1e3:.1f} ms")
        if unstable:
            print(f"the audio differed between passes for: {', '.join(unstable)}")
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
