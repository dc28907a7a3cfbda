"""The adapter loop: one JSON request per line in, one JSON response per line out."""

import importlib
import os
import json
import sys
import threading

from . import FIELDS, PROTOCOL, StoreError

try:  # The SDK's classes, to build tokens exactly as the SDK builds them.
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
    from zohocrmsdk.src.com.zoho.crm.api.user_signature import UserSignature
    from zohocrmsdk.src.com.zoho.crm.api.exception.sdk_exception import SDKException
except ImportError as missing:  # pragma: no cover - reported in the handshake
    OAuthToken = UserSignature = SDKException = None
    SDK_MISSING = str(missing)
else:
    SDK_MISSING = None

SDK_LIMITS = {f: 255 for f in FIELDS}
SDK_LIMITS.update({"id": 10, "expiry_time": 20})

SETTERS = {
    "id": "set_id",
    "client_id": "set_client_id",
    "client_secret": "set_client_secret",
    "refresh_token": "set_refresh_token",
    "access_token": "set_access_token",
    "grant_token": "set_grant_token",
    "expiry_time": "set_expires_in",
    "redirect_url": "set_redirect_url",
    "api_domain": "set_api_domain",
}
GETTERS = {name: "get" + setter[3:] for name, setter in SETTERS.items()}


def to_sdk(fields):
    """A protocol token as an OAuthToken, built the way the SDK's FileStore builds one:
    every field set through its setter, absent ones as None."""
    token = object.__new__(OAuthToken)
    for name, setter in SETTERS.items():
        value = fields.get(name) or None
        getattr(token, setter)(value)
    user = fields.get("user_name") or None
    token.set_user_signature(UserSignature(user) if user is not None else None)
    return token


def from_sdk(token):
    """An OAuthToken as a protocol token; empty values are absent."""
    out = {}
    for name, getter in GETTERS.items():
        value = getattr(token, getter)()
        if value is not None and str(value) != "":
            out[name] = str(value)
    signature = token.get_user_signature()
    if signature is not None and signature.get_name():
        out["user_name"] = signature.get_name()
    return {name: out[name] for name in FIELDS if name in out}


def error_kind(exc):
    """The protocol error kind of an exception a store raised."""
    if isinstance(exc, StoreError):
        return exc.kind
    if isinstance(exc, (ValueError, TypeError)):
        return "InvalidInput"
    # A unique-key violation from a database driver (mysql-connector's IntegrityError).
    if type(exc).__name__ == "IntegrityError":
        return "Conflict"
    return "Backend"


def error_message(exc):
    if SDKException is not None and isinstance(exc, SDKException):
        parts = [str(p) for p in (exc.code, exc.error_message, exc.details, exc.cause) if p]
        return "SDKException: " + "; ".join(parts)
    return "%s: %s" % (type(exc).__name__, exc)


class Adapter:
    def __init__(self, store_class, args):
        self.store_class = store_class
        self.args = args
        self.store = store_class(*args)

    def handle(self, request):
        op = request.get("op")
        store = self.store
        if op == "find_token":
            probe = to_sdk(request.get("token") or {})
            found = store.find_token(probe)
            return None if found is None else from_sdk(found)
        if op == "save_token":
            token = to_sdk(request.get("token") or {})
            result = store.save_token(token)
            # SDK convention: the store sets the id on the token it was given.
            token_id = token.get_id()
            if token_id is None and isinstance(result, OAuthToken):
                token_id = result.get_id()
            if token_id is None:
                raise StoreError("save_token did not set the token's id")
            return str(token_id)
        if op == "delete_token":
            store.delete_token(request.get("token_id"))
            return None
        if op == "get_tokens":
            return [from_sdk(t) for t in store.get_tokens() or []]
        if op == "delete_tokens":
            store.delete_tokens()
            return None
        if op == "find_token_by_id":
            found = store.find_token_by_id(request.get("token_id"))
            return None if found is None else from_sdk(found)
        if op == "reset":
            store.delete_tokens()
            return None
        if op == "reopen":
            self.store = self.store_class(*self.args)
            return None
        raise InvalidRequest("unknown op %r" % (op,))


class InvalidRequest(Exception):
    pass


def crash_token(k):
    """The harness's k-th crash-writer token (durability.crash): user k // 2, version k % 2."""
    user, version = k // 2, k % 2
    return {
        "user_name": "crash%d@example.com" % user,
        "refresh_token": "1000.rt-crash-%d" % user,
        "access_token": "1000.at-crash-%d-v%d" % (user, version),
        "expiry_time": str(k),
    }


def crash_writer(adapter, first):
    """Save crash tokens from `first` on, printing `ack <k> <id>` after each, until killed."""
    k = first
    while True:
        token = to_sdk(crash_token(k))
        adapter.store.save_token(token)
        sys.stdout.write("ack %d %s\n" % (k, token.get_id()))
        sys.stdout.flush()
        k += 1


def load(spec):
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise SystemExit("usage: python -m tokenstore_adapter [--durable] [--sdk-limits] module:Class [args...]")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def main(argv):
    durable = "--durable" in argv
    sdk_limits = "--sdk-limits" in argv
    rest = [a for a in argv if a not in ("--durable", "--sdk-limits")]
    if not rest:
        raise SystemExit("usage: python -m tokenstore_adapter [--durable] [--sdk-limits] module:Class [args...]")
    out = sys.stdout
    lock = threading.Lock()

    def send(message):
        with lock:
            out.write(json.dumps(message, ensure_ascii=False) + "\n")
            out.flush()

    if SDK_MISSING is not None:
        send({"protocol": PROTOCOL, "error": "the Zoho SDK is not installed: " + SDK_MISSING})
        return 3
    store_class = load(rest[0])
    declared = getattr(store_class, "tokenstore_capabilities", {})
    adapter = Adapter(store_class, rest[1:])
    crash_from = os.environ.get("TOKENSTORE_ADAPTER_CRASH_FROM")
    if crash_from is not None:
        crash_writer(adapter, int(crash_from))
    # A durable store's constructor arguments that name files it created are its files.
    files = declared.get("files") or [a for a in rest[1:] if durable and os.path.isfile(a)]
    send({
        "protocol": PROTOCOL,
        "store": store_class.__name__,
        "capabilities": {
            "durable": bool(declared.get("durable", durable)),
            "files": files,
            "limits": declared.get("limits", SDK_LIMITS if sdk_limits else {}),
            "thread_safe": False,
            "crash_writer": True,
        },
    })
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            send({"id": request.get("id"), "ok": adapter.handle(request)})
        except InvalidRequest as exc:
            send({"id": request.get("id"), "error": {"kind": "InvalidInput", "message": str(exc)}})
        except Exception as exc:  # the store's failure, reported, never fatal
            send({"id": request.get("id"), "error": {"kind": error_kind(exc), "message": error_message(exc)}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
