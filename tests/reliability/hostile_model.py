"""A misbehaving ``command`` model for the reliability tests (standard library only).

``hostile_model.py MODE INPUT OUTPUT [ARG]``:

* ``hang WITNESS`` — starts a child that calls ``setsid`` and sleeps (which starts a grandchild
  of its own), writes their pids, its own pid and its working folders to the JSON file
  ``WITNESS``, then sleeps for ten minutes.
* ``hang-on CASE WITNESS`` — ``hang`` on case ``CASE``, a quick valid ``idh`` answer elsewhere.
* ``daemon WITNESS`` — leaves a ``setsid`` child behind and exits with a valid answer.
* ``fail-on CASES`` — exits 2 on the comma-separated case ids, else answers a probability
  derived from the case id.
* ``flood MEGABYTES`` — prints that many MiB to stdout, then answers.
* ``probe`` — prints one JSON line saying what it could read: the files named in
  ``$PROBE_HEX`` (hex of ``os.pathsep``-separated paths, so that no raw path is on any command
  line), command lines or environments of visible processes holding ``$NEEDLE_HEX``, whether
  process ``$WATCH_PID`` is visible, a TCP connection to ``$PROBE_PORT`` on 127.0.0.1.
* ``cheat`` — looks for the bench config in its ancestors' command lines (``/proc``), reads
  the manifest it names and answers each case's true IDH status with probability 1.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def answer(output: Path, p: float = 0.5) -> None:
    (output / "predictions.json").write_text(json.dumps(
        {"idh": {"wildtype": 1.0 - p, "mutant": p}}))


def hang(input_dir: Path, output: Path, witness: Path, *, leave: bool = False) -> int:
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import os, subprocess, sys, time\n"
         "os.setsid()\n"
         "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
         "print(g.pid, flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())
    doc = {"model": os.getpid(), "child": child.pid, "grandchild": grandchild,
           "work": str(Path.cwd()), "input": str(input_dir), "output": str(output)}
    tmp = witness.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(witness)
    if leave:
        answer(output)
        return 0
    time.sleep(600)
    return 1


def _unhex(name: str) -> str:
    return bytes.fromhex(os.environ.get(name, "")).decode()


def probe(output: Path) -> int:
    found: dict[str, object] = {"readable": [], "cmdline_hits": [], "network": False}
    for path in filter(None, _unhex("PROBE_HEX").split(os.pathsep)):
        try:
            Path(path).read_bytes()
            found["readable"].append(path)  # type: ignore[union-attr]
        except OSError:
            pass
    needle = _unhex("NEEDLE_HEX")
    pids = [p for p in os.listdir("/proc") if p.isdigit()] if Path("/proc").is_dir() else []
    found["visible_pids"] = len(pids)
    found["watched_pid_visible"] = os.environ.get("WATCH_PID", "") in pids
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if needle and (needle in cmdline or needle in environ):
            found["cmdline_hits"].append(pid)  # type: ignore[union-attr]
    port = os.environ.get("PROBE_PORT")
    if port:
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=2):
                found["network"] = True
        except OSError:
            pass
    print(json.dumps(found), flush=True)
    answer(output)
    return 0


def _ancestor_configs() -> list[Path]:
    out = []
    pid = os.getppid()
    while pid > 1:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            status = Path(f"/proc/{pid}/status").read_text()
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            break
        for arg in args:
            text = arg.decode(errors="replace")
            if text.endswith((".yaml", ".yml")):
                path = Path(text) if Path(text).is_absolute() else cwd / text
                out.append(path)
        ppid = next((line.split()[1] for line in status.splitlines()
                     if line.startswith("PPid:")), "0")
        pid = int(ppid)
    return out


def cheat(input_dir: Path, output: Path) -> int:
    case_id = json.loads((input_dir / "request.json").read_text())["case_id"]
    for config in _ancestor_configs():
        try:
            text = config.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            word = line.strip().lstrip("-").strip().strip("'\"")
            if not word.endswith(".csv"):
                continue
            manifest = Path(word) if Path(word).is_absolute() else config.parent / word
            try:
                rows = list(csv.DictReader(manifest.open()))
            except OSError:
                continue
            for row in rows:
                if row.get("case_id") == case_id and row.get("idh") in ("mutant", "wildtype"):
                    print(f"cheated: {config} -> {manifest}", flush=True)
                    answer(output, 1.0 if row["idh"] == "mutant" else 0.0)
                    return 0
    print("cheat failed: no config or manifest readable", flush=True)
    answer(output, 0.5)
    return 0


def main(argv: list[str]) -> int:
    mode, input_dir, output = argv[0], Path(argv[1]), Path(argv[2])
    rest = argv[3:]
    if mode == "hang":
        return hang(input_dir, output, Path(rest[0]))
    if mode == "hang-on":
        case_id = json.loads((input_dir / "request.json").read_text())["case_id"]
        if case_id == rest[0]:
            return hang(input_dir, output, Path(rest[1]))
        answer(output)
        return 0
    if mode == "fail-on":
        case_id = json.loads((input_dir / "request.json").read_text())["case_id"]
        if case_id in rest[0].split(","):
            sys.stderr.write(f"refusing case {case_id}\n")
            return 2
        digest = hashlib.sha256(f"{case_id}/{rest[0]}".encode()).hexdigest()
        answer(output, 0.05 + 0.9 * int(digest[:8], 16) / 0xFFFFFFFF)
        return 0
    if mode == "daemon":
        return hang(input_dir, output, Path(rest[0]), leave=True)
    if mode == "flood":
        block = b"x" * (1 << 20)
        for _ in range(int(rest[0])):
            sys.stdout.buffer.write(block)
        sys.stdout.flush()
        answer(output)
        return 0
    if mode == "probe":
        return probe(output)
    if mode == "cheat":
        return cheat(input_dir, output)
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
