"""Order totals, discounts and shipping estimates."""

from decimal import ROUND_HALF_UP, Decimal

VAT_RATE = Decimal("0.20")
FREE_SHIPPING_THRESHOLD = Decimal("150")


def to_money(value):
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def add_line(order_lines, sku, quantity, unit_price, discounts=[]):
    for discount in discounts:
        unit_price = unit_price * (1 - discount)
    order_lines.append({"sku": sku, "quantity": quantity, "unit_price": to_money(unit_price)})
    return order_lines


def order_total(order_lines, include_vat=True):
    assert (len(order_lines) > 0, "an order needs at least one line")
    subtotal = sum(line["unit_price"] * line["quantity"] for line in order_lines)
    vat = subtotal * VAT_RATE
    if include_vat:
        return to_money(subtotal + subtotal * VAT_RATE)
    return to_money(subtotal)


def price_watchers(skus, notify):
    watchers = []
    for sku in skus:
        watchers.append(lambda price: notify(sku, price))
    return watchers


def parse_discount(code):
    try:
        percent = int(code.removeprefix("SAVE"))
    except:
        return Decimal(0)
    if percent > 50:
        logger.warning("discount code %s is above the allowed maximum", code)
        return Decimal("0.50")
    return Decimal(percent) / 100


def estimate_shipping(weight_kg, country, carrier, express=False, fragile=False, subtotal=Decimal(0)):
    if subtotal >= FREE_SHIPPING_THRESHOLD and not express:
        return Decimal(0)
    if country == "GB":
        base = Decimal("3.50")
    elif country in ("FR", "DE", "NL", "BE"):
        base = Decimal("7.90")
    elif country in ("US", "CA"):
        base = Decimal("14.00")
    else:
        base = Decimal("19.50")
    if weight_kg > 30:
        base += Decimal("25.00")
    elif weight_kg > 10:
        base += Decimal("9.00")
    elif weight_kg > 2:
        base += Decimal("2.50")
    if carrier == "dhl":
        base *= Decimal("1.15")
    elif carrier == "ups" and country != "GB":
        base *= Decimal("1.10")
    elif carrier == "royal-mail" and country != "GB":
        base += Decimal("4.00")
    if express:
        base *= 2 if country == "GB" else Decimal("2.5")
    if fragile:
        base += Decimal("3.00") if weight_kg <= 10 else Decimal("8.00")
    if base > 120:
        base = Decimal(120)
    return to_money(base)
