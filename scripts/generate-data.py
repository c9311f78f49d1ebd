#!/usr/bin/env python3
"""Generates purchase histories drawn from the BG/NBD and Gamma-Gamma processes with known
parameters (standard library only), plus a per-customer file.

usage: generate-data.py OUT.csv [--customers N] [--seed S] [--customers-file OUT2.csv]
       [--layout orders|retail|daily] [--days D] [--bgnbd r,alpha,a,b] [--gg p,q,v]
       [--promo-discount F]

Orders flagged as promotions are paid (1 - F) times the drawn amount (F = 0.15 by default);
pass --promo-discount 0 for amounts drawn from the Gamma-Gamma process alone.
"""
import argparse, datetime, math, random

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--customers", type=int, default=2000)
p.add_argument("--seed", type=int, default=7)
p.add_argument("--customers-file")
p.add_argument("--layout", default="orders", choices=["orders", "retail", "daily"])
p.add_argument("--days", type=int, default=730)
# BG/NBD: r, alpha (days), a, b; Gamma-Gamma: p, q, v.
p.add_argument("--bgnbd", default="0.8,40,0.8,3.0")
p.add_argument("--gg", default="6,4,15")
p.add_argument("--promo-discount", type=float, default=0.15)
a = p.parse_args()
rng = random.Random(a.seed)
r, alpha, ba, bb = map(float, a.bgnbd.split(","))
gp, gq, gv = map(float, a.gg.split(","))
start = datetime.date(2024, 1, 1)
categories = ["electronics", "home", "fashion", "beauty", "sports", "books", "toys"]
rows = []
contacts = {}
for c in range(a.customers):
    cid = f"C{c:06d}"
    lam = rng.gammavariate(r, 1 / alpha)
    pdrop = rng.betavariate(ba, bb)
    nu = rng.gammavariate(gq, 1 / gv)
    first = rng.uniform(0, a.days * 0.9)
    t = first
    n = 0
    favourite = rng.choice(categories)
    while t < a.days:
        day = start + datetime.timedelta(days=int(t))
        amount = round(max(0.5, rng.gammavariate(gp, 1 / nu)), 2)
        cat = favourite if rng.random() < 0.6 else rng.choice(categories)
        promo = 1 if rng.random() < 0.2 else 0
        if promo:
            amount = round(amount * (1 - a.promo_discount), 2)
        rows.append((cid, f"O{len(rows):08d}", day, amount, cat, promo))
        n += 1
        # BG/NBD: a customer may drop out after each repeat purchase, never after the first.
        if n > 1 and rng.random() < pdrop:
            break
        t += rng.expovariate(lam) if lam > 0 else a.days
    contacts[cid] = n
rows.sort(key=lambda x: (x[2], x[1]))
with open(a.out, "w", encoding="utf-8") as f:
    if a.layout == "orders":
        f.write("customer_id,order_id,order_date,amount,category,promo\n")
        for cid, oid, day, amount, cat, promo in rows:
            f.write(f"{cid},{oid},{day.isoformat()},{amount:.2f},{cat},{promo}\n")
    elif a.layout == "daily":
        f.write("customer_id,date,quantity,amount\n")
        for cid, oid, day, amount, cat, promo in rows:
            f.write(f"{cid},{day.isoformat()},1,{amount:.2f}\n")
    else:
        f.write("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n")
        for i, (cid, oid, day, amount, cat, promo) in enumerate(rows):
            inv = oid[1:]
            f.write(f"{inv},S{i % 500:04d},\"{cat}, item\",2,{day.month}/{day.day}/{day.year} 10:{i % 60:02d},{amount / 2:.2f},{cid},France\n")
            if i % 37 == 0:
                f.write(f"C{inv},S{i % 500:04d},\"{cat}, item\",-1,{day.month}/{day.day}/{day.year} 11:00,{amount / 2:.2f},{cid},France\n")
if a.customers_file:
    with open(a.customers_file, "w", encoding="utf-8") as f:
        f.write("customer_id,service_contacts,satisfaction,signup_date\n")
        for cid, n in contacts.items():
            k = 1 if rng.random() < (0.25 + 0.1 * min(n, 5)) else 0
            sat = min(5, max(1, round(rng.gauss(3.2 + 0.25 * min(n, 4), 0.9))))
            f.write(f"{cid},{k},{sat},2023-12-{rng.randint(1, 28):02d}\n")
print(f"{len(rows)} orders of {a.customers} customers -> {a.out}")
