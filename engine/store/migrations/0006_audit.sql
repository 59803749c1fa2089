-- The audit trail (issue 6, engineer B): an append-only, hash-chained log of every change
-- to the entities that matter (games, payment methods, KYC states, bonus rules, limits,
-- flags, policies), sealed segments of it, their WORM exports, and versioned config.
--
-- The database itself refuses to rewrite the log: triggers raise on UPDATE, DELETE and
-- TRUNCATE, for every role, the owner and superusers included (they are ENABLE ALWAYS,
-- so `session_replication_role = replica` does not skip them either). Only a superuser who
-- disables a trigger can change a row, and `pitboss audit verify` then finds the change.
-- The hashes are computed by the service (regapi/audit/chain.py: SHA-256 over canonical
-- JSON); the database checks that each row continues the chain at its head.

-- One row per change. `id` is given by the writer under the head lock (below): 1, 2, 3…
-- without gaps, so a missing row is visible. JSON columns are `json`, not `jsonb`: `json`
-- keeps the text exactly as written (the canonical form that was hashed).
CREATE TABLE audit_log (
    id           bigint      PRIMARY KEY CHECK (id >= 1),
    at           timestamptz NOT NULL,
    actor        text        NOT NULL CHECK (actor <> ''),
    entity       text        NOT NULL CHECK (entity ~ '^[A-Za-z][A-Za-z0-9_]{0,63}$'),
    entity_id    text        NOT NULL CHECK (entity_id <> ''),
    action       text        NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    before       json,       -- NULL for a create
    after        json,       -- NULL for a delete
    patch        json        NOT NULL,  -- RFC 6902, from `before` (or {}) to `after` (or {})
    prev_hash    text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash         text        NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    -- Retention: a row is kept at least 7 years. The date is part of the hashed content,
    -- so it cannot be shortened unseen; rows leave only through audit_purge().
    retain_until timestamptz NOT NULL,
    -- Counted in UTC, whatever the session's time zone says about summer time.
    CONSTRAINT audit_log_retained_7_years CHECK (
        retain_until >= ((at AT TIME ZONE 'UTC') + interval '7 years') AT TIME ZONE 'UTC'),
    CONSTRAINT audit_log_states CHECK (
        (before IS NULL) = (action = 'create') AND (after IS NULL) = (action = 'delete'))
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id);
CREATE INDEX audit_log_at ON audit_log (at, id);

-- The chain's head: the last row and its hash. A writer locks this row FOR UPDATE before
-- it hashes its row and keeps the lock until it commits, so appends never fork the chain,
-- and the committed rows are always 1..n without a gap. It also witnesses the end of the
-- log: rows cut off the end would leave the head pointing past them.
CREATE TABLE audit_head (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id   bigint  NOT NULL,
    last_hash text    NOT NULL
);
INSERT INTO audit_head (one, last_id, last_hash) VALUES (true, 0, repeat('0', 64));

-- Closed ranges of the log. A segment's hash covers its range, the hashes at both ends,
-- the SHA-256 of its rows as canonical JSON lines (what `pitboss audit export` uploads)
-- and the previous segment's hash, so segments form a chain of their own.
CREATE TABLE audit_segments (
    id                bigint      PRIMARY KEY CHECK (id >= 1),
    first_id          bigint      NOT NULL,
    last_id           bigint      NOT NULL,
    rows              bigint      NOT NULL,
    prev_hash         text        NOT NULL,  -- the chain before the segment's first row
    first_hash        text        NOT NULL,
    last_hash         text        NOT NULL,
    lines_sha256      text        NOT NULL CHECK (lines_sha256 ~ '^[0-9a-f]{64}$'),
    prev_segment_hash text        NOT NULL,
    hash              text        NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    sealed_at         timestamptz NOT NULL,
    sealed_by         text        NOT NULL CHECK (sealed_by <> ''),
    retain_until      timestamptz NOT NULL,  -- the latest retain_until of its rows
    CHECK (last_id >= first_id AND rows = last_id - first_id + 1)
);

-- Each upload of a sealed segment to object storage under Object Lock.
CREATE TABLE audit_exports (
    id                  bigserial   PRIMARY KEY,
    segment_id          bigint      NOT NULL REFERENCES audit_segments (id),
    endpoint            text,
    bucket              text        NOT NULL,
    key                 text        NOT NULL,
    version_id          text,
    etag                text        NOT NULL,
    manifest_key        text        NOT NULL,
    manifest_version_id text,
    manifest_etag       text        NOT NULL,
    lock_mode           text        NOT NULL,
    retain_until        timestamptz NOT NULL,
    exported_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_exports_segment ON audit_exports (segment_id, bucket);

-- Segments whose rows audit_purge() removed after their retention. The segment row stays,
-- so the chain that goes on after it still verifies from its last hash.
CREATE TABLE audit_purges (
    segment_id bigint      PRIMARY KEY REFERENCES audit_segments (id),
    rows       bigint      NOT NULL,
    purged_at  timestamptz NOT NULL DEFAULT now()
);

-- Versioned configuration entities (regapi/config.py). The current document of each; its
-- history is in config_versions, one RFC 6902 patch per change, from which any version is
-- rebuilt; every change also writes an audit_log row in the same transaction.
CREATE TABLE config_entities (
    kind       text        NOT NULL
               CHECK (kind IN ('game', 'payment_method', 'bonusRule', 'limit', 'flag')),
    id         text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 1),
    document   json,       -- NULL once deleted
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text        NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE config_versions (
    kind     text        NOT NULL,
    id       text        NOT NULL,
    version  integer     NOT NULL CHECK (version >= 1),
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,
    action   text        NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    patch    json        NOT NULL,  -- from the previous version's document (or {})
    audit_id bigint      NOT NULL UNIQUE,  -- no foreign key: purged audit rows go, versions stay
    PRIMARY KEY (kind, id, version)
);

-- --- the database's refusals ---------------------------------------------------------

CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Rows of audit_log are never updated. They leave only through audit_purge(), which names
-- the segment it purges in a transaction-local setting; even then only the rows of that
-- sealed segment, past its retention, with nothing older left. Setting the variable by
-- hand gains nothing more.
CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    purging text := current_setting('pitboss.audit_purge_segment', true);
    seg audit_segments;
BEGIN
    IF coalesce(purging, '') <> '' THEN
        SELECT * INTO seg FROM audit_segments WHERE id = purging::bigint;
        IF FOUND AND OLD.id BETWEEN seg.first_id AND seg.last_id
                 AND seg.retain_until < now() AND OLD.retain_until < now()
                 AND NOT EXISTS (SELECT 1 FROM audit_log WHERE id < seg.first_id) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % of row % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'rows leave only through audit_purge(), sealed and past retention';
END $$;

-- A new row must continue the chain at its head; the head then moves to it.
CREATE FUNCTION audit_log_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head audit_head;
BEGIN
    SELECT * INTO head FROM audit_head FOR UPDATE;
    IF NEW.id <> head.last_id + 1 OR NEW.prev_hash <> head.last_hash THEN
        RAISE EXCEPTION 'audit_log row % does not continue the chain at its head (row %, %)',
            NEW.id, head.last_id, head.last_hash
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE audit_head SET last_id = NEW.id, last_hash = NEW.hash;
    RETURN NEW;
END $$;

-- The head moves only one row at a time, and only from audit_log_link().
CREATE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 AND NEW.one AND NEW.last_id = OLD.last_id + 1 THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_head moves only when audit_log grows: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- A segment starts where the last one ended, ends at a committed row, and its end hashes
-- are those of the rows it names.
CREATE FUNCTION audit_segment_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev audit_segments;
    first_row_hash text;
    last_row_hash text;
    latest timestamptz;
BEGIN
    SELECT * INTO prev FROM audit_segments ORDER BY id DESC LIMIT 1;
    IF NEW.id <> coalesce(prev.id, 0) + 1
            OR NEW.first_id <> coalesce(prev.last_id, 0) + 1
            OR NEW.prev_segment_hash <> coalesce(prev.hash, repeat('0', 64)) THEN
        RAISE EXCEPTION 'audit segment % does not follow segment %', NEW.id, prev.id
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT hash INTO first_row_hash FROM audit_log WHERE id = NEW.first_id;
    SELECT hash INTO last_row_hash FROM audit_log WHERE id = NEW.last_id;
    SELECT max(retain_until) INTO latest FROM audit_log
        WHERE id BETWEEN NEW.first_id AND NEW.last_id;
    IF first_row_hash IS DISTINCT FROM NEW.first_hash
            OR last_row_hash IS DISTINCT FROM NEW.last_hash
            OR NEW.retain_until < latest THEN
        RAISE EXCEPTION 'audit segment % does not match rows % to %',
            NEW.id, NEW.first_id, NEW.last_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

-- Statement triggers refuse even a statement that would touch no row.
CREATE TRIGGER audit_log_refuse BEFORE UPDATE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_log_guard BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
CREATE TRIGGER audit_log_link BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_link();
CREATE TRIGGER audit_head_refuse BEFORE INSERT OR DELETE OR TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_head_guard BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_segment_link BEFORE INSERT ON audit_segments
    FOR EACH ROW EXECUTE FUNCTION audit_segment_link();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_refuse;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_guard;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_link;
ALTER TABLE audit_head ENABLE ALWAYS TRIGGER audit_head_refuse;
ALTER TABLE audit_head ENABLE ALWAYS TRIGGER audit_head_guard;
ALTER TABLE audit_segments ENABLE ALWAYS TRIGGER audit_segment_link;

-- The other tables of the trail are append-only without exception: refused per
-- statement, so even one that would touch no row fails.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_segments', 'audit_exports', 'audit_purges',
                             'config_versions'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()', t || '_refuse', t);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', t, t || '_refuse');
    END LOOP;
END $$;

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, audit_head, audit_segments, audit_exports,
    audit_purges, config_versions FROM PUBLIC;

-- Remove the rows of one sealed segment whose retention has passed, oldest segment first.
-- Refused for a segment any of whose rows is younger than its retention (7 years).
CREATE FUNCTION audit_purge(segment bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    seg audit_segments;
    removed bigint;
BEGIN
    SELECT * INTO seg FROM audit_segments WHERE id = segment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no sealed audit segment %', segment USING ERRCODE = 'no_data_found';
    END IF;
    IF seg.retain_until >= now() THEN
        RAISE EXCEPTION 'audit segment % is retained until %', segment, seg.retain_until
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_purges WHERE segment_id = segment) THEN
        RAISE EXCEPTION 'audit segment % was purged already', segment
            USING ERRCODE = 'unique_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_log WHERE id < seg.first_id) THEN
        RAISE EXCEPTION 'purge the segments before audit segment % first', segment
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('pitboss.audit_purge_segment', segment::text, true);
    DELETE FROM audit_log WHERE id BETWEEN seg.first_id AND seg.last_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('pitboss.audit_purge_segment', '', true);
    INSERT INTO audit_purges (segment_id, rows) VALUES (segment, removed);
    RETURN removed;
END $$;
