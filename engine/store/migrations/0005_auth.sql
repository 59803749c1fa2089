-- Access: OAuth2 clients (client-credentials grant) and the keys that sign their tokens.

-- A client's secret is never stored: only its scrypt hash, with the salt and cost inside
-- the hash text (`scrypt$n$r$p$salt$hash`), so costs can be raised for new clients.
CREATE TABLE auth_clients (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    roles       text[]      NOT NULL,
    secret_hash text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz,
    CONSTRAINT auth_clients_has_roles CHECK (cardinality(roles) > 0)
);

-- Token signing keys. The private half is sealed with AES-256-GCM under a key-encryption
-- key kept outside the database (a file), so a dump or a backup cannot mint tokens.
-- One key is current (signs); a superseded key still verifies the tokens it signed until
-- they expire; a retired key verifies nothing.
CREATE TABLE auth_signing_keys (
    kid           text        PRIMARY KEY,
    alg           text        NOT NULL,
    public_jwk    jsonb       NOT NULL,
    private_enc   bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    superseded_at timestamptz,
    retired_at    timestamptz
);
-- At most one current key, even with two rotations racing.
CREATE UNIQUE INDEX auth_signing_keys_one_current ON auth_signing_keys ((true))
    WHERE superseded_at IS NULL AND retired_at IS NULL;
