"""The SDK's own DBStore, on a table made for it: the table (the SDK README's
columns, a primary key on id, nothing else) is created when the store is, so that
`tokenstore check --adapter -- … sdk_fresh_table:DBStoreOnNewTable … {table}` gives
every check fresh storage. The store's behaviour is the SDK's, unchanged."""

import mysql.connector
from zohocrmsdk.src.com.zoho.api.authenticator.store.db_store import DBStore

SDK_TABLE = ("(id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), "
             "client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), "
             "grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), "
             "api_domain varchar(255), PRIMARY KEY (id))")


class DBStoreOnNewTable(DBStore):
    def __init__(self, host, database_name, user_name, password, port_number, table_name):
        if not table_name.isidentifier():
            raise ValueError("the table name must be an identifier")
        connection = mysql.connector.connect(host=host, database=database_name, user=user_name,
                                             password=password, port=port_number)
        try:
            connection.cursor().execute("CREATE TABLE IF NOT EXISTS %s %s" % (table_name, SDK_TABLE))
        finally:
            connection.close()
        super().__init__(host=host, database_name=database_name, user_name=user_name,
                         password=password, port_number=port_number, table_name=table_name)
