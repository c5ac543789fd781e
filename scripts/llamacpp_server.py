#!/usr/bin/env python3
"""Runs llama.cpp's OpenAI-compatible server (PyPI xllamacpp, a prebuilt CPU build) on a GGUF.

A real third-party server for GoAssist's remote LLM path (LLM_BASE_URL): the tests start it on
loopback, and it serves a quick local comparison with the embedded engine.

    .venv/bin/python scripts/llamacpp_server.py --model models/llm/qwen2.5-0.5b-instruct-q4_k_m.gguf

prints `listening http://HOST:PORT` once the model is loaded (`--port 0` picks a free port) and
serves until SIGTERM or SIGINT. `/v1/chat/completions`, `/v1/models`, `/health`, `/metrics`
(llamacpp:* counters) and `/slots` are llama.cpp's own.
"""

import argparse
import signal
import sys
import threading


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="path of a GGUF file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 = a free port")
    parser.add_argument("--parallel", type=int, default=4, help="sequences decoded together")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--ctx", type=int, default=4096, help="context shared by the sequences")
    args = parser.parse_args()

    try:
        import xllamacpp
    except ImportError:
        print("llamacpp_server: xllamacpp is not installed (run scripts/setup.sh)", file=sys.stderr)
        return 1

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.endpoint_metrics = True
    params.endpoint_slots = True

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = xllamacpp.Server(params)
    except Exception as error:  # the binding reports a bad model or a taken port this way
        print(f"llamacpp_server: cannot start: {error}", file=sys.stderr)
        return 1
    print(f"listening {server.listening_address}", flush=True)
    stop.wait()
    del server  # stops the server's threads before the interpreter exits
    return 0


if __name__ == "__main__":
    sys.exit(main())
