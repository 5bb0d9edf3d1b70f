"""Identity at the edge of each service: who calls (tokens, client certificates) and what they own."""

from shared.auth.authenticator import Authenticator, Unauthenticated
from shared.auth.caller import LOCAL, LOCAL_CALLER, Caller, current_caller, owner_key
from shared.auth.settings import AuthConfigError, AuthSettings

__all__ = [
    "LOCAL",
    "LOCAL_CALLER",
    "AuthConfigError",
    "AuthSettings",
    "Authenticator",
    "Caller",
    "Unauthenticated",
    "current_caller",
    "owner_key",
]
