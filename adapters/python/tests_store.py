"""Token stores for the adapter's tests: the reference store (ConformingStore), and
several with one bug each, written against the Zoho SDK's TokenStore interface."""

import contextlib
import itertools
import time

from tokenstore_adapter.reference import GET, DictStore, SqliteStore, fill, locked, read

ConformingStore = DictStore


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


class SpawnedWritersStore(SqliteStore):
    """The durable reference store, declaring that it must not be forked (as a store
    whose module starts threads or opens connections when imported would): the harness
    then starts a crash writer process for each kill."""
    tokenstore_capabilities = dict(SqliteStore.tokenstore_capabilities, crash_server=False)
