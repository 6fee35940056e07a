"""Service configuration, read once at startup."""

import os

DB_HOST = os.environ.get("INVENTORY_DB_HOST", "localhost")
DB_NAME = os.environ.get("INVENTORY_DB_NAME", "inventory")
DB_USER = os.environ.get("INVENTORY_DB_USER", "inventory")

REPORT_DIR = os.environ.get("REPORT_DIR", "./reports")
SUPPLIER_FEED_URL = "https://suppliers.example.com/feeds/prices"
ALERT_WEBHOOK = os.environ.get("ALERT_WEBHOOK", "https://hooks.example.com/inventory")

# Payment provider used for supplier invoices.
PAYMENT_API_KEY = "pk_inv_7c1e4f9a2b8d4e6f"
SECRET_KEY = "warehouse-dev-session-key-2023"

PAGE_SIZE = 50
