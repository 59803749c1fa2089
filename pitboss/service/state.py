"""Typed application state: what handlers reach through `request.app[SERVICE]`."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiohttp import web

from engine.ingest import Ingestor
from engine.policy_manager import PolicyManager
from pitboss.service.metrics import Metrics
from pitboss.service.notifier import Notifier
from pitboss.service.settings import Settings
from regapi.keys import Keys


@dataclass
class Service:
    settings: Settings
    metrics: Metrics
    pool: asyncpg.Pool
    ingestor: Ingestor
    policies: PolicyManager
    notifier: Notifier  # call `wake()` after queueing notifications outside ingest
    keys: Keys  # personal-data key rings (regapi.keys), never stored in the database


SERVICE = web.AppKey("service", Service)
