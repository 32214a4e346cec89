#!/usr/bin/env python3
"""Prove the synthetic tone transducer through the real sherpa-onnx library.

    python scripts/models/check_transducer.py --model /tmp/tone-transducer \\
        --fixtures /tmp/tone-fixtures [--rule2 0.5]

For every fixture in <fixtures>/manifest.json this streams the WAV into a
``sherpa_onnx.OnlineRecognizer.from_transducer(...)`` (greedy search unless
--decoding-method modified_beam_search; endpoint detection on) in 20 ms
blocks, the way a live capture loop does: after each block it decodes while
``is_ready``, checks ``is_endpoint`` and, on an endpoint, takes the result
and calls ``reset``.  WAVs are read with numpy (``read_wav``: 16/24/32-bit
integer PCM, 32-bit float, any channel count, averaged to mono) and their
sample rate, channels and format must match the manifest.  It asserts

* the non-empty endpoint results are exactly the manifest's transcripts,
  one per utterance and in order (empty endpoints, e.g. rule1 firing in long
  silence, are counted but allowed);
* every partial result is a word prefix of the utterance being spoken;
* each utterance's endpoint is noticed no earlier than speech_end + rule2
  and no later than speech_end + R + chunk + 0.04 s + one feed block, where
  R is rule2 rounded up to whole 40 ms encoder frames the way endpoint.cc
  counts it in float32 (0.5 -> 0.52, 0.8 -> 0.84) and chunk is
  decode_chunk_len/100 s (see README.md);
* rule1 and rule2 are at least tone + gap + 0.04 s for every utterance (a
  precondition: otherwise the endpoint fires between words);
* nothing is left over after ``input_finished``.

Unless --no-sweep, it then repeats a two-word utterance with its start
shifted in 5 ms steps across one decode chunk, so the timing bound is
checked at every alignment of speech end to chunk boundaries.

Prints a table; exits 1 on any mismatch, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tones  # noqa: E402

FRAME_SHIFT_S = 0.01      # fbank frame shift sherpa-onnx uses
SUBSAMPLING = 4           # sherpa counts trailing blanks x4 frames

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_IEEE_FLOAT = 3
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def read_wav(path: Path) -> tuple[np.ndarray, int, int, str]:
    """Read a RIFF WAV of any common layout with numpy.

    Returns (float32 mono samples in [-1, 1], sample_rate, channels, format)
    where format is pcm16, pcm24, pcm32 or float32 (as in the manifest).
    Handles format tag 1 (8/16/24/32-bit integer PCM), tag 3 (32/64-bit
    float) and WAVE_FORMAT_EXTENSIBLE with either subformat; chunks other than
    ``fmt `` and ``data`` are skipped.  Channels are averaged (sherpa-onnx
    takes mono), which is exact when every channel holds the same samples.
    """
    raw = Path(path).read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    fmt_chunk = data = None
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        body = raw[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt_chunk = body
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    if fmt_chunk is None or data is None:
        raise ValueError(f"{path}: missing fmt or data chunk")
    tag, channels, sample_rate, _, block, bits = struct.unpack_from("<HHIIHH", fmt_chunk)
    if tag == WAVE_FORMAT_EXTENSIBLE and len(fmt_chunk) >= 26:
        tag = struct.unpack_from("<H", fmt_chunk, 24)[0]  # first 2 bytes of the GUID
    width = bits // 8
    if channels < 1 or block != channels * width:
        raise ValueError(f"{path}: {channels} channels, {bits} bits, block {block}")
    data = data[:len(data) - len(data) % block]
    if tag == WAVE_FORMAT_PCM and bits in (16, 32):
        x = np.frombuffer(data, dtype=f"<i{width}").astype(np.float64) / 2.0 ** (bits - 1)
    elif tag == WAVE_FORMAT_PCM and bits == 24:
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (v - ((v & 0x800000) << 1)).astype(np.float64) / 2.0 ** 23
    elif tag == WAVE_FORMAT_PCM and bits == 8:  # unsigned, offset 128
        x = (np.frombuffer(data, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif tag == WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64):
        x = np.frombuffer(data, dtype=f"<f{width}").astype(np.float64)
    else:
        raise ValueError(f"{path}: unsupported WAV format tag {tag} with {bits} bits")
    mono = x.reshape(-1, channels).mean(axis=1).astype(np.float32)
    fmt = f"float{bits}" if tag == WAVE_FORMAT_IEEE_FLOAT else f"pcm{bits}"
    return mono, sample_rate, channels, fmt


@dataclass
class Endpoint:
    time_s: float
    text: str
    raw_text: str


@dataclass
class Run:
    endpoints: list[Endpoint] = field(default_factory=list)
    leftover: str = ""
    bad_partials: list[str] = field(default_factory=list)


def encoder_metadata(model_dir: Path) -> dict[str, str]:
    import onnx
    m = onnx.load(str(model_dir / "encoder.onnx"), load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}


def make_recognizer(model_dir: Path, args):
    import sherpa_onnx
    return sherpa_onnx.OnlineRecognizer.from_transducer(
        tokens=str(model_dir / "tokens.txt"),
        encoder=str(model_dir / "encoder.onnx"),
        decoder=str(model_dir / "decoder.onnx"),
        joiner=str(model_dir / "joiner.onnx"),
        num_threads=args.num_threads,
        sample_rate=16000,
        feature_dim=80,
        decoding_method=args.decoding_method,
        enable_endpoint_detection=True,
        rule1_min_trailing_silence=args.rule1,
        rule2_min_trailing_silence=args.rule2,
        rule3_min_utterance_length=args.rule3,
        provider="cpu",
    )


def is_word_prefix(partial: str, expected_utterances: list[str]) -> bool:
    words = partial.split()
    if not words:
        return True
    return any(e.split()[:len(words)] == words for e in expected_utterances)


def decode(rec, samples: np.ndarray, sample_rate: int, feed_s: float,
           expected: list[str]) -> Run:
    run = Run()
    stream = rec.create_stream()
    block = int(round(feed_s * sample_rate))
    fed = 0
    while fed < len(samples):
        chunk = samples[fed:fed + block]
        stream.accept_waveform(sample_rate, chunk)
        fed += len(chunk)
        while rec.is_ready(stream):
            rec.decode_stream(stream)
        partial = rec.get_result(stream)
        if not is_word_prefix(partial, expected):
            run.bad_partials.append(f"{fed / sample_rate:.3f}s:{partial!r}")
        if rec.is_endpoint(stream):
            raw = rec.get_result_all(stream).text
            run.endpoints.append(Endpoint(fed / sample_rate, raw.strip(), raw))
            rec.reset(stream)
    stream.input_finished()
    while rec.is_ready(stream):
        rec.decode_stream(stream)
    run.leftover = rec.get_result(stream)
    return run


def sherpa_silence_frames(rule_s: float) -> int:
    """Encoder frames of blanks sherpa needs before `rule_s` counts as met.

    endpoint.cc compares float32(blanks * 4) * 0.01f >= float32(rule_s), so
    e.g. 0.8 s needs 21 frames (0.84 s), not 20.
    """
    n = 0
    while (np.float32(np.float32(SUBSAMPLING * n) * np.float32(FRAME_SHIFT_S))
           < np.float32(rule_s)):
        n += 1
    return n


def timing_window(speech_end: float, args, chunk_s: float) -> tuple[float, float]:
    frame_s = FRAME_SHIFT_S * SUBSAMPLING
    rule2_counted = sherpa_silence_frames(args.rule2) * frame_s
    lo = speech_end + args.rule2
    hi = speech_end + rule2_counted + chunk_s + frame_s + args.feed_ms / 1000.0
    return lo, hi


def evaluate(run: Run, transcripts: list[str], ends: list[float],
             periods: list[float | None], args,
             chunk_s: float) -> tuple[list[str], list[tuple]]:
    """Returns (errors, rows) for one decoded file."""
    errors: list[str] = []
    finals = [e for e in run.endpoints if e.text]
    empties = len(run.endpoints) - len(finals)
    if [f.text for f in finals] != transcripts:
        errors.append(f"finals {[f.text for f in finals]} != expected {transcripts}")
    if run.leftover:
        errors.append(f"left over after input_finished: {run.leftover!r}")
    if run.bad_partials:
        errors.append(f"partials not a prefix: {run.bad_partials[:3]}")
    rows = []
    for i, period in enumerate(periods):
        need = (period or 0.0) + FRAME_SHIFT_S * SUBSAMPLING
        for rule, value in (("rule1", args.rule1), ("rule2", args.rule2)):
            if period and value < need - 1e-9:
                errors.append(f"utterance {i}: {rule}={value} s is shorter than tone + "
                              f"gap + 0.04 = {need:.2f} s; the endpoint would fire "
                              f"between words (see README)")
    for i, expected in enumerate(transcripts):
        got = finals[i] if i < len(finals) else None
        end = ends[i]
        lo, hi = timing_window(end, args, chunk_s)
        if got is None:
            rows.append((expected, "(none)", end, None, None, "FAIL"))
            continue
        ok_time = lo - 1e-9 <= got.time_s <= hi + 1e-9
        if not ok_time:
            errors.append(f"utterance {i}: endpoint at {got.time_s:.3f}s outside "
                          f"[{lo:.3f}, {hi:.3f}]")
        ok = ok_time and got.text == expected
        rows.append((expected, got.text, end, got.time_s, got.time_s - end,
                     "ok" if ok else "FAIL"))
    return errors, rows + [("#empty", empties)]


def clip(text: str, width: int = 34) -> str:
    return text if len(text) <= width else text[:width - 1] + "\u2026"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, type=Path,
                    help="directory written by make_transducer.py")
    ap.add_argument("--fixtures", required=True, type=Path,
                    help="directory written by make_tone_fixtures.py")
    ap.add_argument("--rule1", type=float, default=2.4,
                    help="rule1 min trailing silence, s (no speech needed)")
    ap.add_argument("--rule2", type=float, default=0.5,
                    help="rule2 min trailing silence after speech, s")
    ap.add_argument("--rule3", type=float, default=20.0,
                    help="rule3 min utterance length, s")
    ap.add_argument("--feed-ms", type=float, default=20.0, help="feed block size")
    ap.add_argument("--num-threads", type=int, default=1)
    ap.add_argument("--decoding-method", default="greedy_search",
                    choices=["greedy_search", "modified_beam_search"])
    ap.add_argument("--no-sweep", action="store_true",
                    help="skip the chunk-alignment sweep")
    args = ap.parse_args(argv)

    try:
        import sherpa_onnx
        meta = encoder_metadata(args.model)
        chunk_s = int(meta["decode_chunk_len"]) * FRAME_SHIFT_S
        manifest = json.loads((args.fixtures / "manifest.json").read_text("utf-8"))
        rec = make_recognizer(args.model, args)
    except Exception as exc:  # noqa: BLE001 - report any setup problem plainly
        print(f"setup error: {exc}", file=sys.stderr)
        return 2

    print(f"sherpa-onnx {getattr(sherpa_onnx, '__version__', '?')}  "
          f"model_type={meta.get('model_type')} T={meta.get('T')} "
          f"decode_chunk_len={meta.get('decode_chunk_len')} (chunk {chunk_s:.2f} s)  "
          f"rule1={args.rule1} rule2={args.rule2} rule3={args.rule3}  "
          f"feed {args.feed_ms:g} ms  {args.decoding_method}")
    counted = sherpa_silence_frames(args.rule2) * FRAME_SHIFT_S * SUBSAMPLING
    print(f"endpoint window: [end + rule2, end + rule2 as counted ({counted:.2f}) + chunk "
          f"+ 0.04 + feed] = [end + {args.rule2:.3f}, end + "
          f"{timing_window(0.0, args, chunk_s)[1]:.3f}] s\n")

    header = (f"{'file':27} {'sr':>5}  {'expected':34} {'got':34} "
              f"{'end_s':>7} {'endpt_s':>7} {'delay':>6}  status")
    print(header)
    print("-" * len(header))
    failures = 0
    delays: list[float] = []
    raw_texts: set[str] = set()
    for fx in manifest["fixtures"]:
        samples, sr, channels, fmt = read_wav(args.fixtures / fx["file"])
        layout = (sr, channels, fmt)
        expected_layout = (fx["sample_rate"], fx.get("channels", 1), fx.get("format", "pcm16"))
        if layout != expected_layout:
            print(f"{fx['file']}: (sample rate, channels, format) {layout} != "
                  f"manifest {expected_layout}")
            failures += 1
            continue
        run = decode(rec, samples, sr, args.feed_ms / 1000.0, fx["transcripts"])
        raw_texts.update(e.raw_text for e in run.endpoints if e.text)
        errors, rows = evaluate(run, fx["transcripts"], fx["speech_end_s"],
                               fx.get("word_period_s") or [None] * len(fx["transcripts"]),
                               args, chunk_s)
        empties = rows.pop()[1]
        if not rows:  # silence-only file
            status = "ok" if not errors else "FAIL"
            print(f"{fx['file']:27} {sr:>5}  {'(no speech)':34} "
                  f"{'(no final)' if not errors else 'TEXT!':34} {'':>7} {'':>7} "
                  f"{'':>6}  {status}  empty endpoints: {empties}")
        for i, (exp, got, end, t, d, status) in enumerate(rows):
            exp, got = clip(exp), clip(got)
            name = fx["file"] if i == 0 else "  +"
            tcol = f"{t:7.3f}" if t is not None else f"{'-':>7}"
            dcol = f"{d:6.3f}" if d is not None else f"{'-':>6}"
            extra = f"  empty endpoints: {empties}" if i == 0 and empties else ""
            print(f"{name:27} {sr:>5}  {exp:34} {got:34} {end:7.3f} {tcol} {dcol}  "
                  f"{status}{extra}")
            if d is not None:
                delays.append(d)
        for e in errors:
            print(f"    ! {e}")
        failures += bool(errors)

    if delays:
        print(f"\nendpoint delay after speech end: min {min(delays):.3f} s, "
              f"max {max(delays):.3f} s (rule2 {args.rule2} s)")
    if raw_texts:
        padded = sorted(t for t in raw_texts if t != t.strip())
        print("unstripped result text (get_result_all().text): "
              + (f"has surrounding spaces, e.g. {padded[0]!r}" if padded
                 else "no leading/trailing spaces"))

    if not args.no_sweep:
        failures += sweep(rec, args, chunk_s)

    print(f"\n{'PASS' if not failures else 'FAIL'}: "
          f"{len(manifest['fixtures'])} fixtures, {failures} failing")
    return 1 if failures else 0


def sweep(rec, args, chunk_s: float) -> int:
    words = ["three", "one"]
    expected = " ".join(words)
    step = 0.005
    n = int(round(chunk_s / step)) + 1
    bad = 0
    delays = []
    for i in range(n):
        lead = 0.5 + i * step
        pcm, end = tones.render_words(words, 16000, lead_s=lead, trail_s=2.0)
        run = decode(rec, pcm.astype(np.float32) / 32768.0, 16000,
                     args.feed_ms / 1000.0, [expected])
        errors, rows = evaluate(run, [expected], [end],
                               [tones.TONE_S + tones.GAP_S], args, chunk_s)
        if rows[0][4] is not None:
            delays.append(rows[0][4])
        if errors:
            bad += 1
            if bad <= 3:
                print(f"sweep lead {lead:.3f}s: {'; '.join(errors)}")
            elif bad == 4:
                print("sweep: (further failures not shown)")
    print(f"sweep: {n} alignments (lead 0.500..{0.5 + (n - 1) * step:.3f} s, "
          f"16 kHz, '{expected}'): {n - bad} ok; endpoint delay "
          f"{min(delays):.3f}..{max(delays):.3f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
