-- The regulator API (issue 6, engineer C): generated report files, the log of every
-- regulator read, and regulators' asynchronous data requests.

-- Report files, as the scheduled report jobs write them (`regapi.store.reports`).
-- The content is kept in the database rather than as a file under the data directory:
-- a report is part of the record the operator answers for, so it is backed up, replicated
-- and restored with the rows that describe it, any service process on any host can serve
-- it, and a file and its row are written in one transaction (no row naming a file that was
-- never written, no orphan file). Reports are kilobytes to tens of megabytes, far below
-- bytea's 1 GB; EXTERNAL storage keeps them uncompressed in TOAST so that a download
-- reads them a slice at a time (`substring`) instead of detoasting the whole value.
CREATE TABLE report_files (
    id           bigserial   PRIMARY KEY,
    market       text        NOT NULL,
    period_kind  text        NOT NULL CHECK (period_kind IN ('daily', 'weekly', 'monthly')),
    period_start date        NOT NULL,
    format       text        NOT NULL,
    name         text        NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$'),
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         bigint      NOT NULL CHECK (size >= 0),
    content      bytea       NOT NULL,
    generated_at timestamptz NOT NULL DEFAULT now(),
    -- A file is addressed by its period and name: /regulator/reports/{period}/{name}.
    UNIQUE (period_kind, period_start, name),
    CHECK (size = octet_length(content))
);
ALTER TABLE report_files ALTER COLUMN content SET STORAGE EXTERNAL;

-- Every request to the regulator API: who (the authenticated client), what (route and
-- parameters), when, from where (address, client certificate). Written before the
-- request is answered, so a read that could not be logged is not served; the outcome is
-- filled in once, after. Rows are never changed otherwise nor deleted (trigger below).
CREATE TABLE access_log (
    id           bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    client_id    text        NOT NULL,
    principal    text        NOT NULL,
    roles        text[]      NOT NULL,
    method       text        NOT NULL,
    route        text        NOT NULL,  -- the route's pattern, e.g. /regulator/player/{id}
    path         text        NOT NULL,
    params       jsonb       NOT NULL,  -- path and query parameters
    player_id    text,                  -- the player the request is about, if one
    remote       text,
    cert_subject text,
    request_id   text,
    status       smallint,
    duration_ms  double precision
);
CREATE INDEX access_log_at ON access_log (at, id);
CREATE INDEX access_log_player ON access_log (player_id, at) WHERE player_id IS NOT NULL;

CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.status IS NULL AND (to_jsonb(NEW) - 'status' - 'duration_ms')
                                = (to_jsonb(OLD) - 'status' - 'duration_ms') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'access_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();

-- A regulator's asynchronous request: the file is prepared in the background, then
-- POSTed to the callback with retries (an outbox, as `notifications` is).
--   queued ─► delivering ─► delivered
--      └────────┴─────────► failed
CREATE TABLE regulator_requests (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id    text        NOT NULL,
    principal    text        NOT NULL,
    type         text        NOT NULL,
    parameters   jsonb       NOT NULL,
    format       text        NOT NULL CHECK (format IN ('json', 'csv')),
    callback_url text        NOT NULL,
    state        text        NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'delivering', 'delivered', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,  -- deliveries tried
    next_attempt timestamptz NOT NULL DEFAULT now(),
    last_error   text,
    file_name    text,
    file         bytea,
    file_sha256  text,
    file_size    bigint,
    file_rows    integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    prepared_at  timestamptz,
    delivered_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX regulator_requests_due ON regulator_requests (next_attempt)
    WHERE state IN ('queued', 'delivering');

-- The logs regulators page through by time.
CREATE INDEX alerts_first_seen ON alerts (first_seen, id);
CREATE INDEX incidents_opened ON incidents (opened_at, id);
