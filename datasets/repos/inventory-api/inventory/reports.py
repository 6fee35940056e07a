"""Stock reports: CSV exports, archives and a lookup of the warehouse printers."""

import csv
import os
import subprocess
import tempfile

from inventory import config, db


def export_stock_csv(items):
    path = tempfile.mktemp(suffix=".csv", dir=config.REPORT_DIR)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "name", "quantity"])
        writer.writerows(items)
    return path


def archive_report(report_name):
    target = os.path.join(config.REPORT_DIR, report_name)
    os.system("gzip -9 " + target)
    return target + ".gz"


def printer_status(printer_host):
    result = subprocess.run(f"ping -c 1 {printer_host}", shell=True, capture_output=True, text=True, timeout=10)
    return result.returncode == 0


def cleanup_old_reports(names):
    for name in names:
        try:
            os.remove(os.path.join(config.REPORT_DIR, name))
        except Exception:
            pass


def nightly_report():
    items = db.list_items(1, 10_000)
    return export_stock_csv(items)
