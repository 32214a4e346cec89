#!/usr/bin/env python3
"""Prove the gated speech fixtures need a VAD pre-roll, with the real libraries.

    python scripts/models/check_gating.py --model /tmp/tone-transducer \\
        --fixtures /tmp/speech-fixtures \\
        --vad ../shared/data/silero-vad/v4/silero_vad.onnx [--pre-roll 0.6]
    python scripts/models/check_gating.py --model /tmp/questions-transducer \\
        --fixtures /tmp/question-fixtures --list fixtures --vad ...

For every entry of the ``gated`` list (``--list``) in <fixtures>/manifest.json
(written by make_speech_fixtures.py: a whispered "psst hey" with the tone words
"hello" under it and "stop three" after it; or, with ``--list fixtures``, the
questions of make_question_fixtures.py, laid out the same way, for the
questions transducer), using sherpa-onnx 2.0.1's Python package, it asserts

(a) the whole file, streamed into the tone transducer in 20 ms blocks with
    endpointing (check_transducer.py's recognizer and decode loop, rule2
    1.2 s: sherpa-onnx's default, and at least the manifest's rule2_min_s), gives
    exactly one final, the manifest's transcript ("hello stop three"), with
    its endpoint within check_transducer.py's timing window after
    speech_end_s;
(b) Silero VAD (threshold 0.5, min_speech_duration 0.25 s, min_silence_duration
    0.25 s, fed 512-sample windows) first reports is_speech_detected() after
    first_tone_end_s and before speech_end_s: the "hello" tone is over before
    a VAD-gated recognizer would open;
(c) decoding only the audio from that onset loses the first word (one final,
    the transcript without its first word: "stop three");
(d) decoding from onset minus --pre-roll (0.6 s) gives the whole transcript.

Margins: the onset must be at least --margin (0.1 s) after first_tone_end_s and
before speech_end_s.  A pre-roll sweep (10 ms steps, 0 .. 1.0 s, decoding up to
speech_end + 3 s) finds the smallest pre-roll that recovers the first word; it
must be at least --margin below --pre-roll, and every larger pre-roll must
work too (so the result does not depend on where the cut falls on the 40 ms
encoder-frame / 160 ms chunk grid).  Prints the measured onsets and margins; exits 1 on any failure, 2 on a
setup error, and 0 with a SKIP line when the VAD model file is absent (1 under
ASSISTANTD_REQUIRE_ALL, which CI sets).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_transducer as ct  # noqa: E402

VAD_WINDOW = 512
SWEEP_STEP_S = 0.01   # pre-roll sweep step
SWEEP_TAIL_S = 3.0    # the sweep decodes up to speech_end + this


def make_vad(model: Path, args):
    import sherpa_onnx
    config = sherpa_onnx.VadModelConfig()
    config.silero_vad.model = str(model)
    config.silero_vad.threshold = args.vad_threshold
    config.silero_vad.min_speech_duration = args.vad_min_speech
    config.silero_vad.min_silence_duration = args.vad_min_silence
    config.silero_vad.window_size = VAD_WINDOW
    config.sample_rate = 16000
    config.num_threads = 1
    config.provider = "cpu"
    return sherpa_onnx.VoiceActivityDetector(config, buffer_size_in_seconds=30)


def vad_onset(model: Path, samples: np.ndarray, args) -> int | None:
    """Samples fed when is_speech_detected() first turns true (None: never)."""
    vad = make_vad(model, args)
    for i in range(0, len(samples), VAD_WINDOW):
        block = samples[i:i + VAD_WINDOW]
        vad.accept_waveform(block)
        if vad.is_speech_detected():
            return i + len(block)
        while not vad.empty():
            vad.pop()
    return None


def decode_from(rec, samples: np.ndarray, start: int, transcript: str,
                end_s: float, period: float, args, chunk_s: float
                ) -> tuple[str, list[str]]:
    """Decode samples[start:]; returns (a line for the log: the finals and
    each one's endpoint time in the file, errors against transcript)."""
    sr = 16000
    run = ct.decode(rec, samples[start:], sr, args.feed_ms / 1000.0, [transcript])
    finals = [e for e in run.endpoints if e.text]
    errors, _ = ct.evaluate(run, [transcript], [end_s - start / sr], [period],
                            args, chunk_s)
    shown = ", ".join(f"{e.text!r} at {start / sr + e.time_s:.3f} s "
                      f"(speech end + {start / sr + e.time_s - end_s:.3f})" for e in finals)
    return f"finals [{shown}]", errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, type=Path,
                    help="directory written by make_transducer.py")
    ap.add_argument("--fixtures", required=True, type=Path,
                    help="directory written by make_speech_fixtures.py")
    ap.add_argument("--vad", required=True, type=Path, help="Silero VAD v4 ONNX model")
    ap.add_argument("--list", default="gated",
                    help="the manifest's list of gated entries: gated (speech/) or "
                         "fixtures (make_question_fixtures.py)")
    ap.add_argument("--pre-roll", type=float, default=0.6,
                    help="pre-roll for assertion (d), s")
    ap.add_argument("--pre-roll-max", type=float, default=1.0,
                    help="the pre-roll sweep runs up to this, s")
    ap.add_argument("--margin", type=float, default=0.1,
                    help="least margin, s, for the onset (after the first tone's end, "
                         "before speech end) and for the smallest pre-roll below --pre-roll")
    ap.add_argument("--vad-threshold", type=float, default=0.5)
    ap.add_argument("--vad-min-speech", type=float, default=0.25)
    ap.add_argument("--vad-min-silence", type=float, default=0.25)
    ap.add_argument("--rule1", type=float, default=2.4)
    ap.add_argument("--rule2", type=float, default=1.2)
    ap.add_argument("--rule3", type=float, default=20.0)
    ap.add_argument("--feed-ms", type=float, default=20.0)
    ap.add_argument("--num-threads", type=int, default=1)
    ap.add_argument("--decoding-method", default="greedy_search",
                    choices=["greedy_search", "modified_beam_search"])
    args = ap.parse_args(argv)

    if not args.vad.is_file():
        reason = f"the Silero VAD model {args.vad} is absent (set ASSISTANTD_SHARED_DATA)"
        if os.environ.get("ASSISTANTD_REQUIRE_ALL", "0") not in ("", "0"):
            print(f"gating check: {reason}; ASSISTANTD_REQUIRE_ALL is set, so a check that would skip fails",
                  file=sys.stderr)
            return 1
        print(f"SKIP gating check: {reason}")
        return 0
    try:
        import sherpa_onnx
        meta = ct.encoder_metadata(args.model)
        chunk_s = int(meta["decode_chunk_len"]) * ct.FRAME_SHIFT_S
        manifest = json.loads((args.fixtures / "manifest.json").read_text("utf-8"))
        gated = manifest[args.list]
        if not gated:
            raise ValueError(f"the manifest's {args.list} list is empty")
        for g in gated:
            if args.rule2 < g["rule2_min_s"] or args.rule1 < g["rule2_min_s"]:
                raise ValueError(f"rule1 {args.rule1} / rule2 {args.rule2} s is under "
                                 f"{g['file']}'s rule2_min_s {g['rule2_min_s']} s: the "
                                 f"endpoint would fire between words")
        rec = ct.make_recognizer(args.model, args)
    except Exception as exc:  # noqa: BLE001 - report any setup problem plainly
        print(f"setup error: {exc}", file=sys.stderr)
        return 2

    print(f"sherpa-onnx {getattr(sherpa_onnx, '__version__', '?')}  VAD {args.vad} "
          f"(threshold {args.vad_threshold}, min_speech {args.vad_min_speech} s, "
          f"{VAD_WINDOW}-sample windows)  rule1={args.rule1} rule2={args.rule2}  "
          f"pre-roll {args.pre_roll} s")
    failures = 0
    for g in gated:
        name = g["file"]
        samples, sr, channels, fmt = ct.read_wav(args.fixtures / name)
        if (sr, channels, fmt) != (g["sample_rate"], g["channels"], g["format"]) or sr != 16000:
            print(f"{name}: layout {(sr, channels, fmt)} does not match the manifest "
                  f"or is not 16 kHz mono")
            failures += 1
            continue
        transcript = g["transcript"]
        tail = " ".join(transcript.split()[1:])
        end_s, first_end = g["speech_end_s"], g["first_tone_end_s"]
        period = g["rule2_min_s"] - ct.FRAME_SHIFT_S * ct.SUBSAMPLING
        errors: list[str] = []
        print(f"\n{name}: whisper {g['whisper_start_s']:.4f}..{g['whisper_end_s']:.4f} s, "
              f"first tone ends {first_end:.4f} s, speech ends {end_s:.4f} s")

        finals, errs = decode_from(rec, samples, 0, transcript, end_s, period, args, chunk_s)
        print(f"  {'(a) whole file:':30} {finals}")
        errors += [f"(a) whole file: {e}" for e in errs]

        onset = vad_onset(args.vad, samples, args)
        if onset is None:
            errors.append("(b) Silero VAD never reported speech")
            print("  (b) VAD onset: none")
        else:
            t = onset / sr
            m_first, m_end = t - first_end, end_s - t
            print(f"  (b) VAD onset {t:.4f} s = whisper start + {t - g['whisper_start_s']:.4f} s; "
                  f"margins: onset - first_tone_end {m_first:+.4f} s, "
                  f"speech_end - onset {m_end:+.4f} s")
            if not first_end < t < end_s:
                errors.append(f"(b) onset {t:.4f} s is not in ({first_end:.4f}, {end_s:.4f}) s")

            finals, errs = decode_from(rec, samples, onset, tail, end_s, period, args, chunk_s)
            print(f"  {'(c) from onset:':30} {finals}")
            errors += [f"(c) from onset: {e}" for e in errs]

            pre = int(round(args.pre_roll * sr))
            start = max(0, onset - pre)
            finals, errs = decode_from(rec, samples, start, transcript, end_s, period,
                                       args, chunk_s)
            print(f"  {f'(d) from onset - {args.pre_roll:.2f} s:':30} {finals}")
            errors += [f"(d) from onset - {args.pre_roll} s: {e}" for e in errs]

            # Every pre-roll from the smallest that works up to --pre-roll-max
            # must keep the first word, so the result does not hinge on where
            # the cut falls on the 40 ms encoder / 160 ms chunk grid.
            stop = min(len(samples), int(round((end_s + SWEEP_TAIL_S) * sr)))
            worked = []
            for k in range(0, int(round(args.pre_roll_max / SWEEP_STEP_S)) + 1):
                s = max(0, onset - int(round(k * SWEEP_STEP_S * sr)))
                run = ct.decode(rec, samples[s:stop], sr, args.feed_ms / 1000.0, [transcript])
                worked.append([e.text for e in run.endpoints if e.text] == [transcript]
                              and not run.leftover)
            first_ok = worked.index(True) if True in worked else None
            if first_ok is None:
                print(f"      pre-roll sweep: no pre-roll up to {args.pre_roll_max:.2f} s "
                      f"keeps the first word")
                errors.append("(d) pre-roll sweep: the first word is never recovered")
            else:
                smallest = first_ok * SWEEP_STEP_S
                bad = [round(k * SWEEP_STEP_S, 2) for k in range(first_ok, len(worked))
                       if not worked[k]]
                print(f"      pre-roll sweep ({SWEEP_STEP_S * 1000:.0f} ms steps): smallest "
                      f"that keeps the first word {smallest:.2f} s (onset - first tone start "
                      f"{t - g['tones'][0]['start_s']:.4f} s); all of {smallest:.2f}.."
                      f"{args.pre_roll_max:.2f} s work: {'yes' if not bad else 'NO ' + str(bad[:5])}")
                if bad:
                    errors.append(f"(d) pre-roll sweep: pre-rolls {bad[:5]} s lose words")
                if smallest > args.pre_roll - args.margin:
                    errors.append(f"(d) smallest pre-roll {smallest:.2f} s leaves less than "
                                  f"{args.margin} s margin to {args.pre_roll} s")
            if m_first < args.margin or m_end < args.margin:
                errors.append(f"(b) onset margin under {args.margin} s")

        for e in errors:
            print(f"    ! {e}")
        failures += bool(errors)

    print(f"\n{'PASS' if not failures else 'FAIL'}: {len(gated)} gated fixtures, "
          f"{failures} failing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
