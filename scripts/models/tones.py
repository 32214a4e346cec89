"""The tone vocabulary shared by the synthetic transducer and its fixtures.

Each word of the vocabulary is a pure sine tone whose frequency is the centre
of one mel filter of the feature extractor sherpa-onnx runs in front of every
online transducer: 80-bin Kaldi fbank at 16 kHz, 25 ms Povey window, 10 ms
shift, mel range 20 Hz .. 7600 Hz (sample_rate/2 - 400), dither 0.  Tokens sit
on every fourth filter from bin 10 (~304 Hz) to bin 54 (~3087 Hz), so two
tokens are 4 filters (~136 mel) apart and the highest one still passes an
8 kHz recording.

Rules an utterance must follow to be recognised exactly (see README.md):

* a tone lasts at least MIN_TONE_S; tones are separated by at least
  MIN_GAP_S of digital silence (a word may be repeated: "one one" works,
  because the gap ends the first tone);
* a word is emitted when its tone *ends*, so audio must continue (silence) for
  at least one decode chunk after the last tone;
* silence is digital zeros or noise: white noise never produces a word, and
  tones are still recognised at 0 dB SNR; sounds that are neither (speech,
  chords, sweeps) are undefined behaviour.

A second vocabulary, QUESTION_WORDS ("what time is it", "what is the weather
like today", "tell me a joke"), puts other words on the *same* 12 tones: the
questions transducer (make_transducer.py --vocab questions) has the tone
transducer's graphs byte for byte and only its own tokens.txt, so token k is
the same tone in both and only its spelling differs.

``render`` turns a list of segments into 16-bit PCM and returns the exact
sample-accurate end time of each segment's last tone.  This module depends on
numpy and the standard library only.
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

# --- the feature extractor sherpa-onnx uses (features.h defaults) ----------
MODEL_SAMPLE_RATE = 16000
NUM_MEL_BINS = 80
MEL_LOW_HZ = 20.0
MEL_HIGH_HZ = MODEL_SAMPLE_RATE / 2 - 400.0  # high_freq = -400

# --- the vocabulary ----------------------------------------------------------
BLANK = "<blk>"  # id 0: sherpa-onnx's greedy search treats id 0 as blank
WORDS = (
    "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine", "ten", "hello", "stop",
)
# The questions vocabulary: the same tones (id k is mel bin 10+4(k-1) in both),
# other words.  Its questions use each word at most once in a row.
QUESTION_WORDS = (
    "what", "time", "is", "it", "the", "weather",
    "like", "today", "tell", "me", "a", "joke",
)
FIRST_BIN = 10
BIN_STEP = 4

# --- rendering defaults and limits ------------------------------------------
TONE_S = 0.30
GAP_S = 0.15
LEAD_S = 0.50
TRAIL_S = 1.50
AMPLITUDE = 0.3
RAMP_S = 0.010
MIN_TONE_S = 0.12
MIN_GAP_S = 0.08


def kaldi_mel(hz: float) -> float:
    return 1127.0 * math.log(1.0 + hz / 700.0)


def kaldi_inverse_mel(mel: float) -> float:
    return 700.0 * (math.exp(mel / 1127.0) - 1.0)


def mel_bin_center_hz(index: int) -> float:
    """Centre frequency of mel filter ``index`` (0-based) of the fbank."""
    low, high = kaldi_mel(MEL_LOW_HZ), kaldi_mel(MEL_HIGH_HZ)
    delta = (high - low) / (NUM_MEL_BINS + 1)
    return kaldi_inverse_mel(low + (index + 1) * delta)


@dataclass(frozen=True)
class Token:
    id: int  # id in tokens.txt (1-based: 0 is blank)
    word: str
    mel_bin: int
    freq_hz: float

    @property
    def symbol(self) -> str:
        # U+2581 prefix: sherpa-onnx turns it into a space, so the decoded
        # text reads " one two" (the Python API strips the leading space).
        return "\u2581" + self.word


def make_vocab(words: Sequence[str]) -> tuple[Token, ...]:
    """Word i (0-based) -> token id i+1 on mel bin FIRST_BIN + BIN_STEP*i."""
    if len(set(words)) != len(words):
        raise ValueError(f"duplicate words in {words}")
    return tuple(
        Token(
            id=i + 1,
            word=w,
            mel_bin=FIRST_BIN + BIN_STEP * i,
            freq_hz=round(mel_bin_center_hz(FIRST_BIN + BIN_STEP * i), 3),
        )
        for i, w in enumerate(words)
    )


VOCAB: tuple[Token, ...] = make_vocab(WORDS)
QUESTION_VOCAB: tuple[Token, ...] = make_vocab(QUESTION_WORDS)
# make_transducer.py --vocab NAME; every vocabulary has the tone bins.
VOCABULARIES: dict[str, tuple[Token, ...]] = {"tones": VOCAB, "questions": QUESTION_VOCAB}
assert all([(t.mel_bin, t.freq_hz) for t in v] == [(t.mel_bin, t.freq_hz) for t in VOCAB]
           for v in VOCABULARIES.values())
BY_WORD = {t.word: t for t in VOCAB}


def token(word: str, vocab: Sequence[Token] = VOCAB) -> Token:
    for t in vocab:
        if t.word == word:
            return t
    raise ValueError(f"{word!r} is not in the vocabulary "
                     f"{tuple(t.word for t in vocab)}")


def tokens_txt(vocab: Sequence[Token] = VOCAB) -> str:
    lines = [f"{BLANK} 0"] + [f"{t.symbol} {t.id}" for t in vocab]
    return "\n".join(lines) + "\n"


# --- rendering ----------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """One utterance: ``silence_before_s`` of silence, then the tones."""

    words: Sequence[str]
    silence_before_s: float = LEAD_S
    tone_s: float = TONE_S
    gap_s: float = GAP_S
    amplitude: float = AMPLITUDE


def _tone(freq_hz: float, n: int, sample_rate: int, amplitude: float,
          ramp: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64) / sample_rate
    x = amplitude * np.sin(2.0 * np.pi * freq_hz * t)
    r = min(ramp, n // 2)
    if r > 0:
        w = 0.5 - 0.5 * np.cos(np.pi * np.arange(r, dtype=np.float64) / r)
        x[:r] *= w
        x[n - r:] *= w[::-1]
    return x


def white_noise(n: int, peak: float, seed: int = 0) -> np.ndarray:
    """Reproducible uniform white noise in [-peak, peak) (RMS peak/sqrt(3)).

    A counter-based hash (splitmix64) of the sample index, so the bytes do
    not depend on numpy's random generators.
    """
    z = np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
    z = z * np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return peak * (2.0 * u - 1.0)


def render(segments: Iterable[Segment], sample_rate: int = MODEL_SAMPLE_RATE,
           trail_s: float = TRAIL_S, ramp_s: float = RAMP_S,
           noise_peak: float = 0.0, noise_seed: int = 0
           ) -> tuple[np.ndarray, list[float]]:
    """Render segments to int16 PCM.

    Returns (samples, speech_end_s) with one speech-end time per segment: the
    time of the first sample after that segment's last tone (exact: all
    durations are rounded to whole samples first).  ``noise_peak`` > 0 adds
    white noise (see white_noise) to the whole file, silences included.
    """
    parts: list[np.ndarray] = []
    ends: list[float] = []
    pos = 0
    ramp = int(round(ramp_s * sample_rate))
    for seg in segments:
        if not seg.words:
            raise ValueError("a segment needs at least one word")
        if seg.tone_s < MIN_TONE_S or (len(seg.words) > 1 and seg.gap_s < MIN_GAP_S):
            raise ValueError(f"tone >= {MIN_TONE_S}s and gap >= {MIN_GAP_S}s required")
        n_sil = int(round(seg.silence_before_s * sample_rate))
        n_tone = int(round(seg.tone_s * sample_rate))
        n_gap = int(round(seg.gap_s * sample_rate))
        parts.append(np.zeros(n_sil))
        pos += n_sil
        for i, w in enumerate(seg.words):
            if i:
                parts.append(np.zeros(n_gap))
                pos += n_gap
            tok = token(w)
            if tok.freq_hz >= 0.45 * sample_rate:
                raise ValueError(f"{w} ({tok.freq_hz} Hz) does not fit {sample_rate} Hz")
            parts.append(_tone(tok.freq_hz, n_tone, sample_rate, seg.amplitude, ramp))
            pos += n_tone
        ends.append(pos / sample_rate)
    parts.append(np.zeros(int(round(trail_s * sample_rate))))
    x = np.concatenate(parts)
    if noise_peak > 0:
        x = x + white_noise(len(x), noise_peak, noise_seed)
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    return pcm, ends


def render_words(words: Sequence[str], sample_rate: int = MODEL_SAMPLE_RATE,
                 tone_s: float = TONE_S, gap_s: float = GAP_S,
                 lead_s: float = LEAD_S, trail_s: float = TRAIL_S,
                 amplitude: float = AMPLITUDE) -> tuple[np.ndarray, float]:
    """One utterance; returns (int16 samples, speech_end_s)."""
    pcm, ends = render([Segment(words, lead_s, tone_s, gap_s, amplitude)],
                       sample_rate, trail_s)
    return pcm, ends[0]


def write_wav(path, pcm: np.ndarray, sample_rate: int) -> None:
    """Mono 16-bit PCM WAV, byte-for-byte reproducible."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())


def read_wav(path) -> tuple[np.ndarray, int]:
    """Returns (float32 samples in [-1, 1), sample_rate) of a mono 16-bit WAV."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        sr = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0, sr
