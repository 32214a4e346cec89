"""The running daemon in a silent room: its CPU use and its capture callback.

Usage (from the checkout, with the project venv):
    .venv/bin/python scripts/bench/daemon_idle.py [--seconds 600] [--binary target/release/assistantd]

Starts a private PulseAudio (a null sink for the speakers, a null sink's
monitor for the microphone, fed nothing: digital silence, the VAD-gated
case), then `assistantd run` on the jarvis profile with the synthetic tone
transducer, the real Silero VAD and the real en_US-joe-medium voice, and no
model server (the warm-up fails and is logged; nobody speaks, so no turn
needs one). After a settling period it samples the daemon's CPU time (all
threads, /proc/PID/stat utime+stime) over --seconds, then stops it with
SIGTERM and reads its closing log line: how many capture callbacks ran,
their mean and longest time, and overruns/dropped frames.

Prints one JSON object and a short table. A report, not a test: it never
fails on a figure, only when a step cannot run (exit status 2).
"""

import argparse
import random
import struct
import threading
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def die(message: str) -> None:
    print(f"daemon_idle: {message}", file=sys.stderr)
    sys.exit(2)


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def thread_cpu(pid: int) -> dict:
    """CPU seconds per thread, keyed by (tid, name)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[(task.name, name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="measured time (default 600)")
    parser.add_argument("--settle", type=float, default=10.0, help="unmeasured start-up time (default 10)")
    parser.add_argument("--binary", default=str(ROOT / "target/release/assistantd"))
    parser.add_argument(
        "--noise-dbfs",
        type=float,
        default=None,
        help="feed the microphone white noise at this RMS level (a real room's noise floor, e.g. -65); default: digital silence",
    )
    args = parser.parse_args()
    binary = pathlib.Path(args.binary)
    if not binary.is_file():
        die(f"{binary} is missing: cargo build --release -p assistantd")
    for tool in ("pulseaudio", "pactl"):
        if shutil.which(tool) is None:
            die(f"{tool} is not installed (scripts/bootstrap installs it)")
    shared = pathlib.Path(os.environ.get("ASSISTANTD_SHARED_DATA", ROOT.parent / "shared/data"))
    mirror = pathlib.Path(
        os.environ.get(
            "ASSISTANTD_REGISTRY_MIRROR",
            pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "assistantd/registry-mirror",
        )
    )
    assets = run(["bash", str(ROOT / "scripts/models/ensure")]).stdout.strip()

    with tempfile.TemporaryDirectory(prefix="assistantd-idle-") as tmp:
        tmp = pathlib.Path(tmp)
        store = tmp / "models"
        for source, names in ((shared, ["silero-vad/v4"]), (mirror, ["voices/en_US-joe-medium/model", "voices/en_US-joe-medium/config"])):
            run([str(binary), "models", "fetch", *names, "--mirror", str(source), "--models-dir", str(store)])
        socket = tmp / "native"
        env = dict(os.environ, HOME=str(tmp), XDG_RUNTIME_DIR=str(tmp), XDG_CONFIG_HOME=str(tmp / "config"))
        env.pop("PULSE_SERVER", None)
        server = subprocess.Popen(
            [
                "pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--use-pid-file=no",
                "--disallow-exit", "--log-target=stderr", "--log-level=error",
                f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
                "--load=module-null-sink sink_name=speakers rate=48000 channels=2",
                "--load=module-null-sink sink_name=room rate=48000 channels=1",
            ],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )
        # The daemon keeps the caller's HOME; only the sound server is private.
        client = dict(
            os.environ,
            PULSE_SERVER=f"unix:{socket}",
            PULSE_CLIENTCONFIG=str(tmp / "client.conf"),
            XDG_RUNTIME_DIR=str(tmp),
            ASSISTANTD_LOG="warn,assistantd=info,ort=error",
        )
        feeder = None
        try:
            deadline = time.monotonic() + 20
            while subprocess.run(["pactl", "info"], env=client, capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    die("pulseaudio did not come up")
                time.sleep(0.05)
            run(["pactl", "set-default-sink", "speakers"], env=client)
            run(["pactl", "set-default-source", "room.monitor"], env=client)
            if args.noise_dbfs is not None:
                feeder = subprocess.Popen(
                    ["pacat", "--playback", "--device=room", "--format=float32le", "--channels=1", "--rate=16000", "--raw"],
                    env=client, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                )
                # Uniform noise of that RMS: amplitude a has RMS a/sqrt(3).
                amplitude = 10 ** (args.noise_dbfs / 20) * 3 ** 0.5
                rng = random.Random(7)
                block = struct.pack("<1600f", *(rng.uniform(-amplitude, amplitude) for _ in range(1600)))

                def feed() -> None:
                    try:
                        while True:
                            feeder.stdin.write(block)
                    except (BrokenPipeError, ValueError, OSError):
                        pass

                threading.Thread(target=feed, daemon=True).start()
            log = tmp / "daemon.log"
            with log.open("w") as out:
                daemon = subprocess.Popen(
                    [
                        str(binary), "run", "--log-format", "json", "--models-dir", str(store),
                        "--transducer-dir", f"{assets}/transducer", "--llm-url", "http://127.0.0.1:9",
                    ],
                    env=client, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out,
                )
            time.sleep(args.settle)
            if daemon.poll() is not None:
                die(f"the daemon exited ({daemon.returncode}):\n{log.read_text()}")
            cpu0, wall0, threads0 = cpu_seconds(daemon.pid), time.monotonic(), thread_cpu(daemon.pid)
            time.sleep(args.seconds)
            cpu1, wall1, threads1 = cpu_seconds(daemon.pid), time.monotonic(), thread_cpu(daemon.pid)
            rss_kb = next(
                (int(l.split()[1]) for l in pathlib.Path(f"/proc/{daemon.pid}/status").read_text().splitlines() if l.startswith("VmRSS:")),
                0,
            )
            daemon.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            code = daemon.wait(timeout=20)
            stop_ms = (time.monotonic() - stopped) * 1e3
        finally:
            if feeder is not None:
                feeder.kill()
            server.terminate()
            server.wait()
        capture = {}
        for line in log.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "callbacks" in record.get("fields", {}):
                capture = record["fields"]
        report = {
            "room": "digital silence" if args.noise_dbfs is None else f"white noise at {args.noise_dbfs} dBFS",
            "measured_s": round(wall1 - wall0, 1),
            "cpu_percent_of_a_core": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 2),
            "rss_mb": round(rss_kb / 1024, 1),
            "capture_callbacks": capture.get("callbacks"),
            "callback_mean_us": capture.get("callback_mean_us"),
            "callback_max_us": capture.get("callback_max_us"),
            "overruns": capture.get("overruns"),
            "frames_dropped": capture.get("frames_dropped"),
            "sigterm_to_exit_ms": round(stop_ms),
            "threads_percent": {
                f"{name} ({tid})": round(100 * (spent - threads0.get((tid, name), 0.0)) / (wall1 - wall0), 2)
                for (tid, name), spent in sorted(threads1.items(), key=lambda kv: -(kv[1] - threads0.get(kv[0], 0.0)))[:8]
            },
            "exit_status": code,
        }
        print(json.dumps(report))
        print(
            f"idle CPU ({report['room']}) {report['cpu_percent_of_a_core']} % of a core over {report['measured_s']} s "
            f"(goal: at most 2 %), RSS {report['rss_mb']} MB"
        )
        print(
            f"capture: {report['capture_callbacks']} callbacks, mean {report['callback_mean_us']} µs, "
            f"max {report['callback_max_us']} µs; {report['overruns']} overruns, {report['frames_dropped']} frames dropped"
        )
        print(f"SIGTERM to exit: {report['sigterm_to_exit_ms']} ms, status {code}")
        print("busiest threads (% of a core): " + ", ".join(f"{k} {v}" for k, v in report["threads_percent"].items()))


if __name__ == "__main__":
    main()
