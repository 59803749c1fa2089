-- The regulator sandbox (issue 8): what a sandbox database was filled with. Only the
-- sandbox's own database has a row; a live database keeps the table empty.
CREATE TABLE sandbox_seed (
    one        boolean     PRIMARY KEY DEFAULT true CHECK (one),
    version    integer     NOT NULL,  -- of what a seed makes (sandbox.seed.VERSION)
    seed       bigint      NOT NULL,
    players    integer     NOT NULL,
    days       integer     NOT NULL,
    start      date        NOT NULL,
    events     bigint      NOT NULL,
    reports    integer     NOT NULL,
    seeded_at  timestamptz NOT NULL DEFAULT now()
);
