-- Scheduled regulatory reports (issue 7): the daily roll-up the reports aggregate from,
-- report runs, their deliveries, the scheduler's persisted jobs, and filed SARs.

-- Events summed per market-local day. One row per (market, day, type, kind, currency,
-- status); `kind` is what the type is broken down by (a payment's method, a bet's game
-- kind, a limit's kind, an RNG check's game, a KYC update's level), '' when nothing.
-- `regapi.reports.rollup` keeps it current incrementally: a day is recomputed whole when
-- an event for it arrives after the watermark, so weekly and monthly reports are sums of
-- days and never rescan the events of a finished day.
CREATE TABLE report_rollup (
    market   text    NOT NULL,
    day      date    NOT NULL,  -- in the market's time zone
    type     text    NOT NULL,
    kind     text    NOT NULL,
    currency text    NOT NULL,  -- '' for events without money
    status   text    NOT NULL,  -- '' when the event has none
    events   bigint  NOT NULL,
    amount   bigint  NOT NULL,  -- minor units of `currency`; 0 without money
    PRIMARY KEY (market, day, type, kind, currency, status)
);

-- The last event sequence number the roll-up has seen, and the days it has computed.
CREATE TABLE report_rollup_state (
    one       boolean     PRIMARY KEY DEFAULT true CHECK (one),
    through   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO report_rollup_state (one, through) VALUES (true, 0);

-- One generation of one market's report for one period.
--   generating ─► generated
--        └──────► failed
-- A period is generated once; a correction is a new revision with files of a new name.
CREATE TABLE report_runs (
    id           bigserial   PRIMARY KEY,
    market       text        NOT NULL,
    period_kind  text        NOT NULL CHECK (period_kind IN ('daily', 'weekly', 'monthly')),
    period_start date        NOT NULL,
    revision     integer     NOT NULL DEFAULT 1 CHECK (revision >= 1),
    trigger      text        NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    state        text        NOT NULL DEFAULT 'generating'
                 CHECK (state IN ('generating', 'generated', 'failed')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    duration_s   double precision,
    events       bigint,       -- events the financial figures sum
    files        text[],       -- the stored files' names, manifest last
    error        text
);
-- A failed run stored nothing, so its revision number is free for the retry.
CREATE UNIQUE INDEX report_runs_revision ON report_runs (market, period_kind, period_start, revision)
    WHERE state <> 'failed';
-- One run at a time per market and period: a second one waits on, then sees, the first.
CREATE UNIQUE INDEX report_runs_one_live ON report_runs (market, period_kind, period_start)
    WHERE state = 'generating';

-- Delivering a run's files: SFTP upload, then the notices (email, webhook). A notice
-- waits until the upload is sent, then is pending like any outbox row.
--   waiting ─► pending ─► sent
--      │          └─────► failed
--      └► cancelled (the upload failed: a notice would point at nothing)
CREATE TABLE report_deliveries (
    id           bigserial   PRIMARY KEY,
    run_id       bigint      NOT NULL REFERENCES report_runs (id),
    channel      text        NOT NULL CHECK (channel IN ('sftp', 'email', 'webhook')),
    target       text        NOT NULL,
    state        text        NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('waiting', 'pending', 'sent', 'failed', 'cancelled')),
    attempts     integer     NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL DEFAULT now(),
    last_error   text,
    detail       jsonb       NOT NULL DEFAULT '{}',  -- where it went: paths, message id
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_deliveries_due ON report_deliveries (next_attempt) WHERE state = 'pending';
CREATE INDEX report_deliveries_run ON report_deliveries (run_id, id);

-- APScheduler's job store (SQLAlchemyJobStore's own layout), made here so that the schema
-- is versioned with the rest; the store finds it and creates nothing.
CREATE TABLE report_schedule_jobs (
    id            varchar(191)     PRIMARY KEY,
    next_run_time double precision,
    job_state     bytea            NOT NULL
);
CREATE INDEX ix_report_schedule_jobs_next_run_time ON report_schedule_jobs (next_run_time);

-- Suspicious activity reports filed from escalated cases, as goAML XML. Never read by a
-- player-facing or regulator-facing route; rows are never changed nor deleted.
CREATE TABLE sars (
    id          bigserial   PRIMARY KEY,
    case_id     bigint      NOT NULL REFERENCES cases (id),
    market      text        NOT NULL,
    reference   text        NOT NULL UNIQUE,  -- goAML entity_reference
    report_code text        NOT NULL CHECK (report_code IN ('SAR', 'STR')),
    reason      text        NOT NULL,
    xml         bytea       NOT NULL,
    sha256      text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    filed_by    text        NOT NULL,
    filed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sars_case ON sars (case_id, id);
CREATE INDEX sars_filed ON sars (market, filed_at);

CREATE FUNCTION sars_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sars are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER sars_append_only BEFORE UPDATE OR DELETE ON sars
    FOR EACH ROW EXECUTE FUNCTION sars_append_only();
CREATE TRIGGER sars_no_truncate BEFORE TRUNCATE ON sars
    FOR EACH STATEMENT EXECUTE FUNCTION sars_append_only();
