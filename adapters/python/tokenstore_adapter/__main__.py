"""The adapter loop: one JSON request per line in, one JSON response per line out."""

import importlib
import os
import json
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, wait

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
    every field set through its setter, absent ones as None. "" stays "": the store
    gets what the caller gave, and the harness checks what it does with it."""
    token = object.__new__(OAuthToken)
    for name, setter in SETTERS.items():
        getattr(token, setter)(fields.get(name))
    user = fields.get("user_name")
    token.set_user_signature(UserSignature(user) if user is not None else None)
    return token


def from_sdk(token):
    """An OAuthToken as a protocol token, as the store left it: None is absent, and ""
    is sent as "" (the contract says a store never returns it; the harness checks)."""
    out = {}
    for name, getter in GETTERS.items():
        value = getattr(token, getter)()
        if value is not None:
            out[name] = str(value)
    signature = token.get_user_signature()
    if signature is not None and signature.get_name() is not None:
        out["user_name"] = signature.get_name()
    return {name: out[name] for name in FIELDS if name in out}


def error_kind(exc, typed):
    """The protocol error kind of an exception a store raised. The shim's own typed
    errors say their kind. An SDKException is a refusal whose kind the SDK does not
    say: "Refused", which counts where a refusal is due only for an untyped store.
    Anything else (TypeError, KeyError, a driver's IntegrityError, ...) is a failure
    of the store, "Backend": a store that crashes on an input does not pass a check
    that asks it to refuse the input."""
    if isinstance(exc, StoreError):
        return exc.kind
    if not typed and SDKException is not None and isinstance(exc, SDKException):
        return "Refused"
    return "Backend"


def error_message(exc):
    if SDKException is not None and isinstance(exc, SDKException):
        parts = [str(p) for p in (exc.code, exc.error_message, exc.details, exc.cause) if p]
        return "SDKException: " + "; ".join(parts)
    return "%s: %s" % (type(exc).__name__, exc)


class Adapter:
    """One store at a time, made from the options and constructor arguments of a
    command line; `fresh` replaces it with one made from another command line."""

    def __init__(self, argv):
        self.options = parse_options(argv)
        self.store = self.options["class"](*self.options["args"])

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
        raise InvalidRequest("unknown op %r" % (op,))

    def fresh(self, request):
        """A new store, as if this process had been started with the request's command
        line (its last words are this shim's arguments)."""
        words = request["command"][-len(sys.argv) + 1:]
        self.options = parse_options(words)
        self.store = self.options["class"](*self.options["args"])
        return {"files": self.options["files"]}


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


def crash_writer(argv, first):
    """Wait for the harness's go line on stdin, then open the store and save crash tokens
    from `first` on, printing `ack <k> <id>` after each, until killed. The harness starts
    the next writer while this one writes: everything slow (the SDK's import, the store's
    module) is done before the go, and nothing is opened before it."""
    options = parse_options(argv)
    sys.stdin.readline()
    write_crash_tokens(options, first)


def write_crash_tokens(options, first):
    store = options["class"](*options["args"])
    k = first
    while True:
        token = to_sdk(crash_token(k))
        store.save_token(token)
        sys.stdout.write("ack %d %s\n" % (k, token.get_id()))
        sys.stdout.flush()
        k += 1


def crash_server(argv):
    """The crash server (ADAPTERS.md): load the store's module and the SDK once, say
    `ready`, then fork a crash writer for each `fork <k>` (answering `pid <p>`; the writer
    prints its acks on this same stdout) and kill it on `kill <p>` (answering `exited <p>
    killed`, or how it ended if it ended on its own). At the end of input, kill the writer
    still running and exit. Each writer opens the store after the fork, as a new process
    would, and is killed with SIGKILL as one would be."""
    options = parse_options(argv)
    say("ready")
    running = []
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["fork"] and len(words) == 2:
            pid = os.fork()
            if pid == 0:
                try:
                    write_crash_tokens(options, int(words[1]))
                finally:
                    os._exit(1)
            running.append(pid)
            say("pid %d" % pid)
        elif words[:1] == ["kill"] and len(words) == 2 and int(words[1]) in running:
            pid = int(words[1])
            running.remove(pid)
            say("exited %d %s" % (pid, end_of(pid)))
    for pid in running:
        end_of(pid)
    return 0


def end_of(pid):
    """Kill the forked writer (a no-op if it already ended) and say how it ended."""
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return "killed"
    return "status %d" % status


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


USAGE = ("usage: python -m tokenstore_adapter [--durable] [--sdk-limits] [--threads N] "
         "module:Class [args...]")


def load(spec):
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise SystemExit(USAGE)
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def names_a_file(arg):
    parent = os.path.dirname(arg)
    return os.path.isfile(arg) or (parent != "" and os.path.isdir(parent)
                                   and not os.path.isdir(arg))


def parse_options(argv):
    """The shim's options, the store class, its arguments and what it declares."""
    words = list(argv)
    threads = 8
    if "--threads" in words:
        at = words.index("--threads")
        threads = int(words[at + 1])
        del words[at:at + 2]
    durable = "--durable" in words
    sdk_limits = "--sdk-limits" in words
    rest = [w for w in words if w not in ("--durable", "--sdk-limits")]
    if not rest:
        raise SystemExit(USAGE)
    store_class = load(rest[0])
    declared = getattr(store_class, "tokenstore_capabilities", {})
    args = rest[1:]
    # A durable store's constructor arguments that name files (or new files in an
    # existing directory, such as '{dir}/tokens.csv') are its files.
    files = declared.get("files") or [a for a in args if durable and names_a_file(a)]
    return {
        "class": store_class,
        "args": args,
        "threads": threads,
        "files": files,
        "capabilities": {
            "durable": bool(declared.get("durable", durable)),
            "files": files,
            "limits": declared.get("limits", SDK_LIMITS if sdk_limits else {}),
            # Web applications call the SDK's store from many threads: a store is
            # taken to be thread-safe unless it says it is not.
            "thread_safe": bool(declared.get("thread_safe", True)),
            "errors": declared.get("errors", "untyped"),
            "crash_writer": True,
            # A forked writer saves an interpreter's start at each kill; a store whose
            # module starts threads or opens connections when imported says False.
            "crash_server": bool(declared.get("crash_server", hasattr(os, "fork"))),
            "fresh": True,
        },
    }


def main(argv):
    out = sys.stdout
    lock = threading.Lock()

    def send(message):
        with lock:
            out.write(json.dumps(message, ensure_ascii=False) + "\n")
            out.flush()

    if SDK_MISSING is not None:
        send({"protocol": PROTOCOL, "error": "the Zoho SDK is not installed: " + SDK_MISSING})
        return 3
    crash_from = os.environ.get("TOKENSTORE_ADAPTER_CRASH_FROM")
    if crash_from is not None:
        crash_writer(argv, int(crash_from))
    if os.environ.get("TOKENSTORE_ADAPTER_CRASH_SERVER") is not None:
        return crash_server(argv)
    adapter = Adapter(argv)
    capabilities = adapter.options["capabilities"]
    send({"protocol": PROTOCOL, "store": adapter.options["class"].__name__,
          "capabilities": capabilities})
    typed = capabilities["errors"] == "typed"

    def answer(request, work):
        try:
            send({"id": request.get("id"), "ok": work(request)})
        except InvalidRequest as exc:
            send({"id": request.get("id"), "error": {"kind": "InvalidInput", "message": str(exc)}})
        except Exception as exc:  # the store's failure, reported, never fatal
            send({"id": request.get("id"),
                  "error": {"kind": error_kind(exc, typed), "message": error_message(exc)}})

    # A thread-safe store is called from a pool of threads, as a web application calls
    # it; one that is not is called from one thread (and the harness reports it).
    threads = adapter.options["threads"] if capabilities["thread_safe"] else 1
    pool = ThreadPoolExecutor(max_workers=max(threads, 1))
    running = []
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "fresh":
            wait(running)
            running = []
            answer(request, adapter.fresh)
            continue
        running = [f for f in running if not f.done()]
        running.append(pool.submit(answer, request, adapter.handle))
    wait(running)
    pool.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
