"""The reference side of the LLM client benchmark: the official OpenAI Python
client (`openai`, pinned in scripts/requirements-llm.txt) streaming the same
requests from the same llama.cpp server, through the same relay.

The Rust bench (crates/assistantd/benches/llm.rs, `--reference`) starts this
script with the relay's URL and reads one JSON object from stdout:

    {"client": "openai 3.57.0", "requests": [
        {"delivered_ns": [...], "cpu_s": 0.012}, ...]}

`delivered_ns` holds, for every token with content, the CLOCK_MONOTONIC time
(`time.monotonic_ns()`, the clock Rust's `Instant` reads on Linux) at which
the client's stream iterator handed it over. `cpu_s` is this thread's CPU
time for the request (`time.thread_time()`): the client's work, as the Rust
side counts its own. The first request warms the connection and is reported
like the others; the bench leaves it out on both sides.
"""

import argparse
import json
import sys
import time

import openai


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL ending in /v1")
    parser.add_argument("--model", required=True)
    parser.add_argument("--requests", type=int, required=True, help="measured requests (one more warms up)")
    parser.add_argument("--tokens", type=int, required=True, help="max_tokens per request")
    args = parser.parse_args()

    client = openai.OpenAI(base_url=args.url, api_key="none", max_retries=0)
    requests = []
    for request in range(args.requests + 1):
        delivered = []
        cpu_before = time.thread_time()
        stream = client.chat.completions.create(
            model=args.model,
            messages=[{"role": "user", "content": f"Once upon a time, story {request}"}],
            stream=True,
            max_tokens=args.tokens,
            temperature=0.8,
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                delivered.append(time.monotonic_ns())
        requests.append({"delivered_ns": delivered, "cpu_s": time.thread_time() - cpu_before})
    json.dump({"client": f"openai {openai.__version__}", "requests": requests}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
