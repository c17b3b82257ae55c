"""``docs/operator-guide.md`` works as written: every ```` ```console test ```` block's ``$``
commands run, in order, as one bash script.

The script runs in a private network namespace (its own loopback, so the guide's standard ports
7700, 9100 and 6379 are free and nothing else on the machine is touched) with ``HOME`` in a
temporary directory. A :class:`~node.testing.FakeChatServer` inside the namespace stands in for
the operator's model server: the guide's ``http://127.0.0.1:8000/v1`` is replaced by its URL,
the only rewrite. A static test also checks that each ``swarmrank`` command in the guide
parses with the real CLI parser, so a renamed flag fails fast even where namespaces are not
available.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from node.cli.main import build_parser

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operator-guide.md"
GUIDE_MODEL_URL = "http://127.0.0.1:8000/v1"
_BLOCK = re.compile(r"^```console test\n(.*?)^```", re.DOTALL | re.MULTILINE)
FAKE_MODEL_SERVER = """
import asyncio, sys
from node.testing import FakeChatServer

async def main():
    async with FakeChatServer(model="qwen2.5-7b-instruct") as server:
        print(server.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def guide_commands(markdown: str) -> list[str]:
    """The ``$`` commands of the tested console blocks, continuation lines joined."""
    commands: list[str] = []
    for block in _BLOCK.findall(markdown):
        continuing = False
        for line in block.splitlines():
            if continuing:
                commands[-1] += "\n" + line
            elif line.startswith("$ "):
                commands.append(line[2:])
            else:
                continue  # expected output, not run
            continuing = line.endswith("\\")
    return commands


def _swarmrank_argv(command: str) -> list[str] | None:
    """The argv of a plain ``swarmrank`` command, without redirections and ``&``."""
    words = shlex.split(command.replace("\\\n", " "), comments=False)
    if not words or words[0] != "swarmrank":
        return None
    argv: list[str] = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in (">", "2>", ">>"):
            skip = True
        elif word not in ("&", "&&") and not word.startswith(("$(", ">")):
            argv.append(word)
        if word == "&&":
            break
    return argv


def test_guide_commands_parse() -> None:
    commands = guide_commands(GUIDE.read_text())
    argvs = [a for c in commands if (a := _swarmrank_argv(c)) is not None]
    verbs = {" ".join(a[:2]) if a[0] in ("keys", "node", "ledger") else a[0] for a in argvs}
    assert {"keys new", "node run", "doctor", "ask", "status", "ledger verify"} <= verbs
    parser = build_parser()
    for argv in argvs:
        parser.parse_args(argv)  # exits 2 on an unknown flag
    joined = "\n".join(commands)
    for topic in ("--ray-address", "/metrics", "mv ~/.swarmrank/node.key", "ledger verify"):
        assert topic in joined, f"the guide no longer exercises {topic!r}"


def _namespace_unavailable() -> str | None:
    if not sys.platform.startswith("linux") or shutil.which("ip") is None:
        return "needs Linux with iproute2 ('ip')"
    return None


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(240)
def test_every_guide_command_runs(tmp_path: Path) -> None:
    reason = _namespace_unavailable()
    if reason is not None:
        pytest.skip(reason)
    namespace = f"srguide{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", namespace], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"'ip netns add' is not permitted here: {made.stderr.strip()}")
    work = Path(tempfile.mkdtemp(prefix="srog"))  # short: Ray's unix socket paths are limited
    (work / "home").mkdir()
    fake: subprocess.Popen[str] | None = None
    try:
        subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"], check=True)
        venv_bin = str(Path(sys.executable).parent)
        env = {
            "HOME": str(work / "home"),
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "PYTHONPATH": str(ROOT),
            "RAY_TMPDIR": str(work),  # Ray's session files stay out of the shared /tmp/ray
            "LANG": "C.UTF-8",
        }
        fake = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", FAKE_MODEL_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert fake.stdout is not None  # created with stdout=PIPE
        model_url = fake.stdout.readline().strip()
        assert model_url.startswith("http://127.0.0.1:"), model_url

        commands = guide_commands(GUIDE.read_text())
        lines = ["set -euo pipefail", "cd " + shlex.quote(str(work / "home"))]
        for index, command in enumerate(commands):
            lines.append(f"echo '@@@ {index}' >&2")
            lines.append(command.replace(GUIDE_MODEL_URL, model_url))
        script = work / "guide.sh"
        script.write_text("\n".join(lines) + "\n")
        started = time.monotonic()
        result = subprocess.run(
            ["ip", "netns", "exec", namespace, "bash", str(script)],
            capture_output=True,
            text=True,
            env=env,
            timeout=200,
        )
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            marks = re.findall(r"^@@@ (\d+)$", result.stderr, re.MULTILINE)
            failed = commands[int(marks[-1])] if marks else "(before the first command)"
            log = work / "home" / "node.log"
            tail = log.read_text()[-1500:] if log.exists() else ""
            pytest.fail(
                f"guide command failed (exit {result.returncode}):\n$ {failed}\n"
                f"--- stdout\n{result.stdout[-2500:]}\n--- stderr\n{result.stderr[-2500:]}\n"
                f"--- node.log\n{tail}"
            )
        out = result.stdout
        assert "doctor: 0 failed" in out
        assert out.count("doctor: 0 failed") == 3  # stand-alone, joined, after key rotation
        assert "PASS  ray" in out and "PASS  registry" in out and "PASS  clock_skew" in out
        assert "PASS  numerics" in out
        assert "swarmrank_node_ledger_height" in out
        assert "Consensus answer: 42" in out and '"answer": "42"' in out  # the fake model says 42
        assert out.count(": OK,") == 2  # ledger verify before and after the upgrade
        assert elapsed < 200
    finally:
        if fake is not None and fake.stdin is not None:
            fake.stdin.close()
        _stop_namespace(namespace)
        if fake is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                fake.wait(timeout=5)
            if fake.stdout is not None:
                fake.stdout.close()
        shutil.rmtree(work, ignore_errors=True)


def _stop_namespace(namespace: str) -> None:
    """Stop the processes the guide left in our namespace (by pid; Ray's head among them),
    then delete it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        listed = subprocess.run(
            ["ip", "netns", "pids", namespace], capture_output=True, text=True
        ).stdout.split()
        for pid in map(int, listed):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while listed and time.monotonic() < deadline:
            listed = [p for p in listed if Path(f"/proc/{p}").exists()]
            time.sleep(0.1)
    subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
