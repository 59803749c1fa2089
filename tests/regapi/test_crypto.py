"""Field encryption: AES-256-GCM envelopes, key rings, rotation, key files."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from regapi.crypto import (
    KEY_BYTES,
    NONCE_BYTES,
    TAG_BYTES,
    CryptoError,
    DecryptError,
    Key,
    KeyRing,
    header_of,
    new_key,
    ring_from_json,
    ring_to_json,
    with_new_key,
)
from regapi.keys import KeySource, add_key, dev_key_path, load_keys, read_key_file

CONTEXT = b"players.email:p-1"


def ring(*ids: str, purpose: str = "pii") -> KeyRing:
    keys = [Key(i, os.urandom(KEY_BYTES)) for i in ids]
    return KeyRing(purpose, keys, ids[-1])


def test_round_trip_and_layout() -> None:
    r = ring("k1")
    blob = r.encrypt(b"alice@example.com", CONTEXT)
    assert r.decrypt(blob, CONTEXT) == b"alice@example.com"
    # version, key id length, key id, nonce, ciphertext, tag
    assert blob[0] == 1
    assert blob[1] == 2
    assert blob[2:4] == b"k1"
    assert len(blob) == 4 + NONCE_BYTES + len(b"alice@example.com") + TAG_BYTES
    assert b"alice" not in blob
    assert header_of(blob) == ("k1", 4)


def test_every_value_has_its_own_nonce() -> None:
    r = ring("k1")
    a, b = r.encrypt(b"same", CONTEXT), r.encrypt(b"same", CONTEXT)
    assert a != b
    assert a[4 : 4 + NONCE_BYTES] != b[4 : 4 + NONCE_BYTES]


def test_text_round_trip() -> None:
    r = ring("k1")
    assert r.decrypt_text(r.encrypt_text("Zoë Ångström", CONTEXT), CONTEXT) == "Zoë Ångström"
    assert r.decrypt(r.encrypt(b"", CONTEXT), CONTEXT) == b""


def test_unknown_key_id_is_refused() -> None:
    blob = ring("k1").encrypt(b"x", CONTEXT)
    with pytest.raises(DecryptError, match="no key 'k1' in the ring"):
        ring("k2").decrypt(blob, CONTEXT)


def test_the_same_id_with_other_key_material_does_not_open() -> None:
    blob = ring("k1").encrypt(b"x", CONTEXT)
    with pytest.raises(DecryptError, match="does not open"):
        ring("k1").decrypt(blob, CONTEXT)


@pytest.mark.parametrize("where", ["key id", "nonce", "ciphertext", "tag"])
def test_any_altered_byte_is_detected(where: str) -> None:
    r = ring("k1", "k2")
    blob = bytearray(r.encrypt(b"alice@example.com", CONTEXT))
    at = {"key id": 3, "nonce": 4, "ciphertext": 4 + NONCE_BYTES, "tag": len(blob) - 1}[where]
    blob[at] ^= 0x01
    with pytest.raises(DecryptError):
        r.decrypt(bytes(blob), CONTEXT)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "format version 1"),
        (b"\x02\x02k1" + bytes(40), "format version 1"),
        (b"\x01\x02k1" + bytes(10), "truncated"),
        (b"\x01\x00" + bytes(40), "truncated"),
        (b"\x01\x02\xff\xfe" + bytes(40), "malformed key id"),
    ],
)
def test_malformed_values_are_refused(blob: bytes, message: str) -> None:
    with pytest.raises(DecryptError, match=message):
        ring("k1").decrypt(blob, CONTEXT)


def test_a_value_copied_to_another_row_or_column_does_not_open() -> None:
    r = ring("k1")
    alice = r.encrypt(b"alice@example.com", b"players.email:p-1")
    with pytest.raises(DecryptError):
        r.decrypt(alice, b"players.email:p-2")  # another player's row
    with pytest.raises(DecryptError):
        r.decrypt(alice, b"players.phone:p-1")  # another column


def test_rotation_keeps_old_values_readable_and_rewrap_moves_them() -> None:
    old = ring("k1")
    blob = old.encrypt(b"alice", CONTEXT)
    rotated = with_new_key(old, "pii", Key("k2", os.urandom(KEY_BYTES)))
    assert rotated.current == "k2"
    assert rotated.decrypt(blob, CONTEXT) == b"alice"
    assert header_of(rotated.encrypt(b"bob", CONTEXT))[0] == "k2"
    assert rotated.needs_rewrap(blob)
    moved = rotated.rewrap(blob, CONTEXT)
    assert header_of(moved)[0] == "k2"
    assert not rotated.needs_rewrap(moved)
    assert rotated.rewrap(moved, CONTEXT) is moved  # already current: untouched
    # The old key retired, the rewrapped value still opens; the old one no longer does.
    retired = KeyRing("pii", [rotated.keys["k2"]], "k2")
    assert retired.decrypt(moved, CONTEXT) == b"alice"
    with pytest.raises(DecryptError, match="no key 'k1'"):
        retired.decrypt(blob, CONTEXT)
    # Rewrapping checks the binding too: a value of another row is not laundered.
    with pytest.raises(DecryptError):
        rotated.rewrap(blob, b"players.email:p-2")


def test_blind_index_is_keyed_stable_over_rotation_and_per_purpose() -> None:
    r = ring("k1")
    digest = r.blind_index("alice@example.com")
    assert len(digest) == 32
    assert digest == r.blind_index("alice@example.com")
    assert digest != r.blind_index("bob@example.com")
    assert digest != ring("k1").blind_index("alice@example.com")  # other key material
    rotated = with_new_key(r, "pii")
    assert rotated.blind_index("alice@example.com") == digest  # lookups survive rotation
    same_key = KeyRing("kyc_media", list(r.keys.values()), "k1")
    assert same_key.blind_index("alice@example.com") != digest
    # Not a bare HMAC under the encryption key: the index key is derived apart.
    import hashlib
    import hmac

    raw = hmac.new(r.keys["k1"].secret, b"alice@example.com", hashlib.sha256).digest()
    assert raw != digest


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: KeyRing("ssn", [Key("k", bytes(32))], "k"), "purpose must be"),
        (lambda: KeyRing("pii", [], "k"), "no keys"),
        (lambda: KeyRing("pii", [Key("k 1", bytes(32))], "k 1"), "is not 1-64"),
        (lambda: KeyRing("pii", [Key("k", bytes(16))], "k"), "not 32 bytes"),
        (lambda: KeyRing("pii", [Key("k", bytes(32)), Key("k", bytes(32))], "k"), "twice"),
        (lambda: KeyRing("pii", [Key("k", bytes(32))], "j"), "current key 'j'"),
        (lambda: KeyRing("pii", [Key("k", bytes(32))], "k", "j"), "index key 'j'"),
    ],
)
def test_bad_rings_are_refused(make: object, message: str) -> None:
    with pytest.raises(CryptoError, match=message):
        make()  # type: ignore[operator]


def test_keys_never_show_in_repr() -> None:
    key = new_key()
    r = KeyRing("pii", [key], key.id)
    assert base64.b64encode(key.secret).decode() not in repr(r) + repr(key)
    assert key.secret.hex() not in repr(r) + repr(key)


# --- key files ------------------------------------------------------------------------


def test_key_file_format_and_round_trip() -> None:
    r = with_new_key(with_new_key(None, "pii"), "pii")
    doc = json.loads(ring_to_json(r))
    assert doc["purpose"] == "pii"
    assert doc["current"] == r.current
    assert doc["index"] == r.index == doc["keys"][0]["id"]
    assert [k["id"] for k in doc["keys"]] == list(r.keys)
    assert all(len(base64.b64decode(k["key"])) == 32 for k in doc["keys"])
    again = ring_from_json(ring_to_json(r), "pii", source="test")
    blob = r.encrypt(b"x", CONTEXT)
    assert again.decrypt(blob, CONTEXT) == b"x"
    assert again.blind_index("a") == r.blind_index("a")


def test_the_minimal_format_of_the_brief_loads() -> None:
    secret = os.urandom(32)
    text = json.dumps({"keys": [{"id": "a", "key": base64.b64encode(secret).decode()}],
                       "current": "a"})  # fmt: skip
    r = ring_from_json(text, "kyc_media", source="env")
    assert r.current == r.index == "a"
    assert r.keys["a"].secret == secret


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "F: not JSON"),
        ("[]", "F: must be a JSON object"),
        ('{"purpose": "kyc_media", "keys": [], "current": "a"}', "holds 'kyc_media' keys"),
        ('{"keys": [], "current": "a"}', "keys must be a non-empty list"),
        ('{"keys": [1], "current": "a"}', r"keys\[0\] must be an object"),
        ('{"keys": [{"id": "a", "key": "!!"}], "current": "a"}', "key is not base64"),
        ('{"keys": [{"id": "a", "key": "AAAA"}], "current": "a"}', "not 32 bytes"),
        ('{"keys": [{"id": "a", "key": "' + "A" * 43 + '="}]}', "current must name a key"),
        ('{"keys": [{"id": "a", "key": "' + "A" * 43 + '="}], "current": "b"}', "current key"),
    ],
)
def test_bad_key_files_are_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(CryptoError, match=message) as info:
        ring_from_json(text, "pii", source="F")
    assert str(info.value).startswith("F: ")
    assert "A" * 20 not in str(info.value)  # never a key in a message


def test_add_key_creates_an_owner_only_file_and_rotates(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "pii.json"
    first = add_key(path, "pii")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    blob = first.encrypt(b"alice", CONTEXT)
    second = add_key(path, "pii")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(second.keys) == 2
    assert second.current != first.current
    assert second.index == first.index
    loaded = read_key_file(path, "pii")
    assert loaded.current == second.current
    assert loaded.decrypt(blob, CONTEXT) == b"alice"
    assert [p.name for p in path.parent.iterdir()] == ["pii.json"]  # no temporary left


def test_add_key_keeps_its_mode_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        add_key(tmp_path / "k.json", "pii")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.json").stat().st_mode) == 0o600


def test_a_file_of_the_other_purpose_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "media.json"
    add_key(path, "kyc_media")
    with pytest.raises(CryptoError, match="holds 'kyc_media' keys, not 'pii' keys"):
        read_key_file(path, "pii")
    with pytest.raises(CryptoError, match="holds 'kyc_media'"):
        add_key(path, "pii")


def test_a_file_others_may_read_is_loaded_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "pii.json"
    add_key(path, "pii")
    path.chmod(0o644)
    with capture_logs() as logs:
        read_key_file(path, "pii")
    assert [e["event"] for e in logs] == ["key_file_permissions"]
    assert logs[0]["mode"] == "0o644"


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CryptoError, match=r"nope\.json: cannot read the pii key file"):
        read_key_file(tmp_path / "nope.json", "pii")


# --- loading both rings ---------------------------------------------------------------


def _none(variable: str) -> KeySource:
    return KeySource(variable=variable)


def test_development_generates_keys_apart_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with capture_logs() as logs:
        keys = load_keys(pii=_none("P"), kyc_media=_none("M"), data_dir=data, production=False)
    events = [e["event"] for e in logs]
    assert events.count("dev_keys_generated") == 2
    assert events.count("DEVELOPMENT KEYS IN USE") == 2
    for purpose in ("pii", "kyc_media"):
        path = dev_key_path(data, purpose)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not path.resolve().is_relative_to((data / "pg").resolve())
    # KYC media under a key of its own.
    assert not {k.secret for k in keys.pii.keys.values()} & {
        k.secret for k in keys.kyc_media.keys.values()
    }
    # The next start reads the same keys (and still warns).
    with capture_logs() as logs:
        again = load_keys(pii=_none("P"), kyc_media=_none("M"), data_dir=data, production=False)
    assert again.pii.current == keys.pii.current
    assert "dev_keys_generated" not in [e["event"] for e in logs]
    assert "DEVELOPMENT KEYS IN USE" in [e["event"] for e in logs]


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(CryptoError, match="PITBOSS_PII_KEY_FILE: production needs the pii keys"):
        load_keys(
            pii=_none("PITBOSS_PII_KEY_FILE"),
            kyc_media=_none("PITBOSS_KYC_MEDIA_KEY_FILE"),
            data_dir=tmp_path,
            production=True,
        )
    assert not (tmp_path / "keys").exists()  # nothing generated


def test_keys_from_files_and_from_the_environment(tmp_path: Path) -> None:
    pii = add_key(tmp_path / "pii.json", "pii")
    media = with_new_key(None, "kyc_media")
    with capture_logs() as logs:
        keys = load_keys(
            pii=KeySource(file=tmp_path / "pii.json", variable="P"),
            kyc_media=KeySource(text=ring_to_json(media), variable="M"),
            data_dir=tmp_path / "data",
            production=True,
        )
    assert logs == []
    assert keys.pii.current == pii.current
    assert keys.kyc_media.current == media.current
    assert not (tmp_path / "data").exists()


def test_a_key_shared_by_both_purposes_is_refused(tmp_path: Path) -> None:
    key = new_key()
    pii = ring_to_json(KeyRing("pii", [key], key.id))
    media = ring_to_json(KeyRing("kyc_media", [key], key.id))
    with pytest.raises(CryptoError, match="M: KYC media must have keys of its own"):
        load_keys(
            pii=KeySource(text=pii, variable="P"),
            kyc_media=KeySource(text=media, variable="M"),
            data_dir=tmp_path,
            production=True,
        )


def test_a_key_file_inside_the_embedded_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pg" / "pii.json"
    add_key(path, "pii")
    with pytest.raises(CryptoError, match=r"P: .* inside the database's own folder"):
        load_keys(
            pii=KeySource(file=path, variable="P"),
            kyc_media=_none("M"),
            data_dir=tmp_path,
            production=False,
        )


def test_a_file_and_json_together_are_refused(tmp_path: Path) -> None:
    add_key(tmp_path / "pii.json", "pii")
    with pytest.raises(CryptoError, match="P: give the pii keys as a file or as JSON"):
        load_keys(
            pii=KeySource(file=tmp_path / "pii.json", text="{}", variable="P"),
            kyc_media=_none("M"),
            data_dir=tmp_path,
            production=False,
        )
