"""``swarmrank eval QUESTIONS.jsonl --out DIR``: accuracy of a live swarm on a question set
(see :mod:`node.eval`). Without ``--address`` it starts a local swarm for the run
(:class:`~node.daemon.local.LocalSwarm`, ``--nodes``/``--backend``) and stops it after."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from node.daemon.local import LOCAL_BACKENDS

#: where a swarm started by eval keeps its nodes' keys and ledgers (kept: a rerun reuses them)
DEFAULT_EVAL_STATE_DIR = Path("~/.swarmrank/eval")
MODELS_FILE = "models.json"


def _command_line(args: argparse.Namespace) -> str:
    """The run as a command (for report.md), from the parsed arguments."""
    parts = ["swarmrank", "eval", args.questions, "--out", args.out]
    if args.address:
        for address in args.address:
            parts += ["--address", address]
    else:
        parts += ["--nodes", str(args.nodes), "--backend", args.backend]
        parts += [f"--set={item}" for item in args.set or ()]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    return " ".join(shlex.quote(p) for p in parts)


async def _start_swarm(args: argparse.Namespace) -> Any:
    from node.cli.up import EVICTION_TIMEOUT_S, READY_TIMEOUT_S
    from node.daemon.local import LocalSwarm

    swarm = LocalSwarm(
        nodes=args.nodes,
        state_dir=Path(args.state_dir),
        swarm_id="swarmrank-eval",
        backend=args.backend,
        start_gateway=False,
        ready_timeout_s=READY_TIMEOUT_S[args.backend],
        eviction_timeout_s=EVICTION_TIMEOUT_S[args.backend],
        node_args=("--set=metrics_address=", *(f"--set={item}" for item in args.set or ())),
    )
    await swarm.start()
    return swarm


async def _ask_pending(args: argparse.Namespace, todo: list[Any], total: int, out: Path) -> None:
    """Bring up (or reach) the swarm, note its models, ask ``todo`` with a progress bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from node.cli.gateway import ASK_KEY_ENV
    from node.eval.runner import ANSWERS_FILE, SwarmAsker, ask_all

    console = Console(stderr=True)
    swarm: Any = None
    if not args.address:
        console.print(f"starting a local swarm: {args.nodes} {args.backend} nodes ...")
        swarm = await _start_swarm(args)  # on failure it stops what it started
    addresses = list(args.address) if args.address else swarm.addresses
    asker = SwarmAsker(addresses, args.timeout, os.environ.get(ASK_KEY_ENV, ""))
    try:
        models_path = out / MODELS_FILE
        known = json.loads(models_path.read_text()) if models_path.exists() else {}
        known.update(await asker.node_models())
        models_path.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
        right = 0
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("asking", total=total, completed=total - len(todo))

            def advance(result: Any) -> None:
                nonlocal right
                right += int(result.swarm_correct)
                progress.update(task, advance=1, description=f"asking ({right} right this run)")

            await ask_all(todo, asker, out / ANSWERS_FILE, advance)
    finally:
        await asker.close()
        if swarm is not None:
            await swarm.stop()


def _describe_swarm(args: argparse.Namespace, models: dict[str, str]) -> str:
    mix = ", ".join(f"{n} x {m or '?'}" for m, n in sorted(Counter(models.values()).items()))
    where = (
        f"address {', '.join(args.address)}"
        if args.address
        else f"local, {args.nodes} nodes, backend {args.backend}"
    )
    return f"{where}; models: {mix or 'unknown'}"


async def _run_eval(args: argparse.Namespace) -> int:
    from node.eval.questions import load_questions
    from node.eval.runner import ANSWERS_FILE, pending_questions, read_answers, write_outputs

    questions = load_questions(Path(args.questions), args.limit)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = pending_questions(questions, read_answers(out / ANSWERS_FILE))
    print(f"{len(questions)} questions; {len(questions) - len(todo)} already answered in {out}")
    if todo:
        current = asyncio.current_task()
        # SIGTERM stops a swarm eval started cleanly, like Ctrl-C (main thread only)
        with contextlib.suppress(RuntimeError, ValueError):
            if current is not None and not args.address:
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, current.cancel)
        await _ask_pending(args, todo, len(questions), out)
    done = read_answers(out / ANSWERS_FILE)
    models_path = out / MODELS_FILE
    models = json.loads(models_path.read_text()) if models_path.exists() else {}
    meta = {
        "command": _command_line(args),
        "questions_file": args.questions,
        "swarm": _describe_swarm(args, models),
    }
    document = write_outputs(out, [done[q.id] for q in questions if q.id in done], models, meta)
    accuracy = document["accuracy"]
    print(
        f"swarm {accuracy['swarm']:.3f}, majority {accuracy['majority']:.3f}, "
        f"best single {accuracy['best_single']:.3f} over {document['questions']} questions; "
        f"results in {out}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from node.eval.questions import EvalError

    if args.address and (args.nodes_given or args.backend_given or args.set):
        raise EvalError("--address reaches a running swarm: --nodes/--backend/--set do not apply")
    try:
        return asyncio.run(_run_eval(args))
    except asyncio.CancelledError:  # SIGTERM: the swarm was stopped, answers so far are kept
        return 143


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``eval``."""
    p = subparsers.add_parser(
        "eval", help="accuracy of a swarm on a question set (swarm vs majority vs single nodes)"
    )
    p.add_argument("questions", help="question file: JSON lines {id, question, answer, aliases}")
    p.add_argument("--out", required=True, help="output directory (resumes what is there)")
    p.add_argument("--address", action="append", metavar="HOST:PORT", help="a running swarm's node")
    p.add_argument("--nodes", type=int, default=None, help="nodes of the local swarm (4)")
    p.add_argument(
        "--backend", choices=LOCAL_BACKENDS, default=None, help="local swarm backend (sim)"
    )
    p.add_argument("--limit", type=int, default=None, help="only the first K questions")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per round")
    p.add_argument("--state-dir", default=str(DEFAULT_EVAL_STATE_DIR), help="local swarm state")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a node config setting for every node of the local swarm (repeatable), e.g. "
        "round_gold_bank_file=data/questions/gold-bank.json",
    )
    p.set_defaults(handler=_with_defaults)


def _with_defaults(args: argparse.Namespace) -> int:
    args.nodes_given, args.backend_given = args.nodes is not None, args.backend is not None
    args.nodes = 4 if args.nodes is None else args.nodes
    args.backend = args.backend or "sim"
    return cmd_eval(args)
