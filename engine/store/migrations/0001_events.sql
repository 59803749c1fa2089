-- Events, decisions and the idempotency record.
--
-- `events` is the system of record: the service writes an event before it answers, and
-- rebuilds its window state from this table (in `seq` order, the order it decided them)
-- when it starts. Partitioned by month of the event's time; the writer creates a
-- partition the first time it sees a month.
CREATE TABLE events (
    seq         bigint      NOT NULL,
    event_id    text        NOT NULL,
    player_id   text        NOT NULL,
    type        text        NOT NULL,
    market      text        NOT NULL,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    body        bytea       NOT NULL,  -- the event as JSON, exactly as decided
    PRIMARY KEY (seq, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX events_player_ts ON events (player_id, ts);
CREATE INDEX events_ts ON events (ts);

-- One row per decided event: the reply the client got, kept so that a retry gets the
-- same reply. Not partitioned, so `event_id` is unique across all time.
CREATE TABLE decisions (
    event_id       text        PRIMARY KEY,
    seq            bigint      NOT NULL UNIQUE,
    player_id      text        NOT NULL,
    market         text        NOT NULL,
    ts             timestamptz NOT NULL,
    action         text        NOT NULL,
    score          integer     NOT NULL,
    policy_version integer     NOT NULL,
    fingerprint    bytea       NOT NULL,  -- digest of the event, to tell a retry from a reuse
    reply          json        NOT NULL  -- text kept as sent (jsonb would reorder keys)
);
CREATE INDEX decisions_player_ts ON decisions (player_id, ts);
CREATE INDEX decisions_ts ON decisions (ts);

-- `Idempotency-Key` headers: the key, the digest of the request body, and the events
-- the request carried.
CREATE TABLE idempotency_keys (
    key         text        PRIMARY KEY,
    fingerprint bytea       NOT NULL,
    event_ids   text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Replay protection for inbound webhooks: a nonce is accepted once per provider.
CREATE TABLE webhook_nonces (
    provider text        NOT NULL,
    nonce    text        NOT NULL,
    seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, nonce)
);
CREATE INDEX webhook_nonces_seen ON webhook_nonces (seen_at);

CREATE TABLE webhook_rejections (
    id          bigserial   PRIMARY KEY,
    provider    text        NOT NULL,
    reason      text        NOT NULL,
    remote      text,
    at          timestamptz NOT NULL DEFAULT now()
);
