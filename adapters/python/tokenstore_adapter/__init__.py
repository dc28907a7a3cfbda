"""Drive a Zoho CRM SDK TokenStore through the tokenstore adapter protocol.

    python -m tokenstore_adapter [--durable] [--sdk-limits] module:StoreClass [ctor args...]

speaks tokenstore-adapter/1 (ADAPTERS.md in the tokenstore repository) on stdin/stdout,
so that `tokenstore check --adapter -- python -m tokenstore_adapter my_module:MyStore`
runs every check on a store written against the SDK's `TokenStore` interface.
"""

PROTOCOL = "tokenstore-adapter/1"

# The protocol's field names, in the SDK's column order.
FIELDS = (
    "id",
    "user_name",
    "client_id",
    "client_secret",
    "refresh_token",
    "access_token",
    "grant_token",
    "expiry_time",
    "redirect_url",
    "api_domain",
)


class StoreError(Exception):
    """Raise a subclass from a store written for the harness to report a typed error."""

    kind = "Backend"


class InvalidInput(StoreError):
    kind = "InvalidInput"


class LimitExceeded(StoreError):
    kind = "LimitExceeded"


class Conflict(StoreError):
    kind = "Conflict"
