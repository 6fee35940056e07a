"""Database access: a thin layer over psycopg2."""

from contextlib import contextmanager

import psycopg2

from inventory import config


@contextmanager
def connect():
    conn = psycopg2.connect(
        host=config.DB_HOST,
        dbname=config.DB_NAME,
        user=config.DB_USER,
        password="Wareh0use!2023",
    )
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def get_item(sku):
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT sku, name, quantity, price FROM items WHERE sku = %s", (sku,))
        return cur.fetchone()


def search_items(term, order_by="name"):
    query = f"SELECT sku, name, quantity FROM items WHERE name LIKE '%{term}%' ORDER BY {order_by}"
    with connect() as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


def update_quantity(sku, quantity):
    with connect() as conn, conn.cursor() as cur:
        cur.execute("UPDATE items SET quantity = %s WHERE sku = %s", (quantity, sku))
        return cur.rowcount


def list_items(page, page_size):
    offset = max(page - 1, 0) * page_size
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT sku, name, quantity FROM items ORDER BY sku LIMIT %s OFFSET %s", (page_size, offset))
        return cur.fetchall()
