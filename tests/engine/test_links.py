"""Links between players who share a device or a payment instrument (union-find)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.events import BaseEvent, Bet, Deposit, Login
from engine.links import Links


def login(player: str, device: str | None = None) -> Login:
    return Login(event_id=f"{player}-{device}", player_id=player, ts=0, market="MGA",
                 device_id=device)  # fmt: skip


def deposit(player: str, instrument: str | None = None, device: str | None = None) -> Deposit:
    return Deposit(
        event_id=f"{player}-{instrument}",
        player_id=player,
        ts=0,
        market="MGA",
        amount=100,
        currency="EUR",
        instrument_id=instrument,
        device_id=device,
    )


def linked(*events: BaseEvent) -> Links:
    links = Links()
    for e in events:
        links.observe(e)
    return links


def test_a_player_never_seen_is_alone() -> None:
    assert Links().cluster("p-1") == ("p-1", 1)


def test_a_player_alone_stays_alone_whatever_it_uses() -> None:
    links = linked(login("a", "d1"), login("a", "d2"), deposit("a", "c1"), login("a"))
    assert links.cluster("a") == ("a", 1)


def test_a_shared_device_links_players() -> None:
    links = linked(login("a", "d1"), login("b", "d1"), login("c", "d2"))
    assert links.cluster("a") == ("a", 2)
    assert links.cluster("b") == ("a", 2)
    assert links.cluster("c") == ("c", 1)


def test_a_shared_instrument_links_players() -> None:
    links = linked(deposit("a", "card-1"), deposit("b", "card-1"), deposit("c", "card-2"))
    assert links.cluster("b") == ("a", 2)
    assert links.cluster("c") == ("c", 1)


def test_events_without_an_instrument_do_not_link_by_it() -> None:
    bet = Bet(event_id="x", player_id="b", ts=0, market="MGA", amount=1, currency="EUR")
    links = linked(deposit("a"), bet, deposit("b"))
    assert links.cluster("a") == ("a", 1)
    assert links.cluster("b") == ("b", 1)


def test_links_are_transitive_across_devices_and_instruments() -> None:
    links = linked(
        login("a", "d1"),
        login("b", "d1"),
        deposit("b", "card-7"),
        deposit("c", "card-7", device="d9"),
        login("d", "d9"),
    )
    assert {links.cluster(p) for p in "abcd"} == {("a", 4)}


def test_a_device_and_a_player_with_the_same_id_are_different_things() -> None:
    links = linked(login("x"), login("b", "x"), deposit("c", "x"), login("d", "x"))
    assert links.cluster("x") == ("x", 1)
    assert links.cluster("b") == ("b", 2)  # b and d share device x
    assert links.cluster("c") == ("c", 1)  # c's card x is not device x


def test_when_clusters_merge_the_older_name_wins() -> None:
    # The younger cluster is the larger one, so union by rank makes its root the root.
    links = linked(
        login("old-1", "d-old"),
        login("old-2", "d-old"),
        *(login(f"young-{i}", "d-young") for i in range(6)),
    )
    assert links.cluster("young-3") == ("young-0", 6)
    links.observe(deposit("old-2", "card-x"))
    links.observe(deposit("young-5", "card-x"))
    assert links.cluster("young-0") == ("old-1", 8)
    assert links.cluster("old-1") == ("old-1", 8)


events = st.lists(
    st.tuples(
        st.sampled_from("abcdefgh"),
        st.sampled_from(["d1", "d2", "d3", None]),
        st.sampled_from(["c1", "c2", None]),
    ),
    max_size=30,
)


@given(events)
def test_clusters_are_the_connected_components(
    seen: list[tuple[str, str | None, str | None]],
) -> None:
    links = Links()
    edges: dict[str, set[str]] = {}
    first_seen: list[str] = []
    for player, device, card in seen:
        links.observe(deposit(player, card, device=device))
        if player not in first_seen:
            first_seen.append(player)
        node = "p:" + player
        edges.setdefault(node, set())
        for other in (f"d:{device}" if device else None, f"i:{card}" if card else None):
            if other:
                edges[node].add(other)
                edges.setdefault(other, set()).add(node)
    for player in first_seen:
        component, todo = set(), ["p:" + player]
        while todo:
            node = todo.pop()
            if node not in component:
                component.add(node)
                todo.extend(edges[node])
        players = [p for p in first_seen if "p:" + p in component]
        assert links.cluster(player) == (players[0], len(players))
