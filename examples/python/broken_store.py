"""A token store with two bugs found in published samples, for trying the pytest plugin:

    pytest --tokenstore broken_store:BrokenStore

1. user names and tokens compare without case (as MySQL's default collation does), so one
   user's lookup can answer with another user's token;
2. `find_token_by_id` raises on an unknown id instead of answering None.

Everything else is the reference store's (`tokenstore_adapter.reference.DictStore`),
which passes: `pytest --tokenstore tokenstore_adapter.reference:DictStore`.
"""

from tokenstore_adapter.reference import DictStore


class BrokenStore(DictStore):
    def equal(self, stored, wanted):
        return stored.lower() == wanted.lower()

    def find_token_by_id(self, id):
        found = super().find_token_by_id(id)
        if found is None:
            raise KeyError(id)
        return found
