-- Alerts: one open alert per subject (a player or a linked cluster of players) and rule
-- family within the dedup window; repeats are counted and the latest evidence kept.
CREATE TABLE alerts (
    id            bigserial   PRIMARY KEY,
    subject_kind  text        NOT NULL CHECK (subject_kind IN ('player', 'cluster')),
    subject_id    text        NOT NULL,
    player_id     text        NOT NULL,  -- the player of the latest hit
    family        text        NOT NULL,
    rules         text[]      NOT NULL,
    severity      text        NOT NULL,
    priority      smallint    NOT NULL,  -- 1 (most urgent) .. 4
    score         integer     NOT NULL,  -- highest score seen
    state         text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    repeats       integer     NOT NULL DEFAULT 1,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    first_event   text        NOT NULL,
    last_event    text        NOT NULL,
    evidence      jsonb       NOT NULL,
    case_id       bigint,
    label         text        CHECK (label IN ('true_positive', 'false_positive')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_open_subject ON alerts (subject_kind, subject_id, family) WHERE state = 'open';
CREATE INDEX alerts_player ON alerts (player_id);
CREATE INDEX alerts_case ON alerts (case_id);

CREATE TABLE cases (
    id          bigserial   PRIMARY KEY,
    title       text        NOT NULL,
    subject_kind text       NOT NULL,
    subject_id  text        NOT NULL,
    state       text        NOT NULL DEFAULT 'open',
    priority    smallint    NOT NULL,
    assignee    text,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    due_at      timestamptz NOT NULL,
    closed_at   timestamptz,
    resolution  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_state ON cases (state);
ALTER TABLE alerts ADD CONSTRAINT alerts_case_fk FOREIGN KEY (case_id) REFERENCES cases (id);

-- A case's timeline: opening, assignment, transitions, notes, evidence, alerts joined.
CREATE TABLE case_entries (
    id       bigserial   PRIMARY KEY,
    case_id  bigint      NOT NULL REFERENCES cases (id),
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text        NOT NULL,
    kind     text        NOT NULL,
    data     jsonb       NOT NULL
);
CREATE INDEX case_entries_case ON case_entries (case_id, id);

-- Restrictions placed on a player, as recorded actions.
CREATE TABLE restrictions (
    id         bigserial   PRIMARY KEY,
    player_id  text        NOT NULL,
    kind       text        NOT NULL,
    params     jsonb       NOT NULL,
    reason     text        NOT NULL,
    case_id    bigint      REFERENCES cases (id),
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    lifted_at  timestamptz,
    lifted_by  text
);
CREATE INDEX restrictions_player ON restrictions (player_id);

-- Compliance incidents, opened automatically; one open incident per kind and subject.
CREATE TABLE incidents (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,
    priority    smallint    NOT NULL,
    subject     text        NOT NULL,
    state       text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    opened_at   timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz,
    repeats     integer     NOT NULL DEFAULT 1,
    event_id    text,
    case_id     bigint,
    summary     text        NOT NULL,
    details     jsonb       NOT NULL
);
CREATE UNIQUE INDEX incidents_open ON incidents (kind, subject) WHERE state = 'open';

-- The outbox of notifications: written in the same transaction as what caused them,
-- sent afterwards with retries.
CREATE TABLE notifications (
    id            bigserial   PRIMARY KEY,
    incident_id   bigint      REFERENCES incidents (id),
    channel       text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    target        text        NOT NULL,
    payload       jsonb       NOT NULL,
    state         text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    next_attempt  timestamptz NOT NULL DEFAULT now(),
    last_error    text,
    sent_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_due ON notifications (next_attempt) WHERE state = 'pending';
