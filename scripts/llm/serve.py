"""llama-cpp-python's OpenAI-compatible server, tied to the process that started it.

Usage (from the project venv, which scripts/bootstrap fills):
    .venv/bin/python scripts/llm/serve.py --model ../shared/data/llm/stories260K.gguf \
        --host 127.0.0.1 --port 8080 [any other llama_cpp.server option]

The same as `python -m llama_cpp.server`, except that it exits as soon as
its parent process does. The tests and the LLM benchmark start one server
per test binary and cannot always stop it themselves (a test binary that
panics or is killed); this way no server outlives them.
"""

import os
import sys
import threading
import time


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def main() -> None:
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from llama_cpp.server.__main__ import main as serve

    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    serve()


if __name__ == "__main__":
    main()
