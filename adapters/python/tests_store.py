"""Token stores written against the Zoho SDK's TokenStore interface, for the adapter's
tests: one that follows the contract, and several with one bug each."""

import contextlib
import functools
import itertools
import threading
import time

from zohocrmsdk.src.com.zoho.api.authenticator.store.token_store import TokenStore
from zohocrmsdk.src.com.zoho.crm.api.user_signature import UserSignature

from tokenstore_adapter import Conflict, InvalidInput

FIELDS = ("id", "user_name", "client_id", "client_secret", "refresh_token", "access_token",
          "grant_token", "expiry_time", "redirect_url", "api_domain")
GET = {"id": "get_id", "client_id": "get_client_id", "client_secret": "get_client_secret",
       "refresh_token": "get_refresh_token", "access_token": "get_access_token",
       "grant_token": "get_grant_token", "expiry_time": "get_expires_in",
       "redirect_url": "get_redirect_url", "api_domain": "get_api_domain"}
SET = {k: "s" + v[1:] for k, v in GET.items()}
KEYS = ("user_name", "access_token", "grant_token", "refresh_token")


def read(token):
    row = {k: getattr(token, g)() or None for k, g in GET.items()}
    sig = token.get_user_signature()
    row["user_name"] = (sig.get_name() or None) if sig is not None else None
    return row


def fill(token, row):
    """SDK convention: the probe's own values win, the row fills the rest."""
    for k, s in SET.items():
        if getattr(token, GET[k])() in (None, ""):
            getattr(token, s)(row.get(k))
    sig = token.get_user_signature()
    if sig is None or not sig.get_name():
        user = row.get("user_name")
        token.set_user_signature(UserSignature(user) if user else None)
    return token


def blank():
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
    t = object.__new__(OAuthToken)
    for s in SET.values():
        getattr(t, s)(None)
    t.set_user_signature(None)
    return t


def locked(method):
    """One operation at a time: the store is shared between a web application's threads."""
    @functools.wraps(method)
    def run(self, *args):
        with self.lock:
            return method(self, *args)
    return run


class ConformingStore(TokenStore):
    """The contract, in memory."""

    tokenstore_capabilities = {"durable": False, "limits": {}, "errors": "typed"}

    def __init__(self):
        self.rows = []
        self.counter = 0
        self.lock = threading.RLock()

    def equal(self, stored, wanted):
        return stored == wanted

    def candidates(self, t):
        creds = t["client_id"] and t["client_secret"]
        if t["user_name"]:
            return [("user_name", t["user_name"])]
        if t["access_token"] and not t["client_id"] and not t["client_secret"]:
            return [("access_token", t["access_token"])]
        out = []
        if creds and t["grant_token"]:
            out.append(("grant_token", t["grant_token"]))
        if creds and t["refresh_token"]:
            out.append(("refresh_token", t["refresh_token"]))
        return out

    def locate(self, t):
        for field, value in self.candidates(t):
            for i, row in enumerate(self.rows):
                if row[field] is not None and self.equal(row[field], value):
                    return i
        return None

    def no_key(self):
        return None

    @locked
    def find_token(self, token):
        t = read(token)
        if not self.candidates(t):
            return self.no_key()
        i = self.locate(t)
        return None if i is None else fill(token, self.rows[i])

    def check_unique(self, row, own):
        for field in KEYS:
            if row[field] is not None:
                for i, other in enumerate(self.rows):
                    if i != own and other[field] is not None and self.equal(other[field], row[field]):
                        raise Conflict("another token already holds this " + field)

    @locked
    def save_token(self, token):
        t = read(token)
        at = next((i for i, r in enumerate(self.rows) if t["id"] and r["id"] == t["id"]), None)
        if at is None:
            at = self.locate(t)
        if at is not None:
            row = dict(self.rows[at])
            row.update({k: v for k, v in t.items() if v is not None and k != "id"})
            self.check_unique(row, at)
            self.rows[at] = row
            token.set_id(row["id"])
            return
        if not self.candidates(t) or not (t["access_token"] or t["refresh_token"] or t["grant_token"]):
            raise InvalidInput("the token cannot be inserted: it needs a key and a token")
        self.check_unique(t, None)
        if t["id"] is None:
            t["id"] = self.new_id()
        self.rows.append(t)
        token.set_id(t["id"])

    def new_id(self):
        taken = {r["id"] for r in self.rows}
        while True:
            self.counter += 1
            if str(self.counter) not in taken:
                return str(self.counter)

    @locked
    def delete_token(self, id):
        if not id:
            raise InvalidInput("the id is empty")
        self.rows = [r for r in self.rows if r["id"] != id]

    @locked
    def get_tokens(self):
        return [fill(blank(), r) for r in self.rows]

    @locked
    def delete_tokens(self):
        self.rows = []

    @locked
    def find_token_by_id(self, id):
        if not id:
            raise InvalidInput("the id is empty")
        for r in self.rows:
            if r["id"] == id:
                return fill(blank(), r)
        return None


class CaseInsensitiveStore(ConformingStore):
    """Bug: keys compare without case, as MySQL's default collation does."""

    def equal(self, stored, wanted):
        return stored.lower() == wanted.lower()


class FirstRowStore(ConformingStore):
    """Bug: a probe with no key gets the first row (the SDK's revoke() then revokes it)."""

    def find_token(self, token):
        t = read(token)
        if not self.candidates(t):
            return fill(token, self.rows[0]) if self.rows else None
        return super().find_token(token)


class ByIdRaisesStore(ConformingStore):
    """Bug: find_token_by_id raises on an unknown id, as the SDK's own stores do."""

    def find_token_by_id(self, id):
        found = super().find_token_by_id(id)
        if found is None:
            raise KeyError("no token with id " + id)
        return found


class UnlockedStore(ConformingStore):
    """Bug: no lock. Looks for the row, then inserts: two threads saving one new user
    both insert (the second then fails on the key it cannot share)."""

    def __init__(self):
        super().__init__()
        self.lock = contextlib.nullcontext()
        self.ids = itertools.count(1)

    def locate(self, t):
        found = super().locate(t)
        time.sleep(0)  # another thread may run here, as it may at any bytecode
        return found

    def new_id(self):
        # Ids alone are drawn safely (next() on a count is atomic), so that the bug
        # is the check-then-insert only.
        taken = {r["id"] for r in list(self.rows)}
        while True:
            n = str(next(self.ids))
            if n not in taken:
                return n


class MaxIdStore(ConformingStore):
    """Bug: a new id is max(id) + 1, read before the row is written, without a lock
    around the two (the SDK DBStore's way, in Python)."""

    def __init__(self):
        super().__init__()
        self.lock = contextlib.nullcontext()

    def new_id(self):
        numbers = [int(r["id"]) for r in list(self.rows) if r["id"].isdigit()]
        time.sleep(0)
        return str(max(numbers, default=0) + 1)


class NotThreadSafeStore(ConformingStore):
    """Correct, but declares that it must not be shared between threads."""

    tokenstore_capabilities = dict(ConformingStore.tokenstore_capabilities, thread_safe=False)


class KeepsEmptyStore(ConformingStore):
    """Bug: keeps "" as a value and returns it (the SDK's FileStore writes "" for None)."""

    @locked
    def save_token(self, token):
        super().save_token(token)
        raw = {k: getattr(token, g)() for k, g in GET.items()}
        for row in self.rows:
            if row["id"] == token.get_id():
                row.update({k: v for k, v in raw.items() if v == ""})


class DeleteAllRaisesStore(ConformingStore):
    """Bug: delete_tokens raises. Every other check must still run on it."""

    def delete_tokens(self):
        raise RuntimeError("delete_tokens is broken")
