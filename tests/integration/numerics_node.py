"""One swarm node in its own process, driven over stdin/stdout JSON lines, for the tests that
mix float builds (``test_mixed_numerics.py``): run it with another virtual environment's
Python (``-m tests.integration.numerics_node``) or with ``--perturb`` to make its math library
round differently.

Protocol: the node prints ``{"address", "node_id"}`` once serving; then each input line is a
command and gets one reply line: ``{"peers": [...]}`` (static membership of those addresses
and itself), ``{"cmd": "ask", "question": q}``, ``{"cmd": "head"}``, ``{"cmd": "report"}``
(rejected records, identity statuses, a full ledger replay on this build) and
``{"cmd": "stop"}``. Replies are prefixed with :data:`MARK` so stray output cannot be mistaken
for one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

MARK = "@@numerics-node "
SWARM = "numerics-test"


def trust_params() -> Any:
    from ranking.trust import TrustParams

    return TrustParams(
        n_judging=20, judging_pass=17, n_generation=5, generation_pass=3, cooldown_rounds=3
    )


def reply(data: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(data) + "\n")
    sys.stdout.flush()


async def serve(args: argparse.Namespace) -> None:
    import numpy

    from node.backends.sim import SimBackend
    from node.ledger.replay import replay_ledger
    from node.membership.static import StaticMembership, member_from_address
    from node.round.consensus import CURRENT_CONSENSUS
    from node.round.numerics import numerics_fingerprint
    from node.round.settings import RoundSettings
    from node.testing import in_process_swarm
    from protocol.signing import Verifier

    trust = trust_params()
    settings = RoundSettings(
        generate_deadline_ms=20_000,
        rank_deadline_ms=20_000,
        numerics=args.numerics,
        # the current rule (the evidence reading's posterior crosses builds too); none under 0
        consensus=CURRENT_CONSENSUS if args.numerics >= 1 else 0,
    )
    async with in_process_swarm(
        Path(args.data_dir),
        # Weak generators disagree, so rounds have several answers for the judges to rank.
        [SimBackend(seed=args.index, generation_skill=-1.0 + 0.3 * args.index)],
        swarm_id=SWARM,
        trust=trust,
        settings=settings,
        first_identity=args.index,
    ) as swarm:
        node = swarm.nodes[0]
        reply(
            {
                "address": swarm.servers[0].address,
                "node_id": node.node_id,
                "numpy": numpy.__version__,
                "fingerprint": numerics_fingerprint(),
            }
        )
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            if "peers" in command:
                verifier = Verifier(SWARM)
                members = [await member_from_address(a, verifier) for a in command["peers"]]
                node.membership = StaticMembership(members)
                reply({"members": len(members)})
            elif command["cmd"] == "ask":
                try:
                    result = await node.ask(command["question"])
                    reply({"ok": True, "answer": result.response.answer})
                except Exception as exc:  # reported to the test, which fails on it
                    reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            elif command["cmd"] == "head":
                height, head = node.store.head()
                reply({"height": height, "head": head.hex()})
            elif command["cmd"] == "report":
                try:
                    summary = replay_ledger(node.store, SWARM, trust=trust)
                    verified: Any = summary.records
                except Exception as exc:
                    verified = f"{type(exc).__name__}: {exc}"
                reply(
                    {
                        "rejected": [item.reason for item in node.store.rejected("record")],
                        "statuses": {
                            node_id: state.status
                            for node_id, state in node.state.identities.items()
                        },
                        "verified": verified,
                    }
                )
            elif command["cmd"] == "stop":
                reply({"stopped": True})
                return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--numerics", type=int, default=1)
    parser.add_argument("--perturb", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.perturb:
            from node.testing import perturbed_floats

            stack.enter_context(perturbed_floats(args.perturb))
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
