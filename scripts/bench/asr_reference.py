#!/usr/bin/env python3
"""The ASR benchmark's reference: the same measurement with the Python
``sherpa_onnx`` 2.0.1 package (the same C++ library the Rust crate links).

    .venv/bin/python scripts/bench/asr_reference.py --model DIR/transducer \\
        --fixtures DIR [--vad ../shared/data/silero-vad/v4/silero_vad.onnx] \\
        [--repeat 5] [--json]

DIR is the folder ``scripts/models/ensure`` prints.  For every tone fixture
in ``tones/manifest.json`` it builds one ``OnlineRecognizer.from_transducer``
(greedy_search, 1 thread, endpoint rules 2.4 / 0.5 / 20 s) and feeds the
file's samples in 20 ms blocks, doing per block what ``Listener::push``
does: ``accept_waveform``, ``decode_stream`` while ``is_ready``,
``get_result``, ``is_endpoint`` (and ``reset`` after an endpoint; a
non-empty text is a final).  At the end it calls ``input_finished`` and
decodes the rest, as ``Listener::finish`` does.

Measured exactly as the Rust bench (crates/assistantd/benches/asr.rs):
wall time (``time.perf_counter``) and process CPU time
(``time.process_time``, i.e. CLOCK_PROCESS_CPUTIME_ID) from the first block
to the end of the flush; the latency of every block that ran at least one
``decode_stream`` (nearest-rank p50/p95); one unmeasured warm-up pass, then
``--repeat`` rounds; medians over the rounds.

Differences from the Rust side, by design:

* Resampling.  Files that are not 16 kHz are fed at their own rate and
  sherpa-onnx resamples them internally (its windowed-sinc LinearResample);
  the Rust Listener resamples with rubato before sherpa-onnx sees the
  samples.  This compares each stack as it would be used, rather than
  inventing a rubato clone in numpy.  Transcripts must still agree.
* The per-block latency includes the Python call overhead of five calls into
  the extension (about a microsecond each), so it slightly overstates the
  C++ cost.
* Idle rows: no VAD gating logic here.  ``silent_vad`` runs only the Silero
  VAD, which is exactly what the Rust Listener runs while its gate stays
  closed; ``speaking_vad_only`` runs only the VAD on the speech input, the
  VAD's share of the Rust ``speaking_vad`` row.  ``silent_novad`` and
  ``speaking_tones_novad`` run only the recognizer (rule 2 1.2 s), like the
  Rust rows of the same names.

Prints a table, or with --json one JSON object with the Rust bench's schema.
Exits 0, 1 if the finals differ between rounds, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
import check_transducer as ct  # noqa: E402  (its numpy WAV reader)

RULE1_S = 2.4
RULE2_S = 0.5
RULE2_GATED_S = 1.2
RULE3_S = 20.0
FRAME_MS = 20
ASR_RATE = 16000
SILENCE_S = 60


def make_recognizer(model: Path, rule2: float):
    import sherpa_onnx
    return sherpa_onnx.OnlineRecognizer.from_transducer(
        tokens=str(model / "tokens.txt"),
        encoder=str(model / "encoder.onnx"),
        decoder=str(model / "decoder.onnx"),
        joiner=str(model / "joiner.onnx"),
        num_threads=1,
        sample_rate=ASR_RATE,
        feature_dim=80,
        decoding_method="greedy_search",
        enable_endpoint_detection=True,
        rule1_min_trailing_silence=RULE1_S,
        rule2_min_trailing_silence=rule2,
        rule3_min_utterance_length=RULE3_S,
        provider="cpu",
    )


def make_vad(model: Path):
    """Silero with assistant_asr::VadConfig::new's settings."""
    import sherpa_onnx
    config = sherpa_onnx.VadModelConfig()
    config.silero_vad.model = str(model)
    config.silero_vad.threshold = 0.5
    config.silero_vad.min_silence_duration = 0.25
    config.silero_vad.min_speech_duration = 0.25
    config.silero_vad.max_speech_duration = 20.0
    config.silero_vad.window_size = 512
    config.sample_rate = ASR_RATE
    config.num_threads = 1
    config.provider = "cpu"
    return sherpa_onnx.VoiceActivityDetector(config, buffer_size_in_seconds=30)


def blocks(samples: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """20 ms blocks, as assistant_audio's Pcm::frames cuts them."""
    n = max(1, sample_rate * FRAME_MS // 1000)
    return [samples[i:i + n] for i in range(0, len(samples), n)]


class Pass:
    __slots__ = ("wall", "cpu", "latencies", "finals", "fed")

    def __init__(self, wall, cpu, latencies, finals, fed):
        self.wall, self.cpu, self.latencies, self.finals, self.fed = wall, cpu, latencies, finals, fed


def run_recognizer(rec, data: list[np.ndarray], sample_rate: int) -> Pass:
    stream = rec.create_stream()
    finals: list[str] = []
    latencies: list[float] = []
    fed = 0
    perf = time.perf_counter
    cpu0 = time.process_time()
    start = perf()
    for block in data:
        t = perf()
        stream.accept_waveform(sample_rate, block)
        steps = 0
        while rec.is_ready(stream):
            rec.decode_stream(stream)
            steps += 1
        text = rec.get_result(stream).strip()
        if rec.is_endpoint(stream):
            if text:
                finals.append(text)
            rec.reset(stream)
        dt = perf() - t
        if steps:
            latencies.append(dt)
        fed += len(block)
    stream.input_finished()
    while rec.is_ready(stream):
        rec.decode_stream(stream)
    text = rec.get_result(stream).strip()
    if rec.is_endpoint(stream):
        if text:
            finals.append(text)
        rec.reset(stream)
        text = rec.get_result(stream).strip()
    if text:
        finals.append(text)
    wall = perf() - start
    cpu = time.process_time() - cpu0
    return Pass(wall, cpu, latencies, finals, fed / sample_rate)


def run_vad(vad_model: Path, data: list[np.ndarray], _sample_rate: int) -> Pass:
    vad = make_vad(vad_model)
    perf = time.perf_counter
    cpu0 = time.process_time()
    start = perf()
    for block in data:
        vad.accept_waveform(block)
        while not vad.empty():
            vad.front.samples  # noqa: B018 - copy the segment out, as Vad::accept does
            vad.pop()
        vad.is_speech_detected()
    wall = perf() - start
    cpu = time.process_time() - cpu0
    return Pass(wall, cpu, [], [], 0.0)


def percentile(values: list[float], p: float) -> float:
    """Nearest rank, as the Rust bench computes it."""
    if not values:
        return math.nan
    s = sorted(values)
    rank = math.ceil(p / 100.0 * len(s))
    return s[min(max(rank, 1), len(s)) - 1]


def median(values: list[float]) -> float:
    v = sorted(x for x in values if not math.isnan(x))
    if not v:
        return math.nan
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def ms(v: float) -> str:
    """A latency for the table: 7 wide, 3 decimals, '-' for none."""
    return f"{'-':>7}" if math.isnan(v) else f"{v:>7.3f}"


def num(v: float):
    return None if math.isnan(v) else v


def passes(fn, inputs: list[tuple], repeat: int) -> list[list[Pass]]:
    """A warm-up pass over every input, then `repeat` rounds over all."""
    for _, data, sr in inputs:
        fn(data, sr)
    out: list[list[Pass]] = [[] for _ in inputs]
    for _ in range(repeat):
        for i, (_, data, sr) in enumerate(inputs):
            out[i].append(fn(data, sr))
    return out


def summarize(ps: list[Pass]) -> dict:
    first = ps[0].finals
    return {
        "wall_s": median([p.wall for p in ps]),
        "cpu_s": median([p.cpu for p in ps]),
        "p50_ms": median([percentile(p.latencies, 50) * 1e3 for p in ps]),
        "p95_ms": median([percentile(p.latencies, 95) * 1e3 for p in ps]),
        "decode_frames": median([float(len(p.latencies)) for p in ps]),
        "fed_s": median([p.fed for p in ps]),
        "finals": first,
        "unstable": any(p.finals != first for p in ps),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, type=Path, help="the transducer folder")
    ap.add_argument("--fixtures", required=True, type=Path,
                    help="the folder scripts/models/ensure prints (tones/, speech/)")
    ap.add_argument("--vad", type=Path, help="Silero VAD v4 ONNX model (optional)")
    ap.add_argument("--repeat", type=int, default=5, help="measured rounds (default 5)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    try:
        import sherpa_onnx
        rec = make_recognizer(args.model, RULE2_S)
        gated_rec = make_recognizer(args.model, RULE2_GATED_S)
        tones_dir = args.fixtures / "tones"
        speech_dir = args.fixtures / "speech"
        manifest = json.loads((tones_dir / "manifest.json").read_text("utf-8"))
        files = []
        for fx in manifest["fixtures"]:
            samples, sr, _, _ = ct.read_wav(tones_dir / fx["file"])
            files.append((fx, samples, sr))
    except Exception as exc:  # noqa: BLE001 - report any setup problem plainly
        print(f"asr_reference: setup error: {exc}", file=sys.stderr)
        return 2

    # Part 1: every tone fixture.
    inputs = [(fx["file"], blocks(s, sr), sr) for fx, s, sr in files]
    file_passes = passes(lambda d, sr: run_recognizer(rec, d, sr), inputs, args.repeat)
    summaries = [summarize(ps) for ps in file_passes]
    audio = [len(s) / sr for _, s, sr in files]
    audio_total = sum(audio)
    rounds = range(args.repeat)
    pooled = [[x for ps in file_passes for x in ps[k].latencies] for k in rounds]
    overall = {
        "audio_s": audio_total,
        "wall_s": median([sum(ps[k].wall for ps in file_passes) for k in rounds]),
        "cpu_s": median([sum(ps[k].cpu for ps in file_passes) for k in rounds]),
        "decode_frames": median([float(len(p)) for p in pooled]),
        "p50_ms": median([percentile(p, 50) * 1e3 for p in pooled]),
        "p95_ms": median([percentile(p, 95) * 1e3 for p in pooled]),
    }
    overall["rtf"] = overall["wall_s"] / audio_total
    overall["cpu_per_audio_s"] = overall["cpu_s"] / audio_total

    # Part 2: idle and speaking cost.
    silence = np.zeros(SILENCE_S * ASR_RATE, dtype=np.float32)
    tone_speech = np.concatenate([
        s for fx, s, sr in files
        if fx["transcripts"] and sr == ASR_RATE and fx["file"] != "very_long.wav"])
    rows = []
    skipped = None
    if args.vad is None:
        skipped = "no --vad given"
    elif not args.vad.is_file():
        skipped = f"the Silero VAD model {args.vad} is absent"
    else:
        sm = json.loads((speech_dir / "manifest.json").read_text("utf-8"))
        spoken = []
        for fx in sm["fixtures"]:
            s, sr, _, _ = ct.read_wav(speech_dir / fx["file"])
            if sr != ASR_RATE:
                print(f"asr_reference: {fx['file']}: expected 16 kHz", file=sys.stderr)
                return 2
            # The same cut as the Rust bench: truncate seconds * 16000.
            spoken.append(s[int(fx["speech_start_s"] * ASR_RATE):int(fx["speech_end_s"] * ASR_RATE)])
        speech = np.concatenate(spoken)
        for name, x, what in [
            ("silent_vad", silence, "60 s of digital silence (zeros); VAD only"),
            ("speaking_vad_only", speech,
             "the spoken parts of the espeak-ng questions, concatenated; VAD only"),
        ]:
            ps = passes(lambda d, sr: run_vad(args.vad, d, sr), [(name, blocks(x, ASR_RATE), ASR_RATE)],
                        args.repeat)
            rows.append((name, True, what, len(x) / ASR_RATE, summarize(ps[0])))
    for name, x, what in [
        ("silent_novad", silence, "60 s of digital silence (zeros)"),
        ("speaking_tones_novad", tone_speech, "the speech tone fixtures at 16 kHz, concatenated"),
    ]:
        ps = passes(lambda d, sr: run_recognizer(gated_rec, d, sr),
                    [(name, blocks(x, ASR_RATE), ASR_RATE)], args.repeat)
        rows.append((name, False, what, len(x) / ASR_RATE, summarize(ps[0])))

    unstable = [name for (name, _, _), s in zip(inputs, summaries) if s["unstable"]]
    unstable += [r[0] for r in rows if r[4]["unstable"]]

    if args.json:
        out = {
            "implementation": "sherpa_onnx Python package",
            "sherpa_onnx": getattr(sherpa_onnx, "__version__", "?"),
            "repeat": args.repeat,
            "settings": {
                "decoding": "greedy_search", "num_threads": 1, "rule1_s": RULE1_S,
                "rule2_s": RULE2_S, "rule2_gated_s": RULE2_GATED_S, "rule3_s": RULE3_S,
                "frame_ms": FRAME_MS,
                "resampling": "none before sherpa-onnx: non-16 kHz files are fed at their own "
                              "rate and sherpa-onnx resamples internally",
            },
            "files": [{
                "file": fx["file"], "sample_rate": sr, "audio_s": a,
                "wall_s": s["wall_s"], "cpu_s": s["cpu_s"], "rtf": s["wall_s"] / a,
                "cpu_per_audio_s": s["cpu_s"] / a, "frames": len(d),
                "decode_frames": s["decode_frames"], "p50_ms": num(s["p50_ms"]),
                "p95_ms": num(s["p95_ms"]), "finals": s["finals"],
            } for (fx, _, sr), (_, d, _), a, s in zip(files, inputs, audio, summaries)],
            "overall": {k: num(v) for k, v in overall.items()},
            "idle": {
                "vad_model": str(args.vad) if args.vad else None,
                "skipped": skipped,
                "rows": [{
                    "name": name, "vad": vad, "input": what, "audio_s": a,
                    "fed_s": s["fed_s"], "wall_s": s["wall_s"], "cpu_s": s["cpu_s"],
                    "rtf": s["wall_s"] / a, "cpu_per_audio_s": s["cpu_s"] / a,
                    "finals": len(s["finals"]),
                } for name, vad, what, a, s in rows],
            },
            "unstable": unstable,
        }
        print(json.dumps(out))
    else:
        print(f"sherpa_onnx {getattr(sherpa_onnx, '__version__', '?')} (Python): greedy, 1 thread, "
              f"rules {RULE1_S}/{RULE2_S}/{RULE3_S} s, 20 ms blocks; median of {args.repeat} "
              f"rounds after a warm-up\n")
        print(f"{'file':28} {'sr':>6} {'audio_s':>7} {'wall_ms':>8} {'cpu_ms':>8} {'RTF':>7} "
              f"{'decfr':>6} {'p50_ms':>7} {'p95_ms':>7}  finals")
        for (fx, _, sr), a, s in zip(files, audio, summaries):
            print(f"{fx['file']:28} {sr:>6} {a:>7.2f} {s['wall_s'] * 1e3:>8.2f} "
                  f"{s['cpu_s'] * 1e3:>8.2f} {s['wall_s'] / a:>7.4f} {s['decode_frames']:>6.0f} "
                  f"{ms(s['p50_ms'])} {ms(s['p95_ms'])}  {' | '.join(s['finals'])}")
        o = overall
        print(f"{'overall':28} {'':>6} {audio_total:>7.2f} {o['wall_s'] * 1e3:>8.2f} "
              f"{o['cpu_s'] * 1e3:>8.2f} {o['rtf']:>7.4f} {o['decode_frames']:>6.0f} "
              f"{ms(o['p50_ms'])} {ms(o['p95_ms'])}")
        print(f"\nCPU per second of audio (rule 2 {RULE2_GATED_S} s):")
        print(f"{'row':20} {'VAD':>4} {'audio_s':>7} {'cpu_ms':>8} {'cpu_s/s':>10}  input")
        for name, vad, what, a, s in rows:
            print(f"{name:20} {'yes' if vad else 'no':>4} {a:>7.2f} {s['cpu_s'] * 1e3:>8.2f} "
                  f"{s['cpu_s'] / a:>10.6f}  {what}")
        if skipped:
            print(f"VAD rows skipped: {skipped}")
        if unstable:
            print(f"finals differed between rounds for: {', '.join(unstable)}")
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
