#!/usr/bin/env python3
"""Write tone-utterance WAV fixtures for the synthetic tone transducer.

    python scripts/models/make_tone_fixtures.py --out /tmp/tone-fixtures

Each WAV is mono 16-bit PCM rendered by tones.py.  Alongside them:

manifest.json  one entry per file: file, sample_rate, duration_s,
               transcripts (one string per utterance, in order),
               speech_end_s (the exact end of each utterance's last tone) and
               word_period_s (tone + gap of each utterance; null for one word).
manifest.tsv   the same, one row per utterance:
               file, utterance, transcript, speech_end_s, sample_rate
               (a silence-only file has one row with utterance -1 and an
               empty transcript).

Every file ends with TRAIL_S (2.0 s) of silence, enough for an endpoint
rule of up to ~1.6 s trailing silence to fire inside the file.  Output is
byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tones  # noqa: E402
from tones import Segment  # noqa: E402

TRAIL_S = 2.0

# name -> (sample_rate, segments, description[, noise peak])
FIXTURES: dict[str, tuple] = {
    "one_word": (16000, [Segment(["hello"])], "a single word"),
    "three_words": (16000, [Segment(["one", "two", "three"])], "three words"),
    "six_words": (16000, [Segment(["four", "five", "six", "seven", "eight", "nine"])],
                  "six words"),
    "all_words": (16000, [Segment(list(tones.WORDS), tone_s=0.2, gap_s=0.1)],
                  "the whole vocabulary, low to high"),
    "repeated_word": (16000, [Segment(["stop", "stop", "ten"])],
                      "a word said twice in a row (gap separates them)"),
    "two_utterances": (16000, [Segment(["hello", "stop"]),
                               Segment(["stop", "one"], silence_before_s=2.0)],
                       "two utterances 2 s apart; the second starts with the "
                       "word the first ended with"),
    "leading_silence": (16000, [Segment(["seven", "ten"], silence_before_s=3.0)],
                        "3 s of silence first (long enough for rule1 to fire "
                        "an empty endpoint)"),
    "fast_quiet": (16000, [Segment(["ten", "two", "nine", "one"],
                                   silence_before_s=0.37, tone_s=tones.MIN_TONE_S,
                                   gap_s=tones.MIN_GAP_S, amplitude=0.01)],
                   "shortest tones and gaps allowed, -40 dBFS, odd start time"),
    "three_words_8k": (8000, [Segment(["one", "two", "three"])],
                       "8 kHz input (sherpa resamples)"),
    "three_words_44k1": (44100, [Segment(["one", "two", "three"])],
                         "44.1 kHz input (sherpa resamples)"),
    "noisy": (16000, [Segment(["six", "hello", "three"], amplitude=0.1)],
              "white noise throughout, SNR about 12 dB", 0.03),
    "silence": (16000, [], "3 s of digital silence"),
}
SILENCE_S = 3.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    entries = []
    rows = ["file\tutterance\ttranscript\tspeech_end_s\tsample_rate"]
    for name, (sr, segments, description, *noise) in FIXTURES.items():
        noise_peak = noise[0] if noise else 0.0
        trail = TRAIL_S if segments else SILENCE_S
        pcm, ends = tones.render(segments, sr, trail_s=trail, noise_peak=noise_peak)
        fname = f"{name}.wav"
        tones.write_wav(args.out / fname, pcm, sr)
        transcripts = [" ".join(s.words) for s in segments]
        entries.append({
            "file": fname,
            "sample_rate": sr,
            "duration_s": round(len(pcm) / sr, 6),
            "transcripts": transcripts,
            "speech_end_s": [round(e, 6) for e in ends],
            # end of one tone to the end of the next: every endpoint rule's
            # trailing silence must exceed this by one 40 ms encoder frame
            "word_period_s": [round(s.tone_s + s.gap_s, 6) if len(s.words) > 1 else None
                              for s in segments],
            "description": description,
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
        print(f"{e['file']:24} {e['sample_rate']:6} Hz {e['duration_s']:7.3f} s  "
              f"{' | '.join(e['transcripts']) or '(silence)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
