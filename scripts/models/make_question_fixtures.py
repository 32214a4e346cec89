#!/usr/bin/env python3
"""Write gated question fixtures for the synthetic "questions" transducer.

    python scripts/models/make_question_fixtures.py --out /tmp/question-fixtures

The questions transducer (``make_transducer.py --vocab questions``) is the
tone transducer with another tokens.txt: the same 12 tones spell what, time,
is, it, the, weather, like, today, tell, me, a, joke (tones.QUESTION_VOCAB).
Each file here is built exactly like make_speech_fixtures.py's
``gated_short.wav``, by its own code (``render_gated`` and ``gated_plan``):
the same whispered "psst hey" (``espeak-ng -v en-us+whisper``, peak 0.5) at
1.0 s, the first word's tone 0.02 s after the whisper starts (under the
"p-sss"), the other words from 0.10 s after it ends, one every 0.25 s
(0.15 s tones, 0.10 s gaps, amplitude 0.05), digital silence elsewhere, 5 s
in all.  So Silero VAD hears speech (the whisper), the transducer hears only
the tones, and a VAD-gated recognizer with a pre-roll decodes exactly the
question (check_gating.py --list fixtures proves it):

ask_what_time.wav  "what time is it"
ask_weather.wav    "what is the weather like today"
ask_joke.wav       "tell me a joke"

Alongside them:

manifest.json  generator, model, espeak_ng, vocabulary (id, word, freq_hz,
               mel_bin) and ``fixtures``, one entry per file with the fields
               of speech/manifest.json's ``gated`` entries: file, transcript,
               sample_rate, channels, format, duration_s, whisper_text,
               whisper_voice, whisper_start_s, whisper_end_s,
               first_tone_end_s, speech_end_s (the exact end of the last
               tone), rule2_min_s and tones.
manifest.tsv   file, transcript, speech_end_s, sample_rate, duration_s.

Byte-for-byte reproducible for a given espeak-ng build and numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_speech_fixtures as speech  # noqa: E402
import tones  # noqa: E402

WHISPER_START_S = 1.0
DURATION_S = 5.0     # >= 2.1 s of silence after the last tone of each file
# (file stem, question): the words of tones.QUESTION_WORDS.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("ask_what_time", "what time is it"),
    ("ask_weather", "what is the weather like today"),
    ("ask_joke", "tell me a joke"),
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    args = ap.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("make_question_fixtures.py: espeak-ng is not on PATH "
              "(apt-get install espeak-ng)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
        raw = speech.speak(speech.GATED_TEXT, Path(tmp), speech.GATED_VOICE)
        whisper = speech.whisper_16k(speech.trim_zeros(raw))
    entries = []
    rows = ["file\ttranscript\tspeech_end_s\tsample_rate\tduration_s"]
    for stem, question in QUESTIONS:
        plan = speech.gated_plan(tuple(question.split()))
        pcm, entry = speech.render_gated(stem, whisper, WHISPER_START_S, DURATION_S,
                                         plan, question, tones.QUESTION_VOCAB)
        tones.write_wav(args.out / entry["file"], pcm, speech.SAMPLE_RATE)
        entries.append(entry)
        rows.append("\t".join(str(entry[k]) for k in (
            "file", "transcript", "speech_end_s", "sample_rate", "duration_s")))
    manifest = {
        "generator": "scripts/models/make_question_fixtures.py",
        "model": "questions transducer (make_transducer.py --vocab questions)",
        "espeak_ng": speech.espeak_version(),
        "vocabulary": [{"id": t.id, "word": t.word, "freq_hz": t.freq_hz,
                        "mel_bin": t.mel_bin} for t in tones.QUESTION_VOCAB],
        "fixtures": entries,
    }
    (args.out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for e in entries:
        print(f"{e['file']:18} {e['duration_s']:6.3f} s  whisper "
              f"{e['whisper_start_s']:.4f}..{e['whisper_end_s']:.4f} s, tones end "
              f"{e['first_tone_end_s']:.4f} / {e['speech_end_s']:.4f} s  {e['transcript']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
