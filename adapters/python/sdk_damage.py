"""Fills a token file through the Zoho SDK's own FileStore, or a table through its
DBStore, the way an application does, including the calls that their known bugs turn
into damaged data: `tokenstore audit` must find it. A call the store refuses is printed
to stderr, as an application would log it, and the next call goes on.
Usage: python sdk_damage.py PATH.csv
       python sdk_damage.py mysql HOST PORT DATABASE USER PASSWORD TABLE"""

import sys

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
from zohocrmsdk.src.com.zoho.crm.api.user_signature import UserSignature

SETTERS = ("set_id", "set_client_id", "set_client_secret", "set_refresh_token",
           "set_access_token", "set_grant_token", "set_expires_in", "set_redirect_url",
           "set_api_domain")


def token(user=None, refresh=None, access=None, grant=None, expiry="1900000000000"):
    t = object.__new__(OAuthToken)
    for setter in SETTERS:
        getattr(t, setter)(None)
    t.set_user_signature(UserSignature(user) if user else None)
    t.set_client_id("1000.client-id")
    t.set_client_secret("client-secret-value")
    t.set_refresh_token(refresh)
    t.set_access_token(access)
    t.set_grant_token(grant)
    t.set_expires_in(expiry)
    return t


def save(store, t):
    try:
        store.save_token(t)
    except Exception as e:  # the application logs it and goes on
        print("refused: %s" % type(e).__name__, file=sys.stderr)


def open_store(args):
    if args[0] != "mysql":
        return FileStore(args[0])
    from sdk_fresh_table import DBStoreOnNewTable
    host, port, database, user, password, table = args[1:7]
    return DBStoreOnNewTable(host, database, user, password, port, table)


def main(args):
    store = open_store(args)
    # Eight users: the DBStore refuses every insert after the tenth row (its ids collide).
    for n in range(8):
        save(store, token(user="user%d@example.com" % n, refresh="1000.rt-%d" % n,
                          access="1000.at-%d" % n))
    # A new user with another user's refresh token: the FileStore writes a second row
    # holding it (save.key-unique).
    save(store, token(user="second@example.com", refresh="1000.rt-1"))
    # An expiry time in seconds, as some applications write it.
    save(store, token(user="seconds@example.com", refresh="1000.rt-s", expiry="1700000000"))
    # A token whose id names no row, for a user who has one: the FileStore inserts a
    # second row for that user instead of updating the first (save.update-by-key).
    again = token(user="user4@example.com", refresh="1000.rt-4b", access="1000.at-4b")
    again.set_id("99")
    save(store, again)


if __name__ == "__main__":
    main(sys.argv[1:])
