#!/usr/bin/env python3
"""scripts/tts/reference_phonemes.py: the reference side of the phoneme parity check.

    .venv/bin/python scripts/tts/reference_phonemes.py --voice en-us FILE [--id-map CONFIG.onnx.json]

Phonemizes every line of FILE with PyPI piper-phonemize 1.1.0 (the phonemizer
the published Piper voices were trained with; it bundles its own espeak-ng and
espeak-ng-data) and prints one JSON object per sentence on stdout:

    {"line":N,"sentence":K,"phonemes":"...","ids":[...]}

- `line` is 1-based and counts every line of FILE. Only the line terminator
  ("\\n" or "\\r\\n") is removed; the text is otherwise passed as is (no
  trimming, no Unicode normalisation).
- An empty line yields no sentence at all. piper-phonemize itself returns one
  empty sentence for "", which is not worth synthesising; every other line is
  passed through unchanged, so a line of spaces or of bare punctuation ("...",
  "?!") yields one sentence whose phonemes are "".
- `sentence` is 0-based within the line, in the order piper_phonemize.phonemize_espeak
  returns them (as `assistantd phonemize --lines --json` numbers them).
- `phonemes` is that sentence's phoneme list joined into one string (each list
  item is one Unicode code point, after piper-phonemize's NFD decomposition).
- `ids` is piper_phonemize.phoneme_ids_espeak(sentence): ^ _ then each known
  phoneme's ids followed by _, then $, with piper-phonemize's built-in id map.

With --id-map CONFIG, the ids are also computed by the same rule from the
config's `phoneme_id_map` (phonemes missing from it are skipped), and the two
must be equal: if they are not, the script stops with exit 2 and names the
line, the sentence and the phonemes on which the maps disagree.

--espeak-data DIR runs the bundled espeak-ng library on another espeak-ng-data
folder (e.g. Debian's /usr/lib/x86_64-linux-gnu/espeak-ng-data), to tell a data
difference from a code difference. It is not used by check_parity.
"""
import argparse
import json
import sys
from collections import Counter

try:
    import piper_phonemize
except ImportError:
    sys.exit("reference_phonemes.py: piper_phonemize is missing; run scripts/bootstrap "
             "and use the project venv (.venv/bin/python)")


def piper_rule_ids(phonemes, id_map):
    """Piper's phonemes_to_ids: ^ _ (ids of each known phoneme, then _) $."""
    pad = id_map["_"]
    ids = list(id_map["^"]) + list(pad)
    for p in phonemes:
        if p not in id_map:
            continue
        ids.extend(id_map[p])
        ids.extend(pad)
    ids.extend(id_map["$"])
    return ids


def map_differences(config_map, builtin_map):
    """Human-readable differences between a config's id map and piper-phonemize's."""
    out = []
    for k in sorted(set(config_map) | set(builtin_map)):
        a, b = config_map.get(k), builtin_map.get(k)
        if a != b:
            out.append(f"{k!r} (U+{' U+'.join('%04X' % ord(c) for c in k)}): config {a}, piper-phonemize {b}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voice", required=True, help="espeak-ng voice, e.g. en-us, de, fr, es")
    ap.add_argument("--id-map", metavar="CONFIG", help="Piper voice config (.onnx.json); its phoneme_id_map must give the same ids")
    ap.add_argument("--espeak-data", metavar="DIR", help="espeak-ng-data folder for the bundled library (default: the one in the wheel)")
    ap.add_argument("--verbose", action="store_true", help="list how the --id-map config's map differs from piper-phonemize's")
    ap.add_argument("file")
    args = ap.parse_args()

    config_map = None
    builtin_map = piper_phonemize.get_espeak_map()
    if args.id_map:
        with open(args.id_map, encoding="utf-8") as f:
            config_map = json.load(f)["phoneme_id_map"]
        diffs = map_differences(config_map, builtin_map)
        if diffs and args.verbose:
            # Entries only one side has matter only if a sentence uses them;
            # the per-sentence assertion below is what decides.
            print(f"reference_phonemes.py: note: the phoneme_id_map of {args.id_map} differs from "
                  f"piper-phonemize's built-in map in {len(diffs)} entries (harmless unless a "
                  f"sentence uses one):", file=sys.stderr)
            for d in diffs:
                print(f"  {d}", file=sys.stderr)

    with open(args.file, encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last line, it does not start a new one

    out = sys.stdout
    for n, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line == "":
            continue
        if args.espeak_data:
            sentences = piper_phonemize.phonemize_espeak(line, args.voice, args.espeak_data)
        else:
            sentences = piper_phonemize.phonemize_espeak(line, args.voice)
        for k, phonemes in enumerate(sentences):
            missing = Counter()
            ids = piper_phonemize.phoneme_ids_espeak(phonemes, missing)
            if config_map is not None:
                ours = piper_rule_ids(phonemes, config_map)
                if ours != ids:
                    only = sorted({p for p in phonemes if (p in config_map) != (p in builtin_map)
                                   or config_map.get(p) != builtin_map.get(p)})
                    print(f"reference_phonemes.py: {args.file}:{n} sentence {k}: the ids from "
                          f"{args.id_map} differ from phoneme_ids_espeak\n"
                          f"  phonemes:  {''.join(phonemes)}\n"
                          f"  config:    {ours}\n"
                          f"  reference: {ids}\n"
                          f"  phonemes the maps disagree on: "
                          f"{', '.join(f'{p!r} U+{ord(p):04X}' for p in only)}", file=sys.stderr)
                    sys.exit(2)
            if missing:
                print(f"reference_phonemes.py: note: {args.file}:{n} sentence {k}: phonemes without an id "
                      f"(skipped): {dict(missing)}", file=sys.stderr)
            out.write(json.dumps({"line": n, "sentence": k, "phonemes": "".join(phonemes), "ids": ids},
                                 ensure_ascii=False, separators=(",", ":")))
            out.write("\n")


if __name__ == "__main__":
    main()
