#!/usr/bin/env python3
"""Write tone-utterance WAV fixtures for the synthetic tone transducer.

    python scripts/models/make_tone_fixtures.py --out /tmp/tone-fixtures

Every WAV is rendered by tones.py, so its transcript is known exactly.  Most
are mono 16-bit PCM; a few edge cases use another sample format or channel
count (the ``format`` / ``channels`` manifest fields):

pcm16    16-bit PCM (format tag 1), the samples tones.render returns;
pcm24    24-bit PCM (tag 1), each sample the pcm16 value * 256;
pcm32    32-bit integer PCM (tag 1), each sample the pcm16 value * 65536;
float32  IEEE float (tag 3, 18-byte fmt with cbSize 0, plus a ``fact``
         chunk), each sample the pcm16 value / 32768;
stereo   the same samples in both channels (interleaved).

So every file decodes to exactly the float samples of a 16-bit rendering:
``three_words_24bit.wav`` and ``three_words_32bit.wav`` hold the samples of
``three_words.wav``, bit for bit, once scaled to [-1, 1).

Alongside the WAVs:

manifest.json  one entry per file: file, sample_rate, channels, format,
               duration_s, transcripts (one string per utterance, in order),
               speech_end_s (the exact end of each utterance's last tone),
               word_period_s (tone + gap of each utterance; null for one
               word) and description.
manifest.tsv   one row per utterance:
               file, utterance, transcript, speech_end_s, sample_rate
               (a file without speech has one row with utterance -1 and an
               empty transcript).

Unless its entry says otherwise, a file ends with TRAIL_S (2.0 s) of silence,
enough for an endpoint rule of up to ~1.6 s trailing silence to fire inside
the file.  Output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tones  # noqa: E402
from tones import Segment  # noqa: E402

TRAIL_S = 2.0
SILENCE_S = 3.0   # trailing audio of a file without segments, unless trail_s
FORMATS = ("pcm16", "pcm24", "pcm32", "float32")
WAVE_FORMAT_IEEE_FLOAT = 3


@dataclass(frozen=True)
class Fixture:
    """One WAV: what tones.render draws, and how the samples are stored."""

    sample_rate: int
    segments: list[Segment]
    description: str
    noise_peak: float = 0.0
    trail_s: float | None = None   # None: TRAIL_S, or SILENCE_S without segments
    channels: int = 1
    format: str = "pcm16"

    @property
    def trail(self) -> float:
        if self.trail_s is not None:
            return self.trail_s
        return TRAIL_S if self.segments else SILENCE_S


VERY_LONG_S = 60.0
VERY_LONG_START_S = 30.0
VERY_LONG_WORDS = ["hello", "stop"]
VERY_LONG_SPEECH_S = (len(VERY_LONG_WORDS) * tones.TONE_S
                      + (len(VERY_LONG_WORDS) - 1) * tones.GAP_S)

FIXTURES: dict[str, Fixture] = {
    "one_word": Fixture(16000, [Segment(["hello"])], "a single word"),
    "three_words": Fixture(16000, [Segment(["one", "two", "three"])], "three words"),
    "six_words": Fixture(16000, [Segment(["four", "five", "six", "seven", "eight", "nine"])],
                         "six words"),
    "all_words": Fixture(16000, [Segment(list(tones.WORDS), tone_s=0.2, gap_s=0.1)],
                         "the whole vocabulary, low to high"),
    "repeated_word": Fixture(16000, [Segment(["stop", "stop", "ten"])],
                             "a word said twice in a row (gap separates them)"),
    "two_utterances": Fixture(16000, [Segment(["hello", "stop"]),
                                      Segment(["stop", "one"], silence_before_s=2.0)],
                              "two utterances 2 s apart; the second starts with the "
                              "word the first ended with"),
    "leading_silence": Fixture(16000, [Segment(["seven", "ten"], silence_before_s=3.0)],
                               "3 s of silence first (long enough for rule1 to fire "
                               "an empty endpoint)"),
    "fast_quiet": Fixture(16000, [Segment(["ten", "two", "nine", "one"],
                                          silence_before_s=0.37, tone_s=tones.MIN_TONE_S,
                                          gap_s=tones.MIN_GAP_S, amplitude=0.01)],
                          "shortest tones and gaps allowed, -40 dBFS, odd start time"),
    "three_words_8k": Fixture(8000, [Segment(["one", "two", "three"])],
                              "8 kHz input (sherpa resamples)"),
    "three_words_44k1": Fixture(44100, [Segment(["one", "two", "three"])],
                                "44.1 kHz input (sherpa resamples)"),
    "noisy": Fixture(16000, [Segment(["six", "hello", "three"], amplitude=0.1)],
                     "white noise throughout, SNR about 12 dB", noise_peak=0.03),
    "silence": Fixture(16000, [], "3 s of digital silence"),
    # --- edge cases: sample formats, channel counts, lengths ----------------
    "three_words_48k_float": Fixture(
        48000, [Segment(["one", "two", "three"])],
        "48 kHz IEEE float32 (format tag 3), samples = 16-bit rendering / 32768",
        format="float32"),
    "three_words_44k1_stereo": Fixture(
        44100, [Segment(["one", "two", "three"])],
        "44.1 kHz 16-bit stereo, the same samples in both channels",
        channels=2),
    "three_words_24bit": Fixture(
        16000, [Segment(["one", "two", "three"])],
        "16 kHz 24-bit PCM, the samples of three_words.wav * 256",
        format="pcm24"),
    "three_words_32bit": Fixture(
        16000, [Segment(["one", "two", "three"])],
        "16 kHz 32-bit integer PCM, the samples of three_words.wav * 65536",
        format="pcm32"),
    "very_short": Fixture(
        16000, [], "30 ms of faint white noise (-40 dBFS peak): less than one "
        "decode chunk, no words", noise_peak=0.01, trail_s=0.03),
    "very_long": Fixture(
        16000, [Segment(VERY_LONG_WORDS, silence_before_s=VERY_LONG_START_S)],
        "60 s: 30 s of digital silence, 'hello stop' from 30.0 s, then silence "
        "(rule1 fires empty endpoints in the silences)",
        trail_s=VERY_LONG_S - VERY_LONG_START_S - VERY_LONG_SPEECH_S),
}


def write_wav(path: Path, pcm: np.ndarray, sample_rate: int, channels: int,
              fmt: str) -> None:
    """Write int16 mono ``pcm`` in the given sample format and channel count.

    Integer formats go through the stdlib ``wave`` module (canonical 44-byte
    header, format tag 1); float32 is written by hand (tag 3, see module
    docstring).  Byte-for-byte reproducible.
    """
    pcm = np.asarray(pcm, dtype="<i2")
    if fmt == "pcm16" and channels == 1:
        tones.write_wav(path, pcm, sample_rate)  # the original writer, unchanged
        return
    if fmt == "pcm16":
        data, width = pcm.astype("<i2"), 2
    elif fmt == "pcm24":
        wide = (pcm.astype("<i4") << 8).view(np.uint8).reshape(-1, 4)
        data, width = wide[:, :3].copy(), 3   # little-endian: drop the top byte
    elif fmt == "pcm32":
        data, width = pcm.astype("<i4") << 16, 4
    elif fmt == "float32":
        data, width = (pcm.astype("<f4") / np.float32(32768.0)).astype("<f4"), 4
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    # interleave: every frame holds the same sample in each channel
    frames = np.repeat(data, channels, axis=0).tobytes()
    if fmt != "float32":
        with wave.open(str(path), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(width)
            w.setframerate(sample_rate)
            w.writeframes(frames)
        return
    block = channels * width
    fmt_chunk = struct.pack("<HHIIHHH", WAVE_FORMAT_IEEE_FLOAT, channels, sample_rate,
                            sample_rate * block, block, 8 * width, 0)
    chunks = (b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
              + b"fact" + struct.pack("<II", 4, len(pcm))
              + b"data" + struct.pack("<I", len(frames)) + frames)
    if len(frames) % 2:
        chunks += b"\0"  # RIFF chunks are word-aligned
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    entries = []
    rows = ["file\tutterance\ttranscript\tspeech_end_s\tsample_rate"]
    for name, fx in FIXTURES.items():
        sr, segments = fx.sample_rate, fx.segments
        pcm, ends = tones.render(segments, sr, trail_s=fx.trail, noise_peak=fx.noise_peak)
        fname = f"{name}.wav"
        write_wav(args.out / fname, pcm, sr, fx.channels, fx.format)
        transcripts = [" ".join(s.words) for s in segments]
        entries.append({
            "file": fname,
            "sample_rate": sr,
            "channels": fx.channels,
            "format": fx.format,
            "duration_s": round(len(pcm) / sr, 6),
            "transcripts": transcripts,
            "speech_end_s": [round(e, 6) for e in ends],
            # end of one tone to the end of the next: every endpoint rule's
            # trailing silence must exceed this by one 40 ms encoder frame
            "word_period_s": [round(s.tone_s + s.gap_s, 6) if len(s.words) > 1 else None
                              for s in segments],
            "description": fx.description,
        })
        if transcripts:
            for i, (t, e) in enumerate(zip(transcripts, ends)):
                rows.append(f"{fname}\t{i}\t{t}\t{e:.6f}\t{sr}")
        else:
            rows.append(f"{fname}\t-1\t\t\t{sr}")

    manifest = {
        "model": "synthetic tone transducer (scripts/models/make_transducer.py)",
        "vocabulary": [{"id": t.id, "word": t.word, "freq_hz": t.freq_hz,
                        "mel_bin": t.mel_bin} for t in tones.VOCAB],
        "fixtures": entries,
    }
    (args.out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for e in entries:
        layout = f"{e['format']}{'' if e['channels'] == 1 else ' x' + str(e['channels'])}"
        print(f"{e['file']:28} {e['sample_rate']:6} Hz {layout:9} {e['duration_s']:7.3f} s  "
              f"{' | '.join(e['transcripts']) or '(no speech)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
