-- Policy versions: the files of a pack as uploaded, what checking them said, and which
-- version is live or running in shadow.
CREATE TABLE policy_versions (
    id          serial      PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL,
    note        text        NOT NULL DEFAULT '',
    files       jsonb       NOT NULL,  -- relative path -> text
    digest      text        NOT NULL,
    ok          boolean     NOT NULL,
    issues      jsonb       NOT NULL,
    shadow      boolean     NOT NULL DEFAULT false
);

-- Every activation, in order; the live version is the latest row.
CREATE TABLE policy_activations (
    id          serial      PRIMARY KEY,
    version_id  integer     NOT NULL REFERENCES policy_versions (id),
    at          timestamptz NOT NULL DEFAULT now(),
    by          text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('activate', 'rollback'))
);

-- What a shadow version would have decided, beside the live decision.
CREATE TABLE shadow_decisions (
    version_id  integer     NOT NULL REFERENCES policy_versions (id),
    event_id    text        NOT NULL,
    ts          timestamptz NOT NULL,
    action      text        NOT NULL,
    score       integer     NOT NULL,
    live_action text        NOT NULL,
    live_score  integer     NOT NULL,
    hits        jsonb       NOT NULL,
    PRIMARY KEY (version_id, event_id)
);
