"""A WhatsApp group is created for a builder whose binding asks for one, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistant.channels import ChannelError
from assistant.channels.whatsapp import WhatsAppChannel
from assistant.gateway import AllowList, Route, Router, WhatsAppGroups, declared_projects
from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.relay import Relay, stored_bindings
from assistant.store import open_store
from tests.channels.fake_neonize import WhatsAppSim
from tests.channels.waiting import eventually
from tests.workspaces import ai_workspace
from tools.opencode import OpenCodeClient

OWNER = "491701234567@s.whatsapp.net"
PROJECTLIST = """\
# Projects

```yaml
projects:
  - id: "0020"
    title: "Chat ops"
    status: implementing
    chat_binding:
      platform: whatsapp
      group_name: "0020 Chat ops builder"
      trigger: mention
      patterns: ["@builder"]
  - id: "0021"
    title: "Not started"
    status: planned
    chat_binding:
      platform: whatsapp
      group_name: "0021 builder"
  - id: "0022"
    title: "Already has a group"
    status: implementing
    chat_binding:
      platform: whatsapp
      channel_id: "120363555555555555@g.us"
```
"""


async def test_a_group_is_made_once_for_an_existing_builder_and_the_relay_knows_it(
    tmp_path: Path,
) -> None:
    root = ai_workspace(tmp_path / "ws", PROJECTLIST)
    for builder in ("0020-chat-ops", "0022-already"):
        (root / ".builders" / builder).mkdir(parents=True)
    store = open_store(tmp_path / "state")
    client = WhatsAppSim(tmp_path / "wa" / "whatsapp.db", linked=OWNER)
    channel = WhatsAppChannel(client.client, session=client.db)
    groups = WhatsAppGroups(
        channel,
        store,
        root,
        lambda: declared_projects(root / ".ai" / "projectlist.md"),
        participants=[OWNER],
    )
    # asked before the client is connected: it waits for the connection, then creates
    creating = asyncio.create_task(groups.once())
    await channel.start(nothing_to_answer)
    (made,) = await creating
    assert client.groups == [("0020 Chat ops builder", [OWNER])]
    assert (made.builder, made.chat_id, made.trigger, made.patterns) == (
        "0020-chat-ops",
        "120363000000000001@g.us",
        "mention",
        ("@builder",),
    )
    assert await groups.once() == []  # not twice
    assert len(client.groups) == 1
    assert [b.builder for b in stored_bindings(store)] == ["0020-chat-ops"]
    assert (root / ".ai" / "projectlist.md").read_text() == PROJECTLIST  # never edited

    # the relay now carries that group's traffic, and the router sends it there
    opencode = OpenCodeClient("http://127.0.0.1:9")  # not contacted by binding lookups
    relay = Relay(store, opencode, root, principals={f"whatsapp:{OWNER}"})
    group = ChatRef("whatsapp", "120363000000000001@g.us", is_direct=False)
    binding = relay.binding_for(group)
    assert binding is not None and binding.builder == "0020-chat-ops"
    router = Router(allow=AllowList.of(whatsapp=[OWNER]), relay=relay)
    said = Inbound(group, Principal("whatsapp", OWNER), "@builder run the tests")
    assert router.decide(said) is Route.RELAY
    await opencode.aclose()
    await channel.stop()
    client.close()


async def nothing_to_answer(message: Inbound) -> list[Outbound]:
    return []


LONG_NAME = """\
# Projects

```yaml
projects:
  - id: "0030"
    title: "Long"
    status: implementing
    chat_binding:
      platform: whatsapp
      group_name: "0030 the authentication rework"
```
"""


async def test_a_group_name_whatsapp_would_refuse_is_reported_once_and_never_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = ai_workspace(tmp_path / "ws", LONG_NAME)
    (root / ".builders" / "0030-long").mkdir(parents=True)
    client = WhatsAppSim(tmp_path / "wa" / "whatsapp.db", linked=OWNER)
    channel = WhatsAppChannel(client.client, session=client.db)
    await channel.start(nothing_to_answer)
    await eventually(lambda: channel.health().state == "connected")
    groups = WhatsAppGroups(
        channel,
        open_store(tmp_path / "state"),
        root,
        lambda: declared_projects(root / ".ai" / "projectlist.md"),
        participants=[OWNER],
    )
    try:
        assert await groups.once() == []
        assert await groups.once() == []
    finally:
        await channel.stop()
        client.close()
    assert client.groups == []
    refusals = [r.getMessage() for r in caplog.records if "shorten" in r.getMessage()]
    assert refusals == [
        "project 0030: WhatsApp group name '0030 the authentication rework' is 30 characters; "
        "WhatsApp allows 1 to 25; shorten chat_binding.group_name"
    ]


async def test_a_group_is_not_attempted_while_whatsapp_is_not_connected(tmp_path: Path) -> None:
    client = WhatsAppSim(tmp_path / "wa" / "whatsapp.db")  # never linked: never connects
    channel = WhatsAppChannel(client.client, session=client.db)
    await channel.start(nothing_to_answer)
    with pytest.raises(ChannelError, match="WhatsApp is not linked: group 'x' not created"):
        await channel.create_group("x", [OWNER], wait_seconds=0.1)
    await channel.stop()
    client.close()
    assert client.go.connects == 0
