"""Players linked by what they share: a device or a payment instrument.

A union-find over players, devices and instruments, fed every event. Two players who
ever used the same device or card are in one cluster; a cluster is named by the first
player seen in it, so its name does not change as it grows (unless two named clusters
merge, when the older name wins).
"""

from __future__ import annotations

from engine.events import BaseEvent


class Links:
    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._rank: dict[str, int] = {}
        self._size: dict[str, int] = {}  # players per root
        self._name: dict[str, tuple[int, str]] = {}  # root -> (first seen order, player)
        self._order = 0

    def _find(self, node: str) -> str:
        parent = self._parent
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def _add(self, node: str, player: str | None) -> str:
        if node not in self._parent:
            self._parent[node] = node
            self._rank[node] = 0
            self._size[node] = 1 if player else 0
            if player:
                self._order += 1
                self._name[node] = (self._order, player)
            return node
        return self._find(node)

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        if self._rank[ra] < self._rank[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        if self._rank[ra] == self._rank[rb]:
            self._rank[ra] += 1
        self._size[ra] += self._size.pop(rb)
        names = [n for n in (self._name.pop(ra, None), self._name.pop(rb, None)) if n]
        if names:
            self._name[ra] = min(names)

    def observe(self, event: BaseEvent) -> None:
        """Link the event's player to its device and payment instrument, if it has them."""
        player = "p:" + event.player_id
        self._add(player, event.player_id)
        if event.device_id:
            self._union(player, self._add("d:" + event.device_id, None))
        instrument = getattr(event, "instrument_id", None)
        if instrument:
            self._union(player, self._add("i:" + instrument, None))

    def cluster(self, player_id: str) -> tuple[str, int]:
        """The cluster's name and how many players it holds (1 when the player is alone)."""
        node = "p:" + player_id
        if node not in self._parent:
            return player_id, 1
        root = self._find(node)
        return self._name[root][1], self._size[root]
