"""The personal-data key rings the service runs with, from its settings."""

from __future__ import annotations

from pitboss.service.auth import StartupRefusedError
from pitboss.service.settings import Settings
from regapi.crypto import CryptoError
from regapi.keys import Keys, KeySource, load_keys


def pii_keys(settings: Settings) -> Keys:
    """Both rings (`regapi.keys`), or `StartupRefusedError` naming the variable to fix:
    `pitboss serve` says it and stops."""
    try:
        return load_keys(
            pii=KeySource(
                file=settings.pii_key_file, text=settings.pii_keys, variable="PITBOSS_PII_KEY_FILE"
            ),
            kyc_media=KeySource(
                file=settings.kyc_media_key_file,
                text=settings.kyc_media_keys,
                variable="PITBOSS_KYC_MEDIA_KEY_FILE",
            ),
            data_dir=settings.data_dir,
            production=settings.env == "production",
        )
    except CryptoError as exc:
        raise StartupRefusedError(str(exc)) from None
