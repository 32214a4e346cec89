#!/usr/bin/env python3
"""Write spoken-English WAV fixtures with known text and speech boundaries.

    python scripts/models/make_speech_fixtures.py --out /tmp/speech-fixtures

Each question is spoken by the system ``espeak-ng`` CLI (voice ``en-us``,
default rate and pitch, ``espeak-ng -v en-us -w OUT.wav TEXT``), which writes
22050 Hz mono 16-bit PCM.  This script then

1. trims the runs of exact digital zeros espeak-ng puts at the start (up to
   ~40 ms) and end (~0.3 s) of its output, so the padding below is exact;
   no non-zero sample is removed;
2. resamples 22050 Hz -> 16000 Hz (ratio 320/441) with a fixed polyphase
   windowed-sinc filter in numpy (Kaiser window, beta 8.6, 128 taps at the
   input rate, cutoff 7600 Hz, every phase normalised to unit DC gain), and
   rounds to int16 -- no randomness, no dither, no external resampler;
3. pads with PAD_BEFORE_S (0.5 s) of digital silence before and PAD_AFTER_S
   (1.5 s) after, and writes mono 16-bit PCM WAVs named ``qNN_slug.wav``.

Next to them:

manifest.json  espeak-ng version, voice, threshold, and one entry per file:
               file, text, sample_rate, channels, format, duration_s,
               speech_start_s, speech_end_s; plus the ``gated`` list (below).
manifest.tsv   file, text, sample_rate, duration_s, speech_start_s,
               speech_end_s (one row per file).

speech_start_s / speech_end_s are measured on the (trimmed) 22050 Hz espeak-ng
output, before resampling: the first and last sample whose magnitude exceeds
THRESHOLD (0.01 of full scale, -40 dBFS, i.e. |x| > 327 in int16).  Start is
that first sample's time, end is the time just after the last one (like
tones.py's speech_end_s), both shifted by PAD_BEFORE_S into the padded file's
timeline and rounded to 1 us.  The resampler is zero-phase, so the times hold
for the 16 kHz file to within one output sample.

The same folder also gets the *gated* family, for VAD-gated recognizers:
``gated_short.wav`` (4 s, utterance at 1.0 s) and ``gated_60s.wav`` (60 s,
utterance at 30.0 s).  The utterance is a whispered "psst hey"
(``espeak-ng -v en-us+whisper``, exact zeros trimmed, resampled as above,
peak-normalised to GATED_PEAK) with three tones of the tone transducer's
vocabulary (tones.py frequencies, 0.15 s, amplitude 0.05, phase 0 at each tone
start, tones.py's 10 ms ramps) added before the single rounding to int16:
"hello" from 0.02 s after the whisper starts (under the "p-sss"), "stop" and
"three" 0.10 s and 0.35 s after it ends.  Whispered speech because Silero VAD
does not fire on pure tones, and voiced speech makes the tone transducer emit
spurious words: whispered speech has no harmonics, so the transducer decodes
only the tones, while Silero VAD v4 reports speech about 0.3-0.4 s after the
whisper starts -- after "hello" has ended.  A recognizer that starts at the
VAD onset hears "stop three"; one with a pre-roll hears "hello stop three"
(scripts/models/check_gating.py proves both).  "psst" makes the onset
reliable: a whispered "hey jarvis" is detected 0.34 s in after 1 s of
silence but only 0.82-0.87 s in (after the whisper ends) after 30 s.  The
gated entries are a separate ``gated`` list in manifest.json (manifest.tsv
lists the questions only): file, transcript, sample_rate, channels, format,
duration_s, whisper_text, whisper_voice, whisper_start_s, whisper_end_s,
first_tone_end_s, speech_end_s, rule2_min_s (the endpoint rule1/rule2 a
recognizer needs to keep the utterance one final: the longest tone-end to
next-tone-end span + 0.04 s) and tones (word, freq_hz, amplitude, start_s,
end_s).  All positions are whole samples; the times are sample / 16000.

The output is byte-for-byte reproducible for a given espeak-ng build (1.51 on
Debian was used to write this) and numpy; the ``ensure`` script keys its cache
on both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tones  # noqa: E402

VOICE = "en-us"
ESPEAK_RATE = 22050        # espeak-ng's output rate for its own voices
SAMPLE_RATE = 16000
PAD_BEFORE_S = 0.5
PAD_AFTER_S = 1.5
THRESHOLD = 0.01           # of full scale, for speech_start_s / speech_end_s

# Resampler: ratio UP/DOWN, HALF_TAPS input samples either side of each output.
UP, DOWN = 320, 441        # 16000 / 22050 reduced
HALF_TAPS = 64
CUTOFF_HZ = 7600.0
KAISER_BETA = 8.6

# The gated family: a whispered wake phrase with tone words under and after it.
GATED_VOICE = "en-us+whisper"
GATED_TEXT = "psst hey"
GATED_PEAK = 0.5               # whisper peak, of full scale
GATED_TONE_S = 0.15
GATED_TONE_AMPLITUDE = 0.05
GATED_TRANSCRIPT = "hello stop three"
# (word, anchor, offset_s): each tone starts offset_s after the whisper's
# first sample ("whisper_start") or just after its last one ("whisper_end").
GATED_TONES: tuple[tuple[str, str, float], ...] = (
    ("hello", "whisper_start", 0.02),
    ("stop", "whisper_end", 0.10),
    ("three", "whisper_end", 0.35),
)
# (name, whisper_start_s, duration_s)
GATED_FILES: tuple[tuple[str, float, float], ...] = (
    ("gated_short", 1.0, 4.0),
    ("gated_60s", 30.0, 60.0),
)
ENCODER_FRAME_S = 0.04     # the tone transducer's encoder frame (4 x 10 ms)


@dataclass(frozen=True)
class Question:
    name: str
    text: str


QUESTIONS: tuple[Question, ...] = (
    Question("q01_what_time", "What time is it?"),
    Question("q02_weather_paris", "What's the weather like in Paris tomorrow?"),
    Question("q03_timer", "Set a timer for ten minutes."),
    Question("q04_pride_prejudice", "Who wrote Pride and Prejudice?"),
    Question("q05_stop", "Stop."),
    Question("q06_ounces", "How many ounces are in a pound?"),
    Question("q07_lights", "Can you turn off the lights in the living room, please?"),
    Question("q08_long_airport",
             "If I leave at half past seven and the traffic is as bad as "
             "yesterday, will I still get to the airport in time for my flight, "
             "or should I take the train?"),
)


def espeak_version() -> str:
    """The version number from ``espeak-ng --version`` (e.g. ``1.51``)."""
    out = subprocess.run(["espeak-ng", "--version"], check=True,
                         capture_output=True, text=True).stdout
    # "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/..."
    return out.split(":", 1)[1].split()[0] if ":" in out else out.strip()


def speak(text: str, workdir: Path, voice: str = VOICE) -> np.ndarray:
    """Speak ``text`` with espeak-ng; returns its int16 samples at 22050 Hz."""
    path = workdir / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), "--", text],
                   check=True, stdout=subprocess.DEVNULL)
    with wave.open(str(path), "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, ESPEAK_RATE):
            raise RuntimeError(f"espeak-ng wrote {w.getnchannels()} ch, "
                               f"{8 * w.getsampwidth()} bit, {w.getframerate()} Hz; "
                               f"expected mono 16-bit {ESPEAK_RATE} Hz")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()
    path.unlink()
    return x


def trim_zeros(x: np.ndarray) -> np.ndarray:
    """Drop exact-zero samples at both ends (never a non-zero sample)."""
    nz = np.flatnonzero(x)
    if len(nz) == 0:
        raise RuntimeError("espeak-ng produced only silence")
    return x[nz[0]:nz[-1] + 1]


def filter_bank() -> np.ndarray:
    """bank[p, j]: weight of input sample base-HALF_TAPS+1+j for phase p/UP.

    An output sample at input time t = base + p/UP (base an integer) is
    sum_j x[base - HALF_TAPS + 1 + j] * bank[p, j], j = 0 .. 2*HALF_TAPS-1.
    """
    j = np.arange(2 * HALF_TAPS, dtype=np.float64)
    p = np.arange(UP, dtype=np.float64)[:, None] / UP
    d = p + (HALF_TAPS - 1) - j                 # t - k, in input samples
    fc = CUTOFF_HZ / ESPEAK_RATE                # cycles per input sample
    h = 2.0 * fc * np.sinc(2.0 * fc * d)
    r = np.clip(d / HALF_TAPS, -1.0, 1.0)
    h *= np.i0(KAISER_BETA * np.sqrt(1.0 - r * r)) / np.i0(KAISER_BETA)
    return h / h.sum(axis=1, keepdims=True)


def resample(x: np.ndarray) -> np.ndarray:
    """int16 at 22050 Hz -> int16 at 16000 Hz (deterministic, see docstring)."""
    bank = filter_bank()
    n_out = (len(x) * UP + DOWN - 1) // DOWN
    xp = np.concatenate([np.zeros(HALF_TAPS), x.astype(np.float64),
                         np.zeros(2 * HALF_TAPS)])
    offsets = np.arange(2 * HALF_TAPS)
    y = np.empty(n_out)
    step = 4096
    for m0 in range(0, n_out, step):
        m = np.arange(m0, min(m0 + step, n_out), dtype=np.int64)
        base, phase = np.divmod(m * DOWN, UP)
        # xp index of x[base - HALF_TAPS + 1] is base + 1
        frames = xp[(base + 1)[:, None] + offsets[None, :]]
        y[m0:m0 + len(m)] = np.einsum("ij,ij->i", frames, bank[phase])
    return np.clip(np.round(y), -32768, 32767).astype("<i2")


def speech_bounds(x: np.ndarray) -> tuple[float, float]:
    """(start_s, end_s) of the above-threshold part of 22050 Hz samples x."""
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > THRESHOLD * 32768)
    if len(loud) == 0:
        raise RuntimeError("no sample above the threshold")
    return loud[0] / ESPEAK_RATE, (loud[-1] + 1) / ESPEAK_RATE


def whisper_16k(raw: np.ndarray) -> np.ndarray:
    """Trimmed 22050 Hz int16 whisper -> float64 16 kHz, peak GATED_PEAK."""
    w = resample(raw).astype(np.float64)
    return w * (GATED_PEAK / np.abs(w).max())


def gated_plan(words: tuple[str, ...]) -> tuple[tuple[str, str, float], ...]:
    """GATED_TONES' layout for any words: the first under the whisper's start
    (+0.02 s), the others from 0.10 s after its end, one every 0.25 s
    (GATED_TONE_S + a 0.10 s gap).  gated_plan(("hello", "stop", "three"))
    == GATED_TONES."""
    return ((words[0], "whisper_start", 0.02),) + tuple(
        (w, "whisper_end", round(0.10 + 0.25 * i, 6)) for i, w in enumerate(words[1:]))


assert gated_plan(tuple(GATED_TRANSCRIPT.split())) == GATED_TONES


def render_gated(name: str, whisper: np.ndarray, start_s: float,
                 duration_s: float,
                 plan: tuple[tuple[str, str, float], ...] = GATED_TONES,
                 transcript: str = GATED_TRANSCRIPT,
                 vocab: tuple[tones.Token, ...] = tones.VOCAB) -> tuple[np.ndarray, dict]:
    """One gated file: silence, whisper at start_s with the tones of ``plan``
    (GATED_TONES), which must spell ``transcript`` in ``vocab``, silence.

    Every position is a whole number of samples, so the manifest times
    (sample index / SAMPLE_RATE) are exact.  Tones come from tones.py
    (frequency, phase 0 at the tone start, 10 ms raised-cosine ramps) and are
    added to the whisper before the single rounding to int16.
    make_question_fixtures.py renders its files with this function too.
    """
    n = int(round(duration_s * SAMPLE_RATE))
    n_tone = int(round(GATED_TONE_S * SAMPLE_RATE))
    ramp = int(round(tones.RAMP_S * SAMPLE_RATE))
    ws = int(round(start_s * SAMPLE_RATE))
    we = ws + len(whisper)
    x = np.zeros(n)
    x[ws:we] += whisper
    anchors = {"whisper_start": ws, "whisper_end": we}
    spans = []
    for word, anchor, offset_s in plan:
        tok = tones.token(word, vocab)
        a = anchors[anchor] + int(round(offset_s * SAMPLE_RATE))
        if spans and a - spans[-1][2] < int(round(tones.MIN_GAP_S * SAMPLE_RATE)):
            raise ValueError(f"{name}: the gap before {word!r} is under {tones.MIN_GAP_S} s")
        x[a:a + n_tone] += tones._tone(tok.freq_hz, n_tone, SAMPLE_RATE,
                                       GATED_TONE_AMPLITUDE, ramp)
        spans.append((tok, a, a + n_tone))
    if spans[-1][2] + int(round(tones.TRAIL_S * SAMPLE_RATE)) > n:
        raise ValueError(f"{name}: less than {tones.TRAIL_S} s of silence after the last tone")
    if " ".join(t.word for t, _, _ in spans) != transcript:
        raise ValueError(f"{name}: tones do not spell {transcript!r}")
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    ends = [e for _, _, e in spans]
    # sherpa counts endpoint silence from the last emitted word (README.md).
    rule2_min = max(b - a for a, b in zip(ends, ends[1:])) / SAMPLE_RATE + ENCODER_FRAME_S
    entry = {
        "file": f"{name}.wav",
        "transcript": transcript,
        "sample_rate": SAMPLE_RATE,
        "channels": 1,
        "format": "pcm16",
        "duration_s": n / SAMPLE_RATE,
        "whisper_text": GATED_TEXT,
        "whisper_voice": GATED_VOICE,
        "whisper_start_s": ws / SAMPLE_RATE,
        "whisper_end_s": we / SAMPLE_RATE,
        "first_tone_end_s": ends[0] / SAMPLE_RATE,
        "speech_end_s": ends[-1] / SAMPLE_RATE,
        "rule2_min_s": round(rule2_min, 6),
        "tones": [{"word": t.word, "freq_hz": t.freq_hz, "amplitude": GATED_TONE_AMPLITUDE,
                   "start_s": a / SAMPLE_RATE, "end_s": e / SAMPLE_RATE}
                  for t, a, e in spans],
    }
    return pcm, entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    args = ap.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("make_speech_fixtures.py: espeak-ng is not on PATH "
              "(apt-get install espeak-ng)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    pad_before = np.zeros(int(round(PAD_BEFORE_S * SAMPLE_RATE)), dtype="<i2")
    pad_after = np.zeros(int(round(PAD_AFTER_S * SAMPLE_RATE)), dtype="<i2")
    entries = []
    rows = ["file\ttext\tsample_rate\tduration_s\tspeech_start_s\tspeech_end_s"]
    with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
        for q in QUESTIONS:
            raw = trim_zeros(speak(q.text, Path(tmp)))
            start, end = speech_bounds(raw)
            pcm = np.concatenate([pad_before, resample(raw), pad_after])
            fname = f"{q.name}.wav"
            tones.write_wav(args.out / fname, pcm, SAMPLE_RATE)
            entry = {
                "file": fname,
                "text": q.text,
                "sample_rate": SAMPLE_RATE,
                "channels": 1,
                "format": "pcm16",
                "duration_s": round(len(pcm) / SAMPLE_RATE, 6),
                "speech_start_s": round(PAD_BEFORE_S + start, 6),
                "speech_end_s": round(PAD_BEFORE_S + end, 6),
            }
            entries.append(entry)
            rows.append("\t".join(str(entry[k]) for k in (
                "file", "text", "sample_rate", "duration_s",
                "speech_start_s", "speech_end_s")))
        whisper = whisper_16k(trim_zeros(speak(GATED_TEXT, Path(tmp), GATED_VOICE)))
        gated = []
        for name, start_s, duration_s in GATED_FILES:
            pcm, entry = render_gated(name, whisper, start_s, duration_s)
            tones.write_wav(args.out / entry["file"], pcm, SAMPLE_RATE)
            gated.append(entry)

    manifest = {
        "generator": "scripts/models/make_speech_fixtures.py",
        "espeak_ng": espeak_version(),
        "voice": VOICE,
        "pad_before_s": PAD_BEFORE_S,
        "pad_after_s": PAD_AFTER_S,
        "threshold": THRESHOLD,
        "fixtures": entries,
        "gated": gated,
    }
    (args.out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for e in entries:
        print(f"{e['file']:24} {e['duration_s']:7.3f} s  speech "
              f"{e['speech_start_s']:.3f}..{e['speech_end_s']:.3f} s  {e['text']}")
    for g in gated:
        print(f"{g['file']:24} {g['duration_s']:7.3f} s  whisper "
              f"{g['whisper_start_s']:.4f}..{g['whisper_end_s']:.4f} s, tones end "
              f"{g['first_tone_end_s']:.4f} / {g['speech_end_s']:.4f} s  {g['transcript']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
