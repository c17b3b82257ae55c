"""The product end to end: a Ray-coordinated local swarm of 5 node daemons (separate
processes, real gRPC), rounds, verifiable records, failures and restarts (issue 5).

One swarm serves the whole module; tests run in file order and the destructive ones come last.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from node.daemon.local import LocalSwarm
from node.ledger.state import apply_record
from node.membership.static import StaticMembership, member_from_address
from node.round.check import check_record
from node.round.numerics import numerics_fingerprint
from node.round.rules import CURRENT_RULES
from node.round.selection import select_participants
from node.transport.client import call_status
from protocol.hashing import payload_hash
from protocol.identity import load_identity
from protocol.signing import Envelope, Verifier, seal
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2, services_pb2_grpc

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.slow]

SWARM = "itest-swarm"
NODE_SETTINGS = (
    "--set=round_generate_deadline_ms=4000",
    "--set=round_rank_deadline_ms=4000",
    "--set=catch_up_interval_s=1",
    "--set=sim_latency_ms=300",
    "--set=metrics_address=",
    "--set=round_gold_fraction=0",  # the tests count records: no background gold rounds
)


@pytest.fixture(scope="module")
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    return asyncio.DefaultEventLoopPolicy()


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    state = tmp_path_factory.mktemp("swarm")
    local = LocalSwarm(
        nodes=5,
        state_dir=state,
        swarm_id=SWARM,
        node_args=NODE_SETTINGS,
        eviction_timeout_s=3.0,
        heartbeat_interval_s=0.5,
        ready_timeout_s=120,
        start_gateway=False,  # each test runs on its own event loop; test 2 starts one
    )
    asyncio.run(local.start())
    try:
        yield local
    finally:
        asyncio.run(local.stop())


async def ask(address: str, question: str, query_id: bytes = b"") -> services_pb2.AskResponse:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = services_pb2_grpc.SwarmServiceStub(channel)
        response: services_pb2.AskResponse = await stub.Ask(
            services_pb2.AskRequest(question=question, query_id=query_id), timeout=30
        )
        return response


async def records(address: str) -> list[Envelope]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = services_pb2_grpc.NodeServiceStub(channel)
        stream = stub.GetRecords(services_pb2.GetRecordsRequest(from_height=0), timeout=10)
        return [e async for e in stream]


async def wait_for(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def heights(addresses: list[str]) -> list[int]:
    return [int((await call_status(a)).ledger_height) for a in addresses]


def replay(envelopes: list[Envelope]) -> dict[str, float]:
    """Recompute a chain of records from scratch, as any third party can."""
    verifier = Verifier(SWARM)
    reputations: dict[str, float] = {}
    previous = b""
    for height, envelope in enumerate(envelopes):
        checked = check_record(envelope, verifier, height, previous, reputations)
        reputations = apply_record(checked, reputations)
        previous = payload_hash(envelope)
    return reputations


async def test_1_ask_record_verifies_and_recomputes_on_every_node(swarm: LocalSwarm) -> None:
    response = await ask(swarm.addresses[0], "What is 4821 x 397?")
    assert response.answer and len(response.record_id) == 32
    assert len(response.participants) >= 3 and not response.absent
    await wait_for(
        lambda: _all_at_least(swarm.addresses, response.height + 1), 20, "record on every node"
    )
    chains = [await records(a) for a in swarm.addresses]
    record_ids = {payload_hash(c[response.height]) for c in chains}
    assert record_ids == {response.record_id}  # one record, byte for byte, on every node
    for chain in chains:
        replay(chain)  # signatures, selection, clustering, ballots and winner all recompute
    winner = messages_pb2.ConsensusRecord.FromString(chains[0][response.height].payload)
    assert winner.answer == response.answer
    # Every member registered the same numerics fingerprint (one install, one machine), which
    # `swarmrank status` reports per member.
    status = await call_status(swarm.addresses[0])
    assert len(status.members) == 5
    assert {m.numerics for m in status.members} == {numerics_fingerprint()}


async def _all_at_least(addresses: list[str], height: int) -> bool:
    return all(h >= height for h in await heights(addresses))


async def test_2_openai_client_gets_the_consensus(swarm: LocalSwarm) -> None:

    from node.gateway.app import Gateway

    gateway = Gateway(swarm.addresses, timeout_s=30)
    url = await gateway.start()
    try:
        await _openai_round_trip(url)
    finally:
        await gateway.stop()


async def _openai_round_trip(url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="not-needed", max_retries=0, timeout=60)
    models = await asyncio.to_thread(client.models.list)
    assert [m.id for m in models.data] == ["swarmrank-consensus"]
    completion = await asyncio.to_thread(
        client.chat.completions.create,
        model="swarmrank-consensus",
        messages=[{"role": "user", "content": "What is 123 + 456?"}],
    )
    evidence = completion.model_extra["swarmrank"]
    assert completion.choices[0].message.content == evidence["answer"]
    assert len(bytes.fromhex(evidence["record_id"])) == 32
    assert evidence["candidates"] and evidence["participants"]


async def test_3_registry_restart_loses_no_member(swarm: LocalSwarm) -> None:
    code = (
        "import ray, json, time;"
        f"ray.init(address='{swarm.ray_address}', namespace='swarmrank', log_to_driver=False);"
        "from node.membership.registry import REGISTRY_NAMESPACE, registry_name;"
        f"a = ray.get_actor(registry_name('{SWARM}'), namespace=REGISTRY_NAMESPACE);"
        "before = ray.get(a.info.remote());"
        "ray.kill(a, no_restart=False); time.sleep(1.0);"
        "after = ray.get(a.info.remote(), timeout=60);"
        "print(json.dumps([before, after, len(ray.get(a.members.remote()))]))"
    )
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **swarm._env},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    before, after, members = json.loads(out.stdout.strip().splitlines()[-1])
    assert after["started_ms"] > before["started_ms"]  # a new actor incarnation
    assert members == 5  # membership came back from the state file
    response = await ask(swarm.addresses[1], "What is 77 + 88?")
    assert response.answer


async def test_3b_concurrent_leaders_do_not_fork_the_ledger(swarm: LocalSwarm) -> None:
    before = max(await heights(swarm.addresses))
    questions = [f"What is {i} + 100?" for i in range(3)]
    responses = await asyncio.gather(
        *(ask(swarm.addresses[i + 1], q) for i, q in enumerate(questions))
    )
    # The registry leases each height to one leader: the three rounds land at three heights.
    assert sorted(r.height for r in responses) == [before, before + 1, before + 2]
    await wait_for(lambda: _all_at_least(swarm.addresses, before + 3), 30, "all records")
    chains = [[payload_hash(e) for e in await records(a)] for a in swarm.addresses]
    assert all(chain == chains[0] for chain in chains)  # one ledger, no fork


async def _until_generator(address: str, victim: str, settings_g: int = 32) -> None:
    """Lead filler rounds at ``address`` until the (recomputable) selection at its ledger head
    makes ``victim`` a generator: the draw is seeded by the head alone
    (:mod:`node.round.rules`), so no query id can choose it."""
    for i in range(40):
        status = await call_status(address)
        pool = sorted(m.node_id for m in status.members)
        reps = {m.node_id: m.reputation for m in status.members}
        selection = select_participants(
            pool,
            [reps[p] for p in pool],
            b"",
            bytes(status.ledger_head),
            settings_g,
            32,
            height=int(status.ledger_height),
            rules=CURRENT_RULES,
        )
        if victim in selection.generator_ids:
            return
        await ask(address, f"What is {i} + 40?")
    raise AssertionError("no ledger head selects the victim")


async def test_4_sigkill_mid_round_then_eviction_restart_and_catch_up(
    swarm: LocalSwarm,
) -> None:
    leader, victim = swarm.nodes[0], swarm.nodes[4]
    await _until_generator(leader.address, victim.node_id)
    started = time.monotonic()
    round_task = asyncio.create_task(ask(leader.address, "What is 31 + 11?"))
    await asyncio.sleep(0.15)  # generation is in flight (300 ms simulated latency)
    victim.process.send_signal(signal.SIGKILL)
    response = await round_task
    elapsed = time.monotonic() - started
    assert elapsed < 4.0 + 4.0 + 2.0  # within the two phase deadlines (plus slack)
    assert victim.node_id in response.absent
    record = messages_pb2.ConsensusRecord.FromString(
        (await records(leader.address))[response.height].payload
    )
    assert victim.node_id in record.absent_ids

    async def evicted() -> bool:
        members = {m.node_id for m in (await call_status(leader.address)).members}
        return victim.node_id not in members

    await wait_for(evicted, 15, "the registry to evict the killed node")

    # While it is down the ledger moves on; then it restarts with its old data and catches up.
    await ask(swarm.addresses[1], "What is 12 + 30?")
    victim.process.wait()
    command = swarm.node_command(victim.index)
    restarted = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=victim.stderr_path.open("a"),
        text=True,
        env={**os.environ, **swarm._env},
        start_new_session=True,
    )
    victim.process = restarted
    await asyncio.to_thread(LocalSwarm._read_ready, victim, time.monotonic() + 60)

    async def caught_up() -> bool:
        hs = await heights(swarm.addresses)
        return len(set(hs)) == 1

    await wait_for(caught_up, 30, "the restarted node to catch up")

    async def readmitted() -> bool:
        # Every node's view, not only the leader's: the tables compared below are keyed by it.
        views = [{m.node_id for m in (await call_status(a)).members} for a in swarm.addresses]
        return all(victim.node_id in view for view in views)

    await wait_for(readmitted, 15, "the restarted node to be re-admitted")
    tables = [
        {m.node_id: m.reputation for m in (await call_status(a)).members} for a in swarm.addresses
    ]
    assert all(t == tables[0] for t in tables)  # reputation is a function of the ledger


async def test_5_altered_record_rejected_and_kept(swarm: LocalSwarm, tmp_path: Path) -> None:
    from node.config import NodeConfig
    from node.daemon.run import build_node
    from node.ledger.store import Store
    from node.testing import FakeBackend

    chain = await records(swarm.addresses[0])
    original = chain[0]
    record = messages_pb2.ConsensusRecord.FromString(original.payload)
    leader_node = next(n for n in swarm.nodes if n.node_id == record.leader_id)
    leader = load_identity(leader_node.data_dir / "node.key")

    def resigned(mutate: object) -> Envelope:
        altered = messages_pb2.ConsensusRecord()
        altered.CopyFrom(record)
        mutate(altered)  # type: ignore[operator]
        return seal(leader, envelope_pb2.KIND_CONSENSUS_RECORD, altered, SWARM)

    def bump_strength(r: messages_pb2.ConsensusRecord) -> None:
        # beyond the numerics tolerance (node.round.tolerance: 1e-6 relative)
        r.outcome.strengths[0] += 1e-3

    def other_winner(r: messages_pb2.ConsensusRecord) -> None:
        r.outcome.winner = (r.outcome.winner + 1) % max(2, len(r.outcome.strengths))

    def drop_ballot(r: messages_pb2.ConsensusRecord) -> None:
        del r.ballots[-1]

    def with_parameter(field: str, value: object) -> object:
        def mutate(r: messages_pb2.ConsensusRecord) -> None:
            query = messages_pb2.Query.FromString(r.query.payload)
            setattr(query.parameters, field, value)
            r.query.CopyFrom(seal(leader, envelope_pb2.KIND_QUERY, query, SWARM))

        return mutate

    variants = {
        "outcome.strengths": bump_strength,
        "outcome.winner": other_winner,
        # Every member recomputes the aggregation: a leader asking for a billion EM
        # iterations is refused before any work, not obeyed; an unknown schedule is a typed
        # rejection kept as evidence, not a crash.
        "query.parameters": with_parameter("em_iterations", 10**9),
        "query.parameters (schedule)": with_parameter("schedule", "bogus"),
    }
    if record.ballots:
        variants["absent_ids"] = drop_ballot
    config = NodeConfig(swarm_id=SWARM, data_dir=tmp_path)
    store = Store(tmp_path / "node.sqlite3")
    node = build_node(
        config, load_identity(swarm.nodes[1].data_dir / "node.key"), FakeBackend(), store
    )
    # the node knows the leader as a member: refused records of members are kept as evidence
    # (a stranger's are refused and not kept, tests/integration/test_submit_flood.py)
    node.membership = StaticMembership(
        [await member_from_address(leader_node.address, Verifier(SWARM))]
    )
    try:
        for name, mutate in variants.items():
            field = name.split(" ")[0]
            ack = await node.handle_submit_record(resigned(mutate))
            assert not ack.accepted and field in ack.reason, ack.reason
        kept = store.rejected("record")
        assert len(kept) == len(variants)
        assert all(item.envelope for item in kept)
        ack = await node.handle_submit_record(original)
        assert ack.accepted and store.head()[0] == 1
    finally:
        await node.close()
        store.close()


def test_6_ledger_verify_passes_then_fails_on_hand_edit(swarm: LocalSwarm, tmp_path: Path) -> None:
    data_dir = swarm.nodes[2].data_dir
    ok = subprocess.run(
        [sys.executable, "-m", "node.cli", "ledger", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    # A copy of the ledger, edited by hand: the answer of record 0 changed, ids left alone.
    copy = tmp_path / "edited"
    copy.mkdir()
    source = sqlite3.connect(data_dir / "node.sqlite3")
    target = sqlite3.connect(copy / "node.sqlite3")
    source.backup(target)
    source.close()
    (envelope_bytes,) = target.execute("SELECT envelope FROM ledger WHERE height = 0").fetchone()
    envelope = Envelope.FromString(envelope_bytes)
    record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
    record.answer = "an answer nobody gave"
    envelope.payload = record.SerializeToString()
    target.execute(
        "UPDATE ledger SET envelope = ? WHERE height = 0", (envelope.SerializeToString(),)
    )
    target.commit()
    target.close()
    bad = subprocess.run(
        [sys.executable, "-m", "node.cli", "ledger", "verify", "--data-dir", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "height 0" in bad.stderr and "record" in bad.stderr
