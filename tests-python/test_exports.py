"""Exports as shops and payment services write them (WooCommerce, Stripe), read without
--column, through the command and the service, against pandas reading the same file with
the rule a user would write: a cancelled, failed or refunded order is no sale. Real processes."""
import csv, datetime, json, random, subprocess
import pandas as pd
from conftest import ADMIN, BIN
from test_series import analysis, tenant

NO_SALE = {"cancelled", "failed", "refunded"}


def woocommerce(path, seed=5, orders=3000):
    """A WooCommerce orders export: one line per order, its status, the buyer's e-mail
    (guests included, whose Customer User ID is 0), the total, a date and time."""
    rnd = random.Random(seed)
    statuses = ["completed"] * 70 + ["processing"] * 10 + ["cancelled"] * 6 + ["refunded"] * 4 + ["failed"] * 5 + ["on-hold"] * 5
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Order Number", "Order Status", "Order Date", "Customer Note", "First Name (Billing)", "Last Name (Billing)",
                    "Email (Billing)", "Order Total Amount", "Customer User ID"])
        for k in range(orders):
            c = rnd.randrange(600)
            day = datetime.datetime(2024, 1, 1) + datetime.timedelta(minutes=rnd.randrange(540 * 24 * 60))
            w.writerow([10000 + k, rnd.choice(statuses), day.strftime("%Y-%m-%d %H:%M"), "", "Ann", "Lee", f"c{c}@example.com",
                        f"{rnd.uniform(10, 300):.2f}", c if c % 3 else 0])
    return str(path)


def stripe(path, seed=6, charges=2500):
    """A Stripe charges export: a charge per line, Paid, Failed or Refunded, the customer's
    id and e-mail, the time in UTC."""
    rnd = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "Description", "Created (UTC)", "Amount", "Amount Refunded", "Currency", "Captured", "Status", "Customer ID",
                    "Customer Email"])
        for k in range(charges):
            c = rnd.randrange(400)
            day = datetime.datetime(2024, 1, 1) + datetime.timedelta(minutes=rnd.randrange(500 * 24 * 60))
            status = rnd.choices(["Paid", "Failed", "Refunded"], [88, 8, 4])[0]
            amount = round(rnd.uniform(5, 200), 2)
            # Some paid charges were paid back in part, a few in full without a Refunded status.
            refunded = amount if status == "Refunded" else rnd.choices([0, round(amount * 0.3, 2), amount], [90, 8, 2])[0]
            w.writerow([f"ch_{k:08x}", "Plan", day.strftime("%Y-%m-%d %H:%M"), f"{amount:.2f}", f"{refunded:.2f}",
                        "usd", "false" if status == "Failed" else "true", status, f"cus_{c:05d}", f"c{c}@example.com"])
    return str(path)


def shopify(path, seed=7, orders=1500):
    """A Shopify orders export: a line per line item, Name and Email on each, the order's
    Financial Status, Total and Paid at on its first line alone."""
    rnd = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Currency", "Subtotal", "Shipping", "Total",
                    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku", "Refunded Amount", "Id"])
        for k in range(orders):
            email = f"c{rnd.randrange(500)}@example.com"
            day = datetime.datetime(2024, 1, 1) + datetime.timedelta(minutes=rnd.randrange(500 * 24 * 60))
            status = rnd.choices(["paid", "refunded", "voided", "pending", "partially_refunded"], [85, 4, 3, 4, 4])[0]
            items = [(rnd.randint(1, 3), round(rnd.uniform(5, 80), 2), f"SKU{rnd.randint(1, 40)}") for _ in range(rnd.randint(1, 4))]
            subtotal = sum(q * p for q, p, _ in items)
            created = day.strftime("%Y-%m-%d %H:%M:%S -0500")
            for j, (q, p, sku) in enumerate(items):
                first = j == 0
                w.writerow([f"#{1001 + k}", email, status if first else "", created if first and status != "pending" else "",
                            "fulfilled" if first else "", "USD" if first else "", f"{subtotal:.2f}" if first else "", "5.00" if first else "",
                            f"{subtotal + 5:.2f}" if first else "", created, q, f"Item {sku}", f"{p:.2f}", sku,
                            (f"{(subtotal + 5) / 4:.2f}" if status == "partially_refunded" else "0.00") if first else "",
                            str(4000000000 + k) if first else ""])
    return str(path)


def expected(path, customer, date, amount, status, order=None, refunded=None):
    """What pandas makes of the export once the orders that were no sale are dropped, and
    what was paid back taken off the others."""
    df = pd.read_csv(path, dtype=str)
    sold = df[~df[status].str.lower().isin(NO_SALE)].copy()
    sold["day"] = pd.to_datetime(sold[date]).dt.normalize()
    sold["amount"] = sold[amount].astype(float)
    if refunded:
        sold["amount"] -= sold[refunded].astype(float)
        sold = sold[sold.amount > 0]
    # Without an order id, a customer's purchases of one day are one order (docs/metrics.md).
    key = [order] if order else [customer, "day"]
    orders = sold.groupby(key).agg(customer=(customer, "first"), day=("day", "first"), amount=("amount", "sum"))
    per_customer = orders.groupby("customer").agg(frequency=("amount", "size"), monetary=("amount", "sum"), last=("day", "max"))
    return df, sold, orders, per_customer


def analyse(path, *extra):
    out = subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "json", *extra], capture_output=True, text=True, check=True).stdout
    csv_text = subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "csv", *extra], capture_output=True, text=True, check=True).stdout
    return json.loads(out), pd.read_csv(pd.io.common.StringIO(csv_text), dtype={"customer_id": str}).set_index("customer_id").sort_index()


def same_customers(ours, per_customer):
    """Our per-customer file and pandas' figures: the same customers, orders and spend."""
    per_customer = per_customer.sort_index()
    assert list(ours.index) == list(per_customer.index)
    assert (ours.frequency == per_customer.frequency).all()
    assert ((ours.monetary - per_customer.monetary).abs() < 0.005).all()


def check(report, ours, df, sold, orders, per_customer, columns):
    quality = report["data_quality"]
    assert quality["columns"] == columns
    assert quality["rows_read"] == len(df)
    assert quality["rejected"] == {"cancelled order": len(df) - len(sold)}
    assert quality["rows_used"] == len(sold)
    assert report["customers"] == len(per_customer)
    assert report["orders"] == len(orders)
    assert abs(report["revenue"] - sold.amount.sum()) < 0.005
    same_customers(ours, per_customer)


def test_a_woocommerce_export_is_read_by_email_without_its_cancelled_failed_and_refunded_orders(tmp_path):
    path = woocommerce(tmp_path / "woo.csv")
    report, ours = analyse(path)
    df, sold, orders, per_customer = expected(path, "Email (Billing)", "Order Date", "Order Total Amount", "Order Status", order="Order Number")
    # Guests share Customer User ID 0: the e-mail is the customer.
    assert (df["Customer User ID"] == "0").sum() > 100
    check(report, ours, df, sold, orders, per_customer, {
        "customer": "Email (Billing)", "order": "Order Number", "date": "Order Date", "amount": "Order Total Amount", "status": "Order Status"})
    assert report["data_quality"]["layout"].startswith("orders")
    # Orders on hold are sales whose payment is not settled: counted, and said.
    assert report["data_quality"]["sales_not_settled"] == {"on hold": int((df["Order Status"] == "on-hold").sum())}
    text = subprocess.run([f"{BIN}/fidelis", "analyze", path], capture_output=True, text=True, check=True).stdout
    assert f"⚠ Orders counted as sales though their status says the payment is not settled: on hold {(df['Order Status'] == 'on-hold').sum():,}." in text
    # Read by its user id, as a shop whose customers all have accounts would, the guests' 0 is
    # no customer: their orders are counted apart, not made into one customer.
    by_id, _ = analyse(path, "--column", "customer=Customer User ID")
    guests = sold[sold["Customer User ID"] == "0"]
    # A guest's line is anonymous whatever its status: the customer is checked first.
    anonymous = (df["Customer User ID"] == "0").sum()
    assert by_id["data_quality"]["rejected"] == {"cancelled order": len(df) - len(sold) - (anonymous - len(guests)), "anonymous customer": anonymous}
    assert by_id["customers"] == sold[sold["Customer User ID"] != "0"]["Customer User ID"].nunique()
    assert abs(by_id["revenue"] - (sold.amount.sum() - guests.amount.sum())) < 0.005


def test_a_shopify_export_counts_each_order_once_by_its_first_lines_total_without_refunded_and_voided_orders(tmp_path):
    path = shopify(tmp_path / "shopify.csv")
    report, ours = analyse(path, "--currency", "USD")
    df = pd.read_csv(path, dtype=str)
    firsts = df[df["Total"].notna()]
    sold_orders = set(firsts[~firsts["Financial Status"].isin(["refunded", "voided"])]["Name"])
    sold = df[df["Name"].isin(sold_orders)]
    orders = sold[sold["Total"].notna()].assign(amount=lambda d: d["Total"].astype(float) - d["Refunded Amount"].astype(float))
    per_customer = orders.groupby("Email").agg(frequency=("amount", "size"), monetary=("amount", "sum"))
    quality = report["data_quality"]
    assert quality["layout"].startswith("Shopify orders export")
    assert quality["columns"]["order"] == "Name" and quality["columns"]["customer"] == "Email" and quality["columns"]["amount"] == "Total"
    assert quality["columns"]["currency"] == "Currency" and quality["columns"]["refunded"] == "Refunded Amount"
    assert quality["rows_read"] == len(df)
    # The lines after an order's first are neither used nor rejected: the three add up.
    assert quality["rejected"] == {"cancelled order": len(firsts) - len(orders)}
    assert quality["further_line_items"] == len(df) - len(firsts)
    # Pending orders are counted and said; partial refunds are not, their Refunded Amount taken off.
    assert quality["sales_not_settled"] == {"pending": int((firsts["Financial Status"] == "pending").sum())}
    assert quality["rows_used"] + sum(quality["rejected"].values()) + quality["further_line_items"] == len(df)
    text = subprocess.run([f"{BIN}/fidelis", "analyze", path, "--currency", "USD"], capture_output=True, text=True, check=True).stdout
    data = next(l for l in text.splitlines() if "rows read" in l)
    assert f"{len(df):,} rows read, {len(orders):,} used, {len(firsts) - len(orders):,} rejected" in data, data
    assert f"{len(df) - len(firsts):,} further rows are line items of orders" in text
    assert report["orders"] == len(orders) and report["customers"] == len(per_customer)
    assert abs(report["revenue"] - orders.amount.sum()) < 0.005
    same_customers(ours, per_customer)


def test_a_stripe_export_is_read_by_customer_id_without_its_failed_and_refunded_charges(tmp_path):
    path = stripe(tmp_path / "stripe.csv")
    report, ours = analyse(path, "--currency", "usd")
    df, sold, orders, per_customer = expected(path, "Customer ID", "Created (UTC)", "Amount", "Status", refunded="Amount Refunded")
    check(report, ours, df, sold, orders, per_customer,
          {"customer": "Customer ID", "date": "Created (UTC)", "amount": "Amount", "status": "Status", "currency": "Currency",
           "refunded": "Amount Refunded"})
    assert ((df["Amount Refunded"].astype(float) > 0) & (df["Status"] == "Paid")).sum() > 100
    assert report["currency"] == "USD"
    # In euros, the report's default, none of its dollars can be added: it says so and what to do.
    r = subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout == ""
    # Every line that its status does not leave out is in another currency.
    assert f"other currency {(~df['Status'].str.lower().isin(NO_SALE)).sum()}" in r.stderr, r.stderr
    assert "give the file's with --currency" in r.stderr, r.stderr


def test_the_service_reads_an_export_as_the_command_does_and_says_what_it_left_out(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = tenant(cluster, "shop")
    path = woocommerce(tmp_path / "woo.csv", seed=9, orders=1500)
    cluster.cli("dataset", "upload", path, "--name", "woo", key=key)
    job, report, _ = analysis(cluster, key, "woo")
    local = json.loads(subprocess.run([f"{BIN}/fidelis", "analyze", path, "--format", "json", "--as-of", "2026-01-15", "--seed", "1"],
                                      capture_output=True, text=True, check=True).stdout)
    for figure in ["customers", "orders", "revenue", "data_quality"]:
        assert report[figure] == local[figure], figure
    cancelled = report["data_quality"]["rejected"]["cancelled order"]
    assert cancelled > 0
    # The Markdown report names the reason with its count.
    text = cluster.cli("report", "get", job, "--format", "md", key=key).stdout
    line = next(l for l in text.splitlines() if "cancelled, failed or refunded order" in l)
    assert f"{cancelled:,}" in line, line


def test_an_accounting_export_with_named_months_and_refunds_in_parentheses(tmp_path):
    """An accounting tool's invoices (Xero's form): `15 Jan 2024` dates, credit notes as
    `(45.00)`, voided and deleted invoices by their status, thousands with commas."""
    rnd = random.Random(8)
    path = tmp_path / "invoices.csv"
    rows = []
    bought = set()
    for k in range(2000):
        contact = f"Contact {rnd.randrange(300)}"
        day = datetime.date(2024, 1, 1) + datetime.timedelta(days=k // 6)
        status = rnd.choices(["Paid", "Voided", "Deleted", "Awaiting Payment"], [85, 5, 3, 7])[0]
        if contact in bought and rnd.random() < 0.1:
            amount = -round(rnd.uniform(5, 40), 2)
        else:
            amount = round(rnd.uniform(50, 2500), 2)
        if status in ("Paid", "Awaiting Payment") and amount > 0:
            bought.add(contact)
        text = f"({-amount:,.2f})" if amount < 0 else f"{amount:,.2f}"
        rows.append([contact, day.strftime("%d %b %Y"), f"INV-{k:05d}", text, status])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Contact", "Date", "Invoice Number", "Total", "Status"])
        w.writerows(rows)
    report, ours = analyse(str(path))
    df = pd.read_csv(path, dtype=str)
    df["amount"] = df["Total"].str.replace(",", "").str.replace(r"^\((.*)\)$", r"-\1", regex=True).astype(float)
    df["day"] = pd.to_datetime(df["Date"], format="%d %b %Y")
    kept = df[~df["Status"].isin(["Voided", "Deleted"])]
    # A credit note of a contact with no earlier invoice is no return of theirs.
    first = kept[kept.amount > 0].groupby("Contact").day.min()
    refunds = kept[kept.amount < 0]
    unmatched = refunds[~refunds.apply(lambda r: r.Contact in first.index and first[r.Contact] <= r.day, axis=1)]
    used = kept.drop(unmatched.index)
    quality = report["data_quality"]
    assert quality["columns"] == {"customer": "Contact", "date": "Date", "order": "Invoice Number", "amount": "Total", "status": "Status"}
    assert quality["rejected"].get("bad date", 0) == 0 and quality["rejected"].get("bad amount", 0) == 0
    assert quality["rejected"]["cancelled order"] == len(df) - len(kept)
    assert quality["rejected"].get("return", 0) == len(unmatched)
    assert quality["returns"]["lines"] == (used.amount < 0).sum()
    assert report["orders"] == (used.amount > 0).sum()
    assert abs(report["revenue"] - used.amount.sum()) < 0.005
    per_customer = used.groupby("Contact").agg(frequency=("amount", lambda a: (a > 0).sum()), monetary=("amount", "sum")).sort_index()
    assert list(ours.index) == list(per_customer.index)
    assert (ours.frequency == per_customer.frequency).all()
    assert ((ours.monetary - per_customer.monetary).abs() < 0.005).all()
    assert report["period"]["first"] == str(used[used.amount > 0].day.min().date())
    assert report["period"]["last"] == str(used.day.max().date())


def test_a_shop_selling_in_two_currencies_gets_a_report_per_currency_each_with_its_own_lines(cluster, tmp_path):
    cluster.start_server()
    cluster.start_worker("w1")
    key = cluster.cli("admin", "tenant", "create", "markets", "--currency", "usd", key=ADMIN).stdout.strip()
    rnd = random.Random(12)
    path = tmp_path / "markets.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Order ID", "Customer Email", "Created At", "Total", "Currency"])
        for k in range(1200):
            day = datetime.date(2024, 1, 1) + datetime.timedelta(days=k // 4)
            w.writerow([f"O{k}", f"c{rnd.randrange(250)}@example.com", day.isoformat(), f"{rnd.uniform(10, 200):.2f}", rnd.choice(["USD", "USD", "usd", "EUR"])])
    cluster.cli("dataset", "upload", str(path), "--name", "markets", key=key)
    df = pd.read_csv(path, dtype=str)
    df["amount"] = df["Total"].astype(float)
    for code, named in [("USD", ()), ("EUR", ("--currency", "EUR"))]:
        job = cluster.cli("job", "submit", "markets", "--wait", *named, key=key).stdout.strip().splitlines()[0]
        report = json.loads(cluster.cli("report", "get", job, "--format", "json", key=key).stdout)
        mine = df[df["Currency"].str.upper() == code]
        assert report["currency"] == code
        assert report["orders"] == len(mine) and report["customers"] == mine["Customer Email"].nunique()
        assert abs(report["revenue"] - mine.amount.sum()) < 0.005
        assert report["data_quality"]["rejected"] == {"other currency": len(df) - len(mine)}


def test_excels_unicode_text_is_read_as_its_utf8_csv_by_the_command_and_the_service(cluster, tmp_path):
    """Excel's "Unicode Text" (UTF-16 with its mark, tab-separated), here with accented and
    non-Latin e-mail addresses: the same figures as the same sheet saved as a UTF-8 CSV, each
    customer as pandas reads it, through `fidelis analyze` and an upload alike."""
    plain = woocommerce(tmp_path / "woo.csv", seed=12, orders=1200)
    df = pd.read_csv(plain, dtype=str)
    names = ["zoë", "renée", "łukasz", "yūki", "мария", "🛒shop"]
    df["Email (Billing)"] = [f"{names[i % len(names)]}.{e}" for i, e in enumerate(df["Email (Billing)"])]
    utf8, utf16 = str(tmp_path / "sheet.csv"), str(tmp_path / "sheet.txt")
    df.to_csv(utf8, index=False, encoding="utf-8")
    df.to_csv(utf16, index=False, sep="\t", encoding="utf-16")
    with open(utf16, "rb") as f:
        assert f.read(2) == b"\xff\xfe"
    report, ours = analyse(utf16, "--as-of", "2026-01-15", "--seed", "1")
    reference, _ = analyse(utf8, "--as-of", "2026-01-15", "--seed", "1")
    assert report["data_quality"]["separator"] == "tab"
    assert reference["data_quality"].pop("separator") == ","
    assert {k: v for k, v in report.items() if k != "data_quality"} == {k: v for k, v in reference.items() if k != "data_quality"}
    assert {k: v for k, v in report["data_quality"].items() if k != "separator"} == reference["data_quality"]
    sold = pd.read_csv(utf16, sep="\t", encoding="utf-16", dtype=str)
    sold = sold[~sold["Order Status"].str.lower().isin(NO_SALE)]
    assert sorted(ours.index) == sorted(sold["Email (Billing)"].unique())
    # Through the service: the client sends it as UTF-8, the report is the command's.
    cluster.start_server()
    cluster.start_worker("w1")
    key = tenant(cluster, "excel")
    cluster.cli("dataset", "upload", utf16, "--name", "sheet", key=key)
    _, served, _ = analysis(cluster, key, "sheet")
    for figure in ["customers", "orders", "revenue", "rfm", "clv", "data_quality"]:
        assert served[figure] == report[figure], figure
    # A UTF-16 file that ends inside a character is refused, naming the byte.
    with open(utf16, "rb") as f:
        cut = f.read()[:-1]
    broken = str(tmp_path / "cut.txt")
    with open(broken, "wb") as f:
        f.write(cut)
    r = subprocess.run([f"{BIN}/fidelis", "analyze", broken], capture_output=True, text=True)
    assert r.returncode != 0 and f"the file ends inside a UTF-16 character, at byte {len(cut) - 1}" in r.stderr, r.stderr


def test_amounts_that_name_their_currency_are_checked_against_the_reports(tmp_path):
    """A hand-kept sheet whose amounts carry their currency (`€12.50`, `12.50 EUR`, `USD 8`):
    in a euro report, the dollar lines are left out as another currency, against pandas
    reading the same with a regular expression."""
    rnd = random.Random(21)
    path = tmp_path / "sheet.csv"
    forms = ["€{:.2f}", "{:.2f} €", "EUR {:.2f}", "{:.2f} EUR", "{:.2f}", "USD {:.2f}", "${:.2f}", "{:.2f} USD"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["client", "date", "amount"])
        for k in range(2000):
            day = datetime.date(2024, 1, 1) + datetime.timedelta(days=rnd.randrange(400))
            w.writerow([f"K{rnd.randrange(300):03d}", day.isoformat(), rnd.choice(forms).format(rnd.uniform(3, 90))])
    df = pd.read_csv(path, dtype=str)
    df["currency"] = df["amount"].str.contains("USD|\\$", regex=True).map({True: "USD", False: "EUR"})
    df["value"] = df["amount"].str.replace("[^0-9.]", "", regex=True).astype(float)
    euros = df[df.currency == "EUR"]
    report, ours = analyse(str(path))
    assert report["data_quality"]["rejected"] == {"other currency": int((df.currency == "USD").sum())}
    assert abs(report["revenue"] - euros.value.sum()) < 0.005
    per_customer = euros.groupby("client").value.sum().sort_index()
    assert list(ours.index) == list(per_customer.index)
    assert ((ours.monetary - per_customer).abs() < 0.005).all()


def test_exports_joined_end_to_end_read_as_one_export(tmp_path):
    """Three exports joined with `cat`, each with its header: the same figures as the one
    export pandas writes from the three, each repeated header counted as such."""
    parts = [woocommerce(tmp_path / f"part{k}.csv", seed=30 + k, orders=500) for k in range(3)]
    joined = tmp_path / "joined.csv"
    whole = tmp_path / "whole.csv"
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts]
    for k, frame in enumerate(frames):
        frame["Order Number"] = frame["Order Number"].map(lambda n, k=k: f"{k}-{n}")
    # The parts number their orders alike: each is told apart, then they are written one
    # after the other, each with its header, as `cat` joins them.
    with open(joined, "w", newline="") as out:
        for frame in frames:
            frame.to_csv(out, index=False)
    pd.concat(frames).to_csv(whole, index=False)
    ours, _ = analyse(str(joined), "--as-of", "2026-01-15", "--seed", "1")
    reference, _ = analyse(str(whole), "--as-of", "2026-01-15", "--seed", "1")
    assert ours["data_quality"]["rejected"].pop("repeated header") == 2
    assert ours["data_quality"]["rows_read"] == reference["data_quality"]["rows_read"] + 2
    ours["data_quality"]["rows_read"] -= 2
    assert ours == reference


def test_a_zipped_export_is_read_by_the_command_and_uploaded_under_its_csvs_name(cluster, tmp_path):
    """An export downloaded as a ZIP archive of one CSV (made by Python's zipfile): the same
    report as the CSV, by the command and through the service, the dataset named after the CSV."""
    import zipfile
    plain = shopify(tmp_path / "orders_export.csv", seed=41, orders=800)
    archive = str(tmp_path / "orders_export_1.zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(plain, "orders_export.csv")
    report, ours = analyse(archive, "--currency", "USD", "--as-of", "2026-01-15", "--seed", "1")
    reference, theirs = analyse(plain, "--currency", "USD", "--as-of", "2026-01-15", "--seed", "1")
    assert report == reference and ours.equals(theirs)
    cluster.start_server()
    cluster.start_worker("w1")
    key = tenant(cluster, "zipped")
    cluster.cli("dataset", "upload", archive, key=key)
    listed = json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout)["datasets"]
    assert [d["name"] for d in listed] == ["orders_export.csv"]
    job = cluster.cli("job", "submit", "orders_export.csv", "--wait", "--as-of", "2026-01-15", "--seed", "1", "--currency", "USD", key=key).stdout.split()[0]
    served = json.loads(cluster.cli("report", "get", job, "--format", "json", key=key).stdout)
    for figure in ["customers", "orders", "revenue", "rfm", "clv", "data_quality"]:
        assert served[figure] == report[figure], figure
    # Two CSVs in one archive: refused with their names, nothing stored.
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.write(plain, "jan.csv")
        z.write(plain, "feb.csv")
    r = cluster.cli("dataset", "upload", str(tmp_path / "two.zip"), key=key, check=False)
    assert r.returncode != 0 and "the ZIP archive holds 2 files (jan.csv, feb.csv)" in r.stderr, r.stderr
    assert len(json.loads(cluster.cli("dataset", "list", "--json", key=key).stdout)["datasets"]) == 1


def test_a_report_export_with_title_lines_above_its_header(cluster, tmp_path):
    """An accounting tool's "Sales by Customer Detail" report: its title, the company and the
    date range above the header. The command, an upload and an append leave them out and say
    so; the figures are pandas' reading it with skiprows."""
    rnd = random.Random(51)

    def report(path, months):
        with open(path, "w", newline="") as f:
            f.write("Sales by Customer Detail\nAcme Trading Ltd\n\"January 1 - June 30, 2024\"\n\n")
            w = csv.writer(f)
            w.writerow(["Customer", "Date", "Num", "Amount"])
            for k in range(600):
                day = datetime.date(2024, months[0], 1) + datetime.timedelta(days=rnd.randrange(28 * len(months)))
                w.writerow([f"Client {rnd.randrange(150):03d}", day.strftime("%m/%d/%Y"), f"INV-{months[0]}-{k}", f"{rnd.uniform(5, 400):.2f}"])
        return str(path)

    first, second = report(tmp_path / "h1.csv", [1, 2, 3]), report(tmp_path / "h2.csv", [4, 5, 6])
    r = subprocess.run([f"{BIN}/fidelis", "analyze", first, "--format", "json"], capture_output=True, text=True, check=True)
    assert "the header is on line 5: the 4 lines above it" in r.stderr, r.stderr
    ours = json.loads(r.stdout)
    df = pd.read_csv(first, skiprows=4)
    assert ours["data_quality"]["rows_read"] == len(df) and ours["orders"] == df["Num"].nunique()
    assert abs(ours["revenue"] - df["Amount"].sum()) < 0.005
    cluster.start_server()
    cluster.start_worker("w1")
    key = tenant(cluster, "ledger")
    up = cluster.cli("dataset", "upload", first, "--name", "ledger", key=key)
    assert "the header is on line 5" in up.stderr, up.stderr
    appended = cluster.cli("dataset", "append", "ledger", second, key=key)
    assert "the header is on line 5" in appended.stderr, appended.stderr
    _, served, _ = analysis(cluster, key, "ledger")
    both = pd.concat([df, pd.read_csv(second, skiprows=4)])
    assert served["data_quality"]["rows_read"] == len(both) and served["orders"] == both["Num"].nunique()
    assert abs(served["revenue"] - both["Amount"].sum()) < 0.005
