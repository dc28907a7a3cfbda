"""A token store that follows the contract, in memory, written against the Zoho SDK's
TokenStore interface: what `pytest --tokenstore tokenstore_adapter.reference:DictStore`
passes, and a base to start a store of your own from (or to break, as the examples do)."""

import contextlib
import functools
import os
import sqlite3
import threading

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


def candidates(t):
    """The (field, value) pairs that name a token's row, tried in order (the key rules)."""
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


def insertable(t):
    """A token that names no row may be inserted if it has a key and a token."""
    return bool(candidates(t)) and bool(t["access_token"] or t["refresh_token"] or t["grant_token"])


def require_id(id):
    if not id:
        raise InvalidInput("the id is empty")


def locked(method):
    """One operation at a time: the store is shared between a web application's threads."""
    @functools.wraps(method)
    def run(self, *args):
        with self.lock:
            return method(self, *args)
    return run


class DictStore(TokenStore):
    """The contract, in memory."""

    tokenstore_capabilities = {"durable": False, "limits": {}, "errors": "typed"}

    def __init__(self):
        self.rows = []
        self.counter = 0
        self.lock = threading.RLock()

    def equal(self, stored, wanted):
        return stored == wanted

    def candidates(self, t):
        return candidates(t)

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
        if not insertable(t):
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
        require_id(id)
        self.rows = [r for r in self.rows if r["id"] != id]

    @locked
    def get_tokens(self):
        return [fill(blank(), r) for r in self.rows]

    @locked
    def delete_tokens(self):
        self.rows = []

    @locked
    def find_token_by_id(self, id):
        require_id(id)
        for r in self.rows:
            if r["id"] == id:
                return fill(blank(), r)
        return None



class SqliteStore(TokenStore):
    """The contract in a SQLite database file, durable and shared by processes: text
    compared byte for byte, a unique index per key, every save one transaction taken
    with the write lock (BEGIN IMMEDIATE), WAL with a flush at each commit, ids from a
    counter that only grows. Check it with
    `--durable tokenstore_adapter.reference:SqliteStore '{dir}/tokens.db'`."""

    tokenstore_capabilities = {"durable": True, "limits": {}, "errors": "typed"}

    def __init__(self, path):
        # The file is made private before SQLite writes a token into it.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                  check_same_thread=False)
        self.lock = threading.RLock()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        with self.transaction():
            columns = ", ".join(f"{f} TEXT" + (" UNIQUE" if f in KEYS else "")
                                for f in FIELDS[1:])
            self.db.execute(f"CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, {columns})")
            self.db.execute("CREATE TABLE IF NOT EXISTS counter (n INTEGER NOT NULL)")
            if self.db.execute("SELECT count(*) FROM counter").fetchone()[0] == 0:
                self.db.execute("INSERT INTO counter VALUES (0)")

    @contextlib.contextmanager
    def transaction(self):
        """This process's threads one at a time; other processes wait for the write lock."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def row_where(self, field, value):
        # `field` is always one of FIELDS, never the caller's text.
        found = self.db.execute(f"SELECT {', '.join(FIELDS)} FROM tokens WHERE {field} = ?",
                                (value,)).fetchone()
        return None if found is None else dict(zip(FIELDS, found))

    def locate(self, t):
        for field, value in candidates(t):
            row = self.row_where(field, value)
            if row is not None:
                return row
        return None

    def find_token(self, token):
        with self.lock:
            row = self.locate(read(token))
        return None if row is None else fill(token, row)

    def check_unique(self, row):
        for field in KEYS:
            if row[field] is not None:
                holder = self.row_where(field, row[field])
                if holder is not None and holder["id"] != row["id"]:
                    raise Conflict("another token already holds this " + field)

    def save_token(self, token):
        t = read(token)
        with self.transaction():
            row = self.row_where("id", t["id"]) if t["id"] else None
            row = row or self.locate(t)
            if row is not None:
                row.update({k: v for k, v in t.items() if v is not None and k != "id"})
                self.check_unique(row)
                sets = ", ".join(f"{f} = ?" for f in FIELDS[1:])
                self.db.execute(f"UPDATE tokens SET {sets} WHERE id = ?",
                                [row[f] for f in FIELDS[1:]] + [row["id"]])
            else:
                if not insertable(t):
                    raise InvalidInput("the token cannot be inserted: it needs a key and a token")
                row = dict(t, id=t["id"] or self.new_id())
                self.check_unique(row)
                marks = ", ".join("?" for _ in FIELDS)
                self.db.execute(f"INSERT INTO tokens ({', '.join(FIELDS)}) VALUES ({marks})",
                                [row[f] for f in FIELDS])
        token.set_id(row["id"])

    def new_id(self):
        while True:
            n = self.db.execute("UPDATE counter SET n = n + 1 RETURNING n").fetchone()[0]
            if self.row_where("id", str(n)) is None:
                return str(n)

    def delete_token(self, id):
        require_id(id)
        with self.transaction():
            self.db.execute("DELETE FROM tokens WHERE id = ?", (id,))

    def get_tokens(self):
        with self.lock:
            rows = self.db.execute(f"SELECT {', '.join(FIELDS)} FROM tokens").fetchall()
        return [fill(blank(), dict(zip(FIELDS, r))) for r in rows]

    def delete_tokens(self):
        with self.transaction():
            self.db.execute("DELETE FROM tokens")

    def find_token_by_id(self, id):
        require_id(id)
        with self.lock:
            row = self.row_where("id", id)
        return None if row is None else fill(blank(), row)
