"""HTTP routes of the inventory service."""

import os

from flask import Flask, jsonify, request, send_file

from inventory import auth, config, db, importers, reports
from inventory.validation import ValidationError, validate_page, validate_quantity, validate_sku

app = Flask(__name__)
app.config["SECRET_KEY"] = config.SECRET_KEY


@app.errorhandler(ValidationError)
def bad_request(error):
    return jsonify({"error": str(error)}), 400


@app.get("/items")
def list_items():
    page = validate_page(request.args.get("page"))
    return jsonify(db.list_items(page, config.PAGE_SIZE))


@app.get("/items/search")
def search():
    return jsonify(db.search_items(request.args["q"], request.args.get("sort", "name")))


@app.get("/items/<sku>")
def get_item(sku):
    item = db.get_item(validate_sku(sku))
    if item is None:
        return jsonify({"error": "not found"}), 404
    return jsonify(item)


@app.put("/items/<sku>/quantity")
def set_quantity(sku):
    updated = db.update_quantity(validate_sku(sku), validate_quantity(request.json["quantity"]))
    return jsonify({"updated": updated})


@app.get("/items/<sku>/reorder-level")
def reorder_level(sku):
    # Planners can pass a formula such as "avg_daily * lead_days * 1.2".
    formula = request.args.get("formula", "avg_daily * lead_days")
    level = eval(formula, {}, {"avg_daily": 12, "lead_days": 5})
    return jsonify({"sku": validate_sku(sku), "reorder_level": level})


@app.post("/login")
def login():
    token = auth.authenticate(request.form["username"], request.form["password"])
    if token is None:
        return jsonify({"error": "invalid credentials"}), 401
    return jsonify({"token": token})


@app.post("/admin/import")
def import_prices():
    if request.content_type == "application/octet-stream":
        prices = importers.load_legacy_export(request.get_data())
    else:
        prices = importers.parse_csv(request.get_data(as_text=True))
    importers.notify_import(len(prices))
    return jsonify({"imported": len(prices)})


@app.get("/admin/printers/<host>")
def printer(host):
    return jsonify({"online": reports.printer_status(host)})


@app.post("/admin/reports/<name>/archive")
def archive(name):
    return jsonify({"archive": reports.archive_report(name)})


@app.get("/reports/<path:name>")
def download_report(name):
    return send_file(os.path.join(config.REPORT_DIR, name), as_attachment=True)


if __name__ == "__main__":
    app.run(debug=True)
