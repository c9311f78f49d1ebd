import CPrefetch
import Foundation

/// What a column of the transactions file means.
public enum ColumnRole: String, CaseIterable, Sendable, Codable {
  case customer, order, date, amount, quantity, price, category, promo
  /// The product of a line (a SKU, a stock code): a return is matched to the purchase line
  /// of the same product and quantity.
  case product
  /// The state of the line's order or payment: a line of a cancelled, failed, voided or
  /// refunded order is no sale (`OrderStatus`).
  case status
  /// The currency of the line's amount: a line in another currency than the report's is
  /// left out (`IngestOptions.currency`).
  case currency
  /// The part of the line's amount paid back (Stripe's `Amount Refunded`, Shopify's
  /// `Refunded Amount`): the sale is what stays.
  case refunded

  /// Header names recognised for the role, compared after lower-casing and dropping
  /// accents, spaces and punctuation: the first column, left to right, with one of them.
  var aliases: [String] {
    switch self {
    case .customer: ["customerid", "customer", "client", "clientid", "idclient", "userid", "customerno", "custid", "numeroclient"]
    case .order: ["orderid", "invoiceno", "invoice", "invoiceid", "order", "orderno", "ordernumber", "transactionid", "commande", "numerocommande", "idcommande"]
    case .date: ["orderdate", "invoicedate", "date", "purchasedate", "transactiondate", "timestamp", "datecommande", "dateachat"]
    case .amount: ["amount", "total", "revenue", "montant", "sales", "ordervalue", "value", "linetotal", "totalprice"]
    case .quantity: ["quantity", "qty", "quantite"]
    case .price: ["unitprice", "price", "prix", "prixunitaire"]
    case .category: ["category", "categorie", "productcategory", "famille"]
    case .promo: ["promo", "promotion", "ispromo", "onpromo", "promotional"]
    case .product: ["stockcode", "sku", "productid", "productcode", "itemid", "itemcode", "article", "codearticle", "reference"]
    case .status: ["status", "orderstatus", "financialstatus", "paymentstatus", "transactionstatus", "chargestatus", "statut", "statutcommande", "etatcommande"]
    case .currency: ["currency", "currencycode", "isocurrencycode", "curr", "devise", "monnaie"]
    case .refunded: ["amountrefunded", "refundedamount", "refundamount", "totalrefunded", "refundtotal", "montantrembourse"]
    }
  }

  /// Further names, as shop, payment and point-of-sale exports write them (Shopify,
  /// WooCommerce, Stripe…), recognised only when no column has one of `aliases`: the
  /// first of them, in this order, that the header has. So a file read before they were
  /// known reads as it did, and where an export has several (Shopify's `Paid at` and
  /// `Created at`), the one that every line fills wins.
  var fallbackAliases: [String] {
    switch self {
    case .customer:
      ["customercode", "customernumber", "accountid", "accountnumber", "memberid", "membernumber", "contactid", "buyerid",
       "shopperid", "loyaltyid", "loyaltynumber", "cardnumber", "customeremail", "email", "emailaddress", "billingemail", "emailbilling",
       "buyeremail", "useremail", "payeremail", "fromemailaddress", "mail", "courriel",
       "contact", "contactname", "customername", "clientname", "nomclient", "buyer", "buyername"]
    case .order:
      ["invoicenumber", "invoicenum", "salesorderid", "salesordernumber", "salesorder", "orderreference", "orderref", "receiptid", "receiptno", "receiptnumber", "receipt",
       "ticketid", "ticketno", "ticketnumber", "ticket", "chargeid", "paymentid", "documentno", "documentnumber", "billno", "billnumber",
       "numerofacture", "facture", "numeroticket",
       // QuickBooks' reports: the transaction's number
       "num"]
    case .date:
      ["createdat", "createdatutc", "createdutc", "created", "createddate", "datecreated", "orderedat", "orderdatetime", "orderdateutc",
       "placedat", "purchasedat", "paidat", "paymentdate", "saledate", "salesdate", "receiptdate", "ticketdate",
       "datetime", "transactiontime", "dateheure", "datefacture"]
    case .amount:
      ["ordertotal", "ordertotalamount", "totalamount", "grandtotal", "amountpaid", "totalpaid", "paidamount", "orderamount", "saleamount",
       "salesamount", "transactionamount", "chargeamount", "netamount", "netsales", "totalsales", "totalttc", "montantttc", "montanttotal",
       "subtotal", "gross", "grossamount", "grosssales"]
    case .quantity: ["lineitemquantity", "quantityordered", "qtyordered", "itemquantity", "units", "unitssold", "nombre"]
    case .price: ["lineitemprice", "itemprice", "priceeach", "priceperunit", "saleprice", "sellingprice", "prixdevente"]
    case .category: ["producttype", "itemcategory", "categoryname", "department", "rayon"]
    case .promo: ["onsale", "discounted", "promotionflag"]
    case .product: ["lineitemsku", "productsku", "variantsku", "itemsku", "barcode", "ean", "upc", "asin", "productname", "lineitemname", "itemname"]
    case .status: ["state", "orderstate", "paymentstate", "etat"]
    case .currency: ["ordercurrency", "paymentcurrency", "chargecurrency", "transactioncurrency", "presentmentcurrency"]
    case .refunded: ["refundedvalue", "amountreturned", "totalrefunds"]
    }
  }

  /// The column of the role among normalized header names (`normalizeHeader`), leaving out
  /// `taken` (columns given to other roles): the first column with one of `aliases`, else
  /// the column of the first of `fallbackAliases` the header has; nil when there is none.
  func column(in normalized: [String], excluding taken: Set<Int> = []) -> Int? {
    if let index = normalized.indices.first(where: { !taken.contains($0) && aliases.contains(normalized[$0]) }) { return index }
    for alias in fallbackAliases {
      if let index = normalized.indices.first(where: { !taken.contains($0) && normalized[$0] == alias }) { return index }
    }
    return nil
  }
}

extension ColumnRole {
  /// Every role's name, for help texts and the errors that list them.
  public static let names = allCases.map(\.rawValue).joined(separator: ", ")

  /// Each role's column in a header: first those `overrides` give (role → header name),
  /// then the others in `allCases` order, each among the columns not given yet
  /// (`column(in:excluding:)`). Reading and an append's plan both map a header with it, so
  /// that they read the same columns.
  static func mapping(names: [String], overrides: [String: String]) throws(UnmappedColumn) -> [ColumnRole: Int] {
    let normalized = names.map(normalizeHeader)
    var mapping: [ColumnRole: Int] = [:]
    for (roleName, headerName) in overrides.sorted(by: { $0.key < $1.key }) {
      guard let role = ColumnRole(rawValue: roleName.lowercased()) else {
        throw UnmappedColumn(reason: "unknown column role '\(roleName)' (roles: \(names))")
      }
      guard let index = normalized.firstIndex(of: normalizeHeader(headerName)) else {
        throw UnmappedColumn(reason: "no column named '\(headerName)' for \(roleName); the header has: \(abbreviatedList(names))")
      }
      mapping[role] = index
    }
    if mapping[.order] == nil, isShopifyOrders(normalized), let name = normalized.firstIndex(of: "name"), !mapping.values.contains(name) {
      // Shopify names its orders `#1001` in a column called `Name`: too common a header to
      // be an order id's anywhere else.
      mapping[.order] = name
    }
    for role in allCases where mapping[role] == nil {
      if let index = role.column(in: normalized, excluding: Set(mapping.values)) { mapping[role] = index }
    }
    return mapping
  }

  /// Whether normalized header names are those of Shopify's orders export.
  static func isShopifyOrders(_ normalized: [String]) -> Bool {
    ["name", "email", "financialstatus", "total", "createdat", "lineitemquantity", "lineitemname"].allSatisfy(normalized.contains)
  }
}

/// A `--column` mapping that names no known role, or a column the header does not have.
struct UnmappedColumn: Error {
  var reason: String
}

/// Options of ingestion.
public struct IngestOptions: Sendable, Codable, Equatable {
  /// Role → header name, overriding the recognised names.
  public var columns: [String: String] = [:]
  /// Day/month order of slashed dates; nil: detected from the data (day first when nothing tells).
  public var dateOrder: DateOrder?
  /// The last day (day number) a purchase may carry; later ones are rejected as out of
  /// range. nil: `DateWindow.latestReferenceDay`. Readers set it to the day after the file
  /// was received.
  public var latestDay: Int?
  /// The report's currency (ISO 4217): with a currency column, a line whose currency is
  /// another is left out as `other currency`. nil: the column is not checked.
  public var currency: String?

  public init(columns: [String: String] = [:], dateOrder: DateOrder? = nil, latestDay: Int? = nil, currency: String? = nil) {
    self.columns = columns
    self.dateOrder = dateOrder
    self.latestDay = latestDay
    self.currency = currency
  }
}

/// Each customer's net spend per category, where positive (the customer bought there), by
/// customer then category: sums over it run in one order every time.
public struct CategorySpend: Sendable, Equatable {
  /// customer << 32 | category, ascending.
  public var keys: [Int64] = []
  public var amounts: [Double] = []

  public init() {}

  /// Number of (customer, category) pairs.
  public var count: Int { keys.count }
  @inline(__always) public func customer(_ i: Int) -> Int { Int(keys[i] >> 32) }
  @inline(__always) public func category(_ i: Int) -> Int { Int(keys[i] & 0xFFFF_FFFF) }

  /// The key of a (customer, category) pair.
  @inline(__always) static func key(customer: Int, category: Int) -> Int64 { Int64(customer) << 32 | Int64(category) }
}

/// Why a line of the file was not used. Raw values are the keys of `data_quality.rejected`.
public enum RejectReason: String, CaseIterable, Sendable, Codable {
  case missingCustomer = "missing customer"
  /// A customer id that stands for no one: `0`, `guest`, `N/A`, `unknown`… (`AnonymousCustomer`).
  /// Counted as one customer, every guest's purchases would make one customer who buys
  /// more than anyone.
  case anonymousCustomer = "anonymous customer"
  case badDate = "bad date"
  case badAmount = "bad amount"
  /// Before 1900 or after the day the file was received (`DateWindow`).
  case dateOutOfRange = "date out of range"
  /// Not a finite number, or beyond `largestLineAmount`.
  case amountOutOfRange = "amount out of range"
  /// No longer given: a 0.00 line is a purchase without revenue. Kept to read old reports.
  case zeroAmount = "zero amount"
  /// A return (negative quantity or amount, a C-invoice) of a customer with no earlier
  /// purchase in the file to net it against.
  case returned = "return"
  case duplicateLine = "duplicate line"
  case orderOfAnotherCustomer = "order id of another customer"
  /// The status column says the line's order is no sale: cancelled, failed, voided,
  /// declined or refunded in full (`OrderStatus`).
  case cancelledOrder = "cancelled order"
  /// A line of Shopify's orders export after its order's first: the order's total, status
  /// and date are on the first line, counted there (`DataLayout.shopifyOrders`). Counted
  /// in `DataQuality.furtherLineItems`, not among the rejected lines: its order is not
  /// rejected. Kept to read reports made before.
  case furtherLineItem = "further line item"
  /// The currency column names another currency than the report's: its amount cannot be
  /// added to the others (`CurrencyCheck`).
  case otherCurrency = "other currency"
  case shortLine = "missing fields"
  /// A line that repeats the header: exports joined end to end (`cat jan.csv feb.csv`)
  /// carry one per file after the first.
  case repeatedHeader = "repeated header"
}

/// Purchases read from a file, one entry per order, in contiguous arrays.
public struct TransactionData: Sendable {
  /// Customer identifiers; a customer's index is its position here.
  public var customerIDs = CustomerIDs()
  /// Per order: customer index, day number (days since 1970-01-01), amount, promotion flag.
  public var orderCustomer: [Int32] = []
  public var orderDay: [Int32] = []
  public var orderAmount: [Double] = []
  public var orderPromo: [Bool] = []
  /// Category names, and each customer's positive net spend per category.
  public var categories: [String] = []
  public var categorySpend = CategorySpend()
  /// Whether the file had a promotion column / a category column.
  public var hasPromo = false
  public var hasCategory = false
  /// What was read and what was left out.
  public var quality = DataQuality()

  public init() {}

  /// Number of orders.
  public var orderCount: Int { orderDay.count }

  /// Whether the orders run by customer, then by day (as the ingestor leaves them): a
  /// customer table's order of them is then their own, and every pass over the orders
  /// reads memory in sequence instead of jumping between customers.
  public internal(set) var isOrderedByCustomerAndDay = false

  /// Puts the orders in customer, then day order, orders of one day as they were.
  ///
  /// A counting sort on the customer, as `CustomerTable.ordersByCustomerAndDay`, that moves
  /// the columns themselves: each order is read in sequence and written to its place, and a
  /// customer's few orders are then put in day order where they lie. Gathering each column
  /// through a permutation instead read every column at random, and the insertion sort
  /// looked up each order's day at random: a third of a second at a million customers.
  mutating func sortOrdersByCustomerAndDay() {
    guard !isOrderedByCustomerAndDay else { return }
    let n = orderCount
    var counts = [Int32](repeating: 0, count: customerIDs.count)
    for c in orderCustomer { counts[Int(c)] += 1 }
    let start = CustomerTable.orderStarts(counts)
    let bounds = CustomerTable.customerSlices(start: start, orders: n)
    let (customerOf, dayOf, amountOf, promoOf) = (orderCustomer, orderDay, orderAmount, orderPromo)
    // Held here alone while the sorted columns are made (the four of them, 80 MB at a million
    // customers, beside their sorted copies), then freed.
    (orderCustomer, orderDay, orderAmount, orderPromo) = ([], [], [], [])
    var sortedDay: [Int32] = []
    var sortedAmount: [Double] = []
    var sortedPromo: [Bool] = []
    orderCustomer = [Int32](unsafeUninitializedCapacity: n) { customerOut, customersMade in
      sortedDay = [Int32](unsafeUninitializedCapacity: n) { dayOut, daysMade in
        sortedAmount = [Double](unsafeUninitializedCapacity: n) { amountOut, amountsMade in
          sortedPromo = [Bool](unsafeUninitializedCapacity: n) { promoOut, promosMade in
            nonisolated(unsafe) let out = (customerOut, dayOut, amountOut, promoOut)
            customerOf.withUnsafeBufferPointer { customerOf in
              dayOf.withUnsafeBufferPointer { dayOf in
                amountOf.withUnsafeBufferPointer { amountOf in
                  promoOf.withUnsafeBufferPointer { promoOf in
                    concurrentChunks(bounds.count - 1) { k in
                      let (first, end) = (bounds[k], bounds[k + 1])
                      guard first < end else { return }
                      let (customerOut, dayOut, amountOut, promoOut) = out
                      // Each slice reads every order's customer and places its own: the
                      // result does not depend on the cores.
                      var next = Array(start[first..<end])
                      for o in 0..<n {
                        let c = Int(customerOf[o])
                        guard c >= first && c < end else { continue }
                        let at = next[c - first]
                        next[c - first] += 1
                        (customerOut[at], dayOut[at], amountOut[at], promoOut[at]) = (customerOf[o], dayOf[o], amountOf[o], promoOf[o])
                      }
                      for c in first..<end where counts[c] > 1 {
                        let (lower, upper) = (start[c], start[c + 1])
                        if upper - lower > 64 {
                          // A customer with many orders: a stable sort of its slice.
                          let sorted = (lower..<upper).sorted { dayOut[$0] != dayOut[$1] ? dayOut[$0] < dayOut[$1] : $0 < $1 }
                          let (days, amounts, promos) = (Array(dayOut[lower..<upper]), Array(amountOut[lower..<upper]), Array(promoOut[lower..<upper]))
                          for (k, from) in sorted.enumerated() {
                            (dayOut[lower + k], amountOut[lower + k], promoOut[lower + k]) = (days[from - lower], amounts[from - lower], promos[from - lower])
                          }
                          continue
                        }
                        for i in lower + 1..<upper where dayOut[i - 1] > dayOut[i] {
                          let moved = (dayOut[i], amountOut[i], promoOut[i])
                          var j = i
                          while j > lower && dayOut[j - 1] > moved.0 {
                            (dayOut[j], amountOut[j], promoOut[j]) = (dayOut[j - 1], amountOut[j - 1], promoOut[j - 1])
                            j -= 1
                          }
                          (dayOut[j], amountOut[j], promoOut[j]) = moved
                        }
                      }
                    }
                  }
                }
              }
            }
            promosMade = n
          }
          amountsMade = n
        }
        daysMade = n
      }
      customersMade = n
    }
    orderDay = sortedDay
    orderAmount = sortedAmount
    orderPromo = sortedPromo
    isOrderedByCustomerAndDay = true
  }

  /// The same purchases with only the orders `keep` marks (one flag per order).
  func keepingOrders(_ keep: [Bool]) -> TransactionData {
    let keptCount = keep.reduce(0) { $0 + ($1 ? 1 : 0) }
    func filter<T>(_ values: [T]) -> [T] {
      var out: [T] = []
      out.reserveCapacity(keptCount)
      for i in values.indices where keep[i] { out.append(values[i]) }
      return out
    }
    var kept = self
    kept.orderCustomer = filter(orderCustomer)
    kept.orderDay = filter(orderDay)
    kept.orderAmount = filter(orderAmount)
    kept.orderPromo = filter(orderPromo)
    return kept
  }
}

/// How a file was read: counts, reasons, detected format.
public struct DataQuality: Sendable, Codable, Equatable {
  public var rowsRead = 0
  public var rowsUsed = 0
  /// Rejected rows by reason (`RejectReason` raw values); reasons with no row are absent.
  public var rejected: [String: Int] = [:]
  /// Lines of Shopify's orders export after an order's first, which alone carries the
  /// order's total and status: neither used nor rejected, their order counted (or left
  /// out) by its first line. Nil (absent from the JSON) for every other file, so that
  /// `rowsRead` is `rowsUsed + rowsRejected + (furtherLineItems ?? 0)`.
  public var furtherLineItems: Int?
  /// Orders counted as sales whose status says their payment is not settled, by
  /// `OrderStatus.notSettledNames` (`pending`, `on hold`…); nil (absent from the JSON)
  /// when there is none. The file does not say what was paid in the end: the report says
  /// so rather than guess.
  public var salesNotSettled: [String: Int]?
  public var encoding = ""
  public var separator = ""
  public var decimalMark = "."
  public var dateOrder = ""
  public var layout = DataLayout.custom
  /// Role → header name actually used.
  public var columns: [String: String] = [:]
  public var warnings: [IngestWarning] = []
  /// Customer attribute rows read / matched to a customer of the transactions.
  public var customerRowsRead = 0
  public var customerRowsMatched = 0

  public init() {}

  /// Returns netted against the purchases.
  public var returns = ReturnSummary()
  /// False for a purchase log without amounts (no amount column, nor quantity and price):
  /// nothing that needs money is computed.
  public var amounts = true

  /// Total rejected rows.
  public var rowsRejected: Int { rejected.values.reduce(0, +) }
}

/// The return lines of a file and how they were netted (docs/metrics.md, "Returns").
public struct ReturnSummary: Sendable, Codable, Equatable {
  /// Return lines netted against the customer's purchases.
  public var lines = 0
  /// Of those, the lines matched to an earlier purchase line of the same product and
  /// quantity, which left its order.
  public var matchedLines = 0
  /// Orders that every line of was returned: they are no orders.
  public var ordersCancelled = 0
  /// Value taken off the revenue: the matched purchase lines' amounts and the other
  /// returns' amounts.
  public var value = 0.0

  public init() {}
}

/// A purchase line a later return of the same customer, product and quantity may take back.
struct ReturnableLine: Equatable {
  var amount: Double
  var order: Int32
  /// −1 without a category column.
  var category: Int32
}

/// The purchase lines later returns may take back, by a 64-bit key of (customer, product,
/// quantity): for each key a stack of lines, the latest on top. Held in flat arrays (the
/// lines, each one's link to the line below it, and an open-addressed table of each key's
/// top line): a dictionary of arrays made a heap allocation for every key, and an export
/// with products has about as many keys as purchase lines.
struct ReturnableLines {
  private var lines: [ReturnableLine] = []
  /// Per line: the line below it on its key's stack, −1 at the bottom.
  private var below: [Int32] = []
  /// Open addressing: a key (0 marks an empty slot) and its top line (−1 when every line
  /// of the key was taken back).
  private var keys: [UInt64]
  private var tops: [Int32]
  private var mask: Int
  private var used = 0

  init(capacity: Int = 1024) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    keys = [UInt64](repeating: 0, count: size)
    tops = [Int32](repeating: -1, count: size)
    mask = size - 1
  }

  /// Lines held, taken back or not.
  var count: Int { lines.count }

  /// Makes room for `lines` lines in all, and as many keys: growing by doubling would leave
  /// up to half of each array unused, and hold the old and the new array at once.
  mutating func reserve(_ lines: Int) {
    self.lines.reserveCapacity(lines)
    below.reserveCapacity(lines)
    while lines * 4 > keys.count * 3 { grow() }
  }

  /// Starts loading the table's slot of `key`: the table is as large as the file's purchase
  /// lines, each push and pop would otherwise wait on memory twice. Mutating only so that
  /// the arrays are read in place, not retained.
  @inline(__always)
  mutating func prefetch(key: UInt64) {
    let slot = Int(truncatingIfNeeded: finalMix(key == 0 ? 1 : key)) & mask
    keys.withUnsafeBufferPointer { fidelis_prefetch($0.baseAddress! + slot) }
    tops.withUnsafeBufferPointer { fidelis_prefetch($0.baseAddress! + slot) }
  }

  /// The slot of `key`, or the empty slot where it would go.
  private func slot(of key: UInt64) -> Int {
    var slot = Int(truncatingIfNeeded: finalMix(key)) & mask
    while keys[slot] != 0 && keys[slot] != key { slot = (slot + 1) & mask }
    return slot
  }

  /// Puts `line` on top of `key`'s stack.
  mutating func push(_ line: ReturnableLine, key: UInt64) {
    let key = key == 0 ? 1 : key
    var slot = slot(of: key)
    if keys[slot] == 0 {
      if (used + 1) * 4 > keys.count * 3 {
        grow()
        slot = self.slot(of: key)
      }
      keys[slot] = key
      used += 1
    }
    below.append(tops[slot])
    tops[slot] = Int32(lines.count)
    lines.append(line)
  }

  /// Takes the top line of `key`'s stack off; nil when there is none.
  mutating func pop(key: UInt64) -> ReturnableLine? {
    let key = key == 0 ? 1 : key
    let slot = slot(of: key)
    guard keys[slot] == key, tops[slot] >= 0 else { return nil }
    let top = Int(tops[slot])
    tops[slot] = below[top]
    return lines[top]
  }

  private mutating func grow() {
    let (oldKeys, oldTops) = (keys, tops)
    keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
    tops = [Int32](repeating: -1, count: oldKeys.count * 2)
    mask = keys.count - 1
    for i in oldKeys.indices where oldKeys[i] != 0 {
      let slot = slot(of: oldKeys[i])
      (keys[slot], tops[slot]) = (oldKeys[i], oldTops[i])
    }
  }
}

/// Reads a transactions CSV in chunks and builds `TransactionData`. Memory grows with
/// customers and orders, not with lines or bytes.
///
/// Each chunk is cut at record boundaries into as many parts as there are cores; the parts
/// are tokenized and their fields parsed at once, then checked (copies, orders: see
/// `OrderLineChecks`) and merged (customers, amounts, returns) in file order, where what
/// depends on earlier lines is decided. The three overlap: while a chunk is parsed, the
/// one before is checked and the one before that merged. The result is the same as
/// reading line by line.
public struct TransactionIngestor {
  private let options: IngestOptions
  /// Refuses a compressed export, a workbook or UTF-16 text by what it is.
  private var kindCheck = FileKindCheck()
  private var encoding: TextEncoding?
  private var layout: RowLayout?
  /// Bytes after the last complete record handed in so far (or the header, while incomplete).
  private var pending: [UInt8] = []
  /// Line number of the first byte of `pending`.
  private var pendingLine = 1
  /// The record boundaries of `pending`, found beside the last chunk's work; nil when they
  /// were not (after the header, or once carriage returns are known to end lines).
  private var scanned: RecordBoundaries?
  /// The buffer `pending` was, kept for the bytes after it: see `parsePending`.
  private var spareBuffer: [UInt8] = []
  /// Lines parsed but not checked yet (the previous chunk's).
  private var backlog: [ParsedPart] = []
  /// Lines checked but not merged yet (the chunk's before).
  private var checked: [ParsedPart] = []
  /// Emptied parts whose buffers the next chunk's parts fill (`ParsedPart.emptied`).
  private var spareParts: [ParsedPart] = []
  /// The checks that need only the order id and the line's hash; see `OrderLineChecks`.
  private var orderChecks: OrderLineChecks
  // Tables start small and double as they fill: a profile of a 20-line file must not pay
  // for clearing megabytes, and the doublings cost little beside parsing a large one.
  private var customers = ByteInterner(capacity: 1 << 10)
  /// Orders keyed by (customer, date) when the file has no order column.
  private var dailyOrders: [Int64: Int32] = [:]
  private var orderRaw: [PackedRawDate] = []
  private var orderLines: [Int32] = []
  /// Per order, with a status column only: 1 + the index of the not-settled status its
  /// lines said (`OrderStatus.notSettledNames`), 0 for none.
  private var orderNotSettled: [UInt8] = []
  /// Each customer's latest order in file order (−1: none yet): an unmatched return is
  /// taken off it.
  private var latestOrder: [Int32] = []
  /// Purchase lines a return may still match, by (customer, product, quantity), latest on top.
  private var returnable = ReturnableLines()
  private var categoryBytes = ByteInterner(capacity: 64)
  /// Category of each distinct category spelling (two spellings may decode to one name).
  private var categoryOfBytes: [Int] = []
  private var categoryIndex: [String: Int] = [:]
  /// Spend per customer and category, turned into `categorySpend` at the end.
  private var spendByCategory = CategorySpendTable()
  private var data = TransactionData()
  private var commaDecimals = 0
  private var pointDecimals = 0
  private var firstDayFirstLine: Int?
  private var firstMonthFirstLine: Int?
  private var allYearFirst = true
  /// How the file ends its lines.
  private var lineEnds = LineEnds()
  /// Longest header line read, in bytes.
  static let longestHeader = 4 << 20
  /// Longest record after the header, in bytes.
  static let longestRecord = 4 << 20
  /// What is said of a record longer than `longestRecord`, after where it starts.
  static let unendedRecord =
    "runs past \(longestRecord >> 20) MiB without ending: a quote opened and never closed? (a record ends at a line break outside quotes)"
  /// Most columns a header may name.
  static let mostColumns = 10_000
  /// Parts a chunk is cut into: one per core, and one for small chunks.
  private let parallelParts = max(1, min(8, activeCores))

  /// The file's size when known: after its first megabyte, the order tables are sized for
  /// the whole file instead of doubling their way there.
  private let expectedBytes: Int?
  private var mergedBytes = 0
  private var sized = false

  /// Creates an ingestor with the given options; `expectedBytes`, the file's size when known,
  /// lets it size its tables once.
  public init(options: IngestOptions = IngestOptions(), expectedBytes: Int? = nil) {
    self.options = options
    self.expectedBytes = expectedBytes
    orderChecks = OrderLineChecks(expectedBytes: expectedBytes)
  }

  /// Reads the next chunk of the file.
  public mutating func consume(_ chunk: UnsafeBufferPointer<UInt8>) throws {
    try kindCheck.observe(chunk)
    var bytes = chunk
    if encoding == nil {
      // The encoding is chosen on the first chunk: a BOM, or valid UTF-8, or Windows-1252.
      guard !chunk.isEmpty else { return }
      if chunk.count >= 3, chunk[0] == 0xEF, chunk[1] == 0xBB, chunk[2] == 0xBF {
        encoding = .utf8WithBOM
        bytes = UnsafeBufferPointer(rebasing: chunk[3...])
      } else {
        encoding = looksLikeUTF8(chunk) ? .utf8 : .windows1252
      }
    }
    let wasCarriageReturns = lineEnds.areCarriageReturns
    lineEnds.observe(bytes)
    if lineEnds.areCarriageReturns {
      // Decided now: what is pending was read before the decision.
      if !wasCarriageReturns {
        pending = LineEnds.converted(pending)
        // Scanned before its carriage returns were line ends.
        scanned = nil
      }
      try LineEnds.converted(bytes).withUnsafeBufferPointer { try take($0) }
    } else {
      try take(bytes)
    }
  }

  /// Takes the next bytes of the file, past its encoding's mark, with lines ending in `\n`.
  private mutating func take(_ bytes: UnsafeBufferPointer<UInt8>) throws {
    guard layout == nil else { return try parsePending(incoming: bytes, isEnd: false) }
    pending.append(contentsOf: bytes)
    guard try readHeaderIfComplete(isEnd: false) else {
      if pending.count > Self.longestHeader {
        throw CSVFormatError(line: 1, reason: "no line break in the first \(Self.longestHeader >> 20) MiB: this is not a CSV file with a header line")
      }
      return
    }
    try parsePending(incoming: nil, isEnd: false)
  }

  /// Reads the next chunk of the file.
  public mutating func consume(_ chunk: [UInt8]) throws {
    try chunk.withUnsafeBufferPointer { try consume($0) }
  }

  /// Ends the file and returns what was read.
  public mutating func finish() throws -> TransactionData {
    try kindCheck.finish()
    if layout == nil {
      guard !pending.isEmpty, try readHeaderIfComplete(isEnd: true) else { throw CSVFormatError(line: 1, reason: "the file is empty") }
    }
    try parsePending(incoming: nil, isEnd: true)
    // Every line is merged: the order tables and the copies' hashes are done with, and
    // freeing them before the orders are resolved keeps them out of the peak. They are
    // freed on a thread of their own beside the resolution: unmapping a hundred MB took the
    // kernel 30 ms at a million customers, with the other core idle.
    let orderTables = Leftovers((orderChecks, dailyOrders, returnable))
    orderChecks = .placeholder
    dailyOrders = [:]
    returnable = ReturnableLines()
    var data = try withBackgroundWork({ orderTables.release() }) { _ in try resolve() }
    // The identifier tables and per-line state are hundreds of MB on a large file; the
    // analysis that follows should not run beside them. Dropped before the sort, which
    // also lets go of the columns that the ingestor's copy of `data` still shares: each
    // column's unsorted version is then freed as soon as its sorted one is made. The
    // ingestor's copy goes first, here, so that none is held beside the sort; the rest is
    // freed beside it.
    self.data = TransactionData()
    let tables = Leftovers(self)
    self = TransactionIngestor(options: options, expectedBytes: expectedBytes)
    withBackgroundWork({ tables.release() }) { _ in data.sortOrdersByCustomerAndDay() }
    return data
  }

  /// Reads a whole file held in memory.
  public static func ingest(_ bytes: [UInt8], options: IngestOptions = IngestOptions()) throws -> TransactionData {
    var ingestor = TransactionIngestor(options: options)
    try ingestor.consume(bytes)
    return try ingestor.finish()
  }

  /// Reads the header once its line is complete (or the file ends); false while it is not.
  private mutating func readHeaderIfComplete(isEnd: Bool) throws -> Bool {
    // The header tokenizer detects the separator. It is fed one byte at a time so that it
    // stops exactly at the header's end, leaving the rest to the parallel parser.
    var tokenizer = CSVTokenizer(separator: nil, encoding: encoding ?? .utf8, line: 1)
    var consumed = 0
    var headerRead = false
    try pending.withUnsafeBufferPointer { all in
      while consumed < all.count && !headerRead {
        try tokenizer.consume(UnsafeBufferPointer(rebasing: all[consumed..<consumed + 1])) { record in
          try readHeader(record)
          headerRead = true
        }
        consumed += 1
      }
    }
    if !headerRead {
      guard isEnd else { return false }
      try tokenizer.finish { try readHeader($0) }
      guard layout != nil else { return false }
    }
    pendingLine = tokenizer.line
    pending.removeFirst(consumed)
    scanned = nil
    return true
  }

  /// Parses the records of `pending`, whose boundaries the previous call found (all of it at
  /// the end of the file). Beside the parsing, each on a core of its own: the bytes after
  /// them and the `incoming` ones are put together and their boundaries found, for the next
  /// call; the lines parsed the time before are checked; and those checked the time before
  /// that are merged. At the end, every line is parsed, checked and merged.
  ///
  /// Finding a chunk's boundaries is a pass over its bytes, and copying it after the last
  /// chunk's unfinished line another: both ran alone before the parts could start, with the
  /// other core idle, a tenth of a second at a million customers.
  private mutating func parsePending(incoming: UnsafeBufferPointer<UInt8>?, isEnd: Bool) throws {
    guard let layout, !pending.isEmpty || !(incoming?.isEmpty ?? true) else {
      if isEnd { drain() }
      return
    }
    let hasOrders = layout.order != nil
    // Parts of a chunk: twice as many as the threads beside the merge and the checks, so that
    // whichever thread is free takes the next one and the threads end together.
    func partsOf(_ count: Int) -> Int { count >= 256 * 1024 ? parallelParts * 2 : 1 }
    var toParse = scanned
    scanned = nil
    if isEnd && toParse == nil {
      // At the end nothing comes after: what is pending and was not scanned is scanned now.
      toParse = pending.withUnsafeBufferPointer { RecordBoundaries($0, separator: layout.separator, parts: partsOf($0.count)) }
    }
    let parseEnd = toParse?.end ?? 0
    var backlog = self.backlog
    let checked = self.checked
    self.backlog = []
    self.checked = []
    // Taken out of `self` while it runs beside the merge, which holds `self`.
    var orderChecks = self.orderChecks
    self.orderChecks = .placeholder
    enum Alongside { case merge, check, scan }
    var alongside: [Alongside] = []
    if !checked.isEmpty { alongside.append(.merge) }
    if !backlog.isEmpty { alongside.append(.check) }
    if !isEnd { alongside.append(.scan) }
    let pending = self.pending
    let firstLine = pendingLine
    var spares = self.spareParts
    self.spareParts = []
    // The buffer the next call parses, from the one that call leaves: its capacity is kept.
    var next = self.spareBuffer
    self.spareBuffer = []
    var nextScan: RecordBoundaries?
    let parsed = try pending.withUnsafeBufferPointer { bytes in
      func run(_ task: Alongside) {
        switch task {
        case .merge: merge(checked)
        case .check: orderChecks.check(&backlog, hasOrders: hasOrders)
        case .scan:
          next.removeAll(keepingCapacity: true)
          next.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[parseEnd...]))
          if let incoming { next.append(contentsOf: incoming) }
          nextScan = next.withUnsafeBufferPointer { RecordBoundaries($0, separator: layout.separator, parts: partsOf($0.count)) }
        }
      }
      guard let toParse, toParse.end > 0 || isEnd else {
        concurrentChunks(alongside.count) { run(alongside[$0]) }
        return [ParsedPart]()
      }
      return try parseInParts(
        bytes, boundaries: toParse, firstLine: firstLine, layout: layout, isEnd: isEnd, spares: &spares, alongside: alongside.count
      ) { run(alongside[$0]) }
    }
    // The locals are let go as they are put back: the tasks captured them, and a copy still
    // held would make the drain below copy the tables it changes.
    self.orderChecks = orderChecks
    orderChecks = .placeholder
    self.spareParts = spares
    recycle(consume checked)
    self.checked = backlog
    backlog = []
    self.backlog = parsed
    if isEnd {
      self.pending = []
      drain()
      return
    }
    pendingLine += toParse?.linesBeforeEnd ?? 0
    let unfinished = next.count - (nextScan?.end ?? 0)
    self.pending = next
    self.spareBuffer = pending
    scanned = nextScan
    if unfinished > Self.longestRecord {
      // A quote opened and never closed makes the rest of the file one record: it would be
      // held whole in memory and scanned again with every chunk.
      throw CSVFormatError(
        line: pendingLine + (nextScan?.linesBeforeEnd ?? 0),
        reason: "a record starts here and \(Self.unendedRecord)")
    }
  }

  /// Keeps the buffers of merged parts for the parts of the next chunk, as many as a
  /// chunk is cut into.
  private mutating func recycle(_ parts: consuming [ParsedPart]) {
    var parts = parts
    while spareParts.count < 2 * parallelParts, let part = parts.popLast() {
      spareParts.append(part.emptied())
    }
  }

  /// Checks and merges every line parsed.
  private mutating func drain() {
    merge(checked)
    checked = []
    orderChecks.check(&backlog, hasOrders: layout?.order != nil)
    merge(backlog)
    backlog = []
  }

  private mutating func merge(_ parts: [ParsedPart]) {
    for part in parts {
      merge(part)
      mergedBytes += part.bytes
    }
    if !sized, let expectedBytes, mergedBytes >= 1 << 20, expectedBytes > mergedBytes {
      // Orders so far, scaled to the file, with a tenth more for the file's variations.
      sized = true
      let orders = Int(Double(data.orderCustomer.count) * Double(expectedBytes) / Double(mergedBytes) * 1.1)
      data.orderCustomer.reserveCapacity(orders)
      data.orderAmount.reserveCapacity(orders)
      data.orderPromo.reserveCapacity(orders)
      orderRaw.reserveCapacity(orders)
      orderLines.reserveCapacity(orders)
      if layout?.status != nil { orderNotSettled.reserveCapacity(orders) }
      // Customers so far, scaled the same way (at most one per order): too many when they
      // come back later in the file, but room reserved and never written is never touched,
      // where doubling their way there copied the spend table and touched twice its pages.
      let customersAhead = min(orders, Int(Double(customers.count) * Double(expectedBytes) / Double(mergedBytes) * 1.1))
      latestOrder.reserveCapacity(customersAhead)
      if layout?.category != nil { spendByCategory.reserve(customers: customersAhead) }
      if returnable.count > 0 {
        returnable.reserve(Int(Double(returnable.count) * Double(expectedBytes) / Double(mergedBytes) * 1.1))
      }
    }
  }

  /// Adds parsed lines in file order.
  private mutating func merge(_ part: ParsedPart) {
    part.arena.withUnsafeBufferPointer { arena in
      func bytes(_ key: KeyRef) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: arena[Int(key.start)..<Int(key.start + key.count)])
      }
      let rows = part.rows
      let verdicts = part.verdicts
      let ahead = 12
      let hasOrders = layout?.order != nil
      let hasProducts = layout?.product != nil
      for r in rows.indices {
        if hasProducts && r + ahead < rows.count {
          let later = rows[r + ahead]
          if later.outcome == .usable && later.quantity > 0 {
            returnable.prefetch(key: returnKey(customer: later.customer.hash, product: later.product.hash, quantity: later.quantity))
          }
        }
        // The table slots of the lines a little further on start loading now: most of a
        // lookup is waiting on memory, and the waits then overlap.
        if r + ahead < rows.count { customers.prefetch(rows[r + ahead].customer.hash, step: 0) }
        if r + ahead * 2 / 3 < rows.count { customers.prefetch(rows[r + ahead * 2 / 3].customer.hash, step: 1) }
        if r + ahead / 3 < rows.count, let customer = customers.prefetch(rows[r + ahead / 3].customer.hash, step: 2) {
          // The customer's row of spend per category, and its latest order.
          spendByCategory.prefetch(customer: customer)
          if customer < latestOrder.count { latestOrder.withUnsafeBufferPointer { fidelis_prefetch($0.baseAddress! + customer) } }
        }
        let row = rows[r]
        if row.outcome == .empty { continue }
        data.quality.rowsRead += 1
        if row.outcome == .shortLine {
          reject(.shortLine)
          continue
        }
        // With line identity (an order id), an exact copy of an earlier line is a duplicate
        // export. Without it, two identical lines are two purchases on one day.
        var orderFound: (index: Int, isNew: Bool)?
        if hasOrders {
          switch OrderLineChecks.Verdict(packed: verdicts[r]) {
          case .noOrder: break
          case .duplicate:
            reject(.duplicateLine)
            continue
          case .order(let index, let isNew): orderFound = (index, isNew)
          }
        }
        commaDecimals += Int(row.commaNumbers)
        pointDecimals += Int(row.pointNumbers)
        if row.outcome == .rejected {
          reject(row.reason)
          continue
        }
        let customer = customers.intern(bytes(row.customer), hash: row.customer.hash).index
        if customer >= latestOrder.count { latestOrder.append(contentsOf: repeatElement(-1, count: customer + 1 - latestOrder.count)) }
        if row.isReturn {
          netReturn(row, customer: customer, category: layout?.category != nil ? categoryNumber(bytes(row.category), hash: row.category.hash) : nil)
          continue
        }
        let order: Int
        if let (index, isNew) = orderFound {
          if isNew {
            openOrder(customer: customer, raw: row.date)
          } else if data.orderCustomer[index] != Int32(customer) {
            reject(.orderOfAnotherCustomer)
            continue
          }
          order = index
        } else {
          let raw = row.date
          let key = Int64(customer) << 32 | Int64(raw.year) << 16 | Int64(raw.first) << 8 | Int64(raw.second)
          if let existing = dailyOrders[key] {
            order = Int(existing)
          } else {
            order = data.orderCustomer.count
            dailyOrders[key] = Int32(order)
            openOrder(customer: customer, raw: raw)
          }
        }
        noteDateOrder(row.date, line: Int(row.line))
        if row.notSettled != 0 { orderNotSettled[order] = row.notSettled }
        data.orderAmount[order] += row.amount
        orderLines[order] += 1
        latestOrder[customer] = Int32(order)
        var category: Int32 = -1
        if row.promo { data.orderPromo[order] = true }
        if layout?.category != nil {
          let number = categoryNumber(bytes(row.category), hash: row.category.hash)
          addSpend(row.amount, category: number, customer: customer)
          category = Int32(number)
        }
        if layout?.product != nil && row.quantity > 0 {
          returnable.push(
            ReturnableLine(amount: row.amount, order: Int32(order), category: category),
            key: returnKey(customer: row.customer.hash, product: row.product.hash, quantity: row.quantity))
        }
        data.quality.rowsUsed += 1
      }
    }
  }

  /// Nets a return line: against the customer's latest earlier purchase line of the same
  /// product and quantity (that line leaves its order), else against the customer's latest
  /// order. A return with no earlier purchase of the customer is rejected.
  private mutating func netReturn(_ row: ParsedRow, customer: Int, category: Int?) {
    let key = returnKey(customer: row.customer.hash, product: row.product.hash, quantity: row.quantity)
    if layout?.product != nil, row.quantity > 0, let line = returnable.pop(key: key) {
      let order = Int(line.order)
      data.orderAmount[order] -= line.amount
      orderLines[order] -= 1
      if line.category >= 0 { addSpend(-line.amount, category: Int(line.category), customer: customer) }
      data.quality.returns.matchedLines += 1
      data.quality.returns.value += line.amount
    } else if latestOrder[customer] >= 0 {
      data.orderAmount[Int(latestOrder[customer])] += row.amount
      if let category { addSpend(row.amount, category: category, customer: customer) }
      data.quality.returns.value -= row.amount
    } else {
      reject(.returned)
      return
    }
    data.quality.returns.lines += 1
    data.quality.rowsUsed += 1
  }

  /// The key of a line's (customer, product, quantity), from the hashes of the customer's
  /// and the product's bytes: known from the parsed line alone, so that the lines ahead's
  /// slots can be loaded before their customers are looked up.
  private func returnKey(customer: UInt64, product: UInt64, quantity: Double) -> UInt64 {
    (product &* 0x9E37_79B9_7F4A_7C15) ^ (customer &* 0xC2B2_AE3D_27D4_EB4F) ^ quantity.bitPattern
  }

  @inline(__always)
  private mutating func addSpend(_ amount: Double, category: Int, customer: Int) {
    spendByCategory.add(amount, category: category, customer: customer, customers: customers.count)
  }

  private mutating func categoryNumber(_ bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int {
    let (spelling, isNew) = categoryBytes.intern(bytes, hash: hash)
    if !isNew { return categoryOfBytes[spelling] }
    let name = decodeText(bytes, encoding: encoding ?? .utf8)
    let category: Int
    if let known = categoryIndex[name] {
      category = known
    } else {
      category = data.categories.count
      categoryIndex[name] = category
      data.categories.append(name)
    }
    categoryOfBytes.append(category)
    return category
  }

  private mutating func openOrder(customer: Int, raw: RawDate) {
    data.orderCustomer.append(Int32(customer))
    data.orderAmount.append(0)
    data.orderPromo.append(false)
    orderRaw.append(PackedRawDate(raw))
    orderLines.append(0)
    if layout?.status != nil { orderNotSettled.append(0) }
  }

  private mutating func reject(_ reason: RejectReason) {
    if reason == .furtherLineItem {
      data.quality.furtherLineItems = (data.quality.furtherLineItems ?? 0) + 1
    } else {
      data.quality.rejected[reason.rawValue, default: 0] += 1
    }
  }

  private mutating func noteDateOrder(_ raw: RawDate, line: Int) {
    guard !raw.isYearFirst else { return }
    allYearFirst = false
    if raw.first > 12, firstDayFirstLine == nil { firstDayFirstLine = line }
    if raw.second > 12, firstMonthFirstLine == nil { firstMonthFirstLine = line }
  }

  private mutating func readHeader(_ record: CSVTokenizer.Record) throws {
    let encoding = record.encoding
    guard record.count <= Self.mostColumns else {
      throw CSVFormatError(line: record.line, reason: "the header has \(record.count) columns; at most \(Self.mostColumns) are read")
    }
    let names = (0..<record.count).map { record.string($0, encoding: encoding) }
    let normalized = names.map(normalizeHeader)
    let mapping: [ColumnRole: Int]
    do {
      mapping = try ColumnRole.mapping(names: names, overrides: options.columns)
    } catch {
      throw CSVFormatError(line: record.line, reason: error.reason)
    }
    guard mapping[.customer] != nil else {
      throw CSVFormatError(line: record.line, reason: "no customer column (expected one of customer_id, CustomerID, client, email…; or map it with --column customer=NAME); the header has: \(abbreviatedList(names))")
    }
    guard mapping[.date] != nil else {
      throw CSVFormatError(line: record.line, reason: "no date column (expected order_date, InvoiceDate, date…; or map it with --column date=NAME)")
    }
    // Without an amount, nor a quantity and a price, the file is a purchase log (loyalty
    // visits, app logins): analysed on recency and frequency.
    data.quality.amounts = mapping[.amount] != nil || (mapping[.quantity] != nil && mapping[.price] != nil)
    let retail = ["invoiceno", "stockcode", "description", "quantity", "invoicedate", "unitprice", "customerid", "country"]
    let isRetailExport = retail.allSatisfy(normalized.contains)
    let layout: DataLayout
    let isShopifyExport = ColumnRole.isShopifyOrders(normalized) && mapping[.amount].map { normalized[$0] == "total" } == true
    if isRetailExport {
      layout = .retailExport
    } else if isShopifyExport {
      layout = .shopifyOrders
    } else if mapping[.order] != nil && mapping[.amount] != nil {
      layout = .orders
    } else if mapping[.order] == nil {
      layout = .dailyPurchases
    } else {
      layout = .custom
    }
    data.quality.layout = layout
    data.quality.columns = Dictionary(uniqueKeysWithValues: mapping.map { ($0.key.rawValue, names[$0.value]) })
    data.quality.encoding = encoding.rawValue
    let separator = record.separator
    data.quality.separator = separator == 9 ? "tab" : String(UnicodeScalar(separator))
    data.hasPromo = mapping[.promo] != nil
    data.hasCategory = mapping[.category] != nil
    self.layout = RowLayout(
      separator: separator, encoding: encoding, fieldCount: names.count, customer: mapping[.customer]!, date: mapping[.date]!,
      order: mapping[.order], amount: mapping[.amount], quantity: mapping[.quantity], price: mapping[.price],
      category: mapping[.category], promo: mapping[.promo], product: mapping[.product], status: mapping[.status],
      isRetailExport: isRetailExport, totalOnFirstLine: isShopifyExport,
      currency: mapping[.currency].flatMap { column in options.currency.map { CurrencyCheck(column: column, code: $0) } },
      refunded: mapping[.refunded], reportCurrency: options.currency.map { Array($0.uppercased().utf8) }, headerNames: names,
      headerCustomer: Array(names[mapping[.customer]!].utf8))
  }

  private mutating func resolve() throws -> TransactionData {
    var order: DateOrder
    if let forced = options.dateOrder {
      order = forced
    } else if allYearFirst {
      order = .yearFirst
    } else if let dayLine = firstDayFirstLine, let monthLine = firstMonthFirstLine {
      throw CSVFormatError(
        line: max(dayLine, monthLine),
        reason: "dates mix day-first (line \(dayLine)) and month-first (line \(monthLine)) forms; pass the date order explicitly (--date-order dmy|mdy)")
    } else if firstMonthFirstLine != nil {
      order = .monthFirst
    } else {
      order = .dayFirst
      if firstDayFirstLine == nil {
        data.quality.warnings.append(.ambiguousDateOrder)
      }
    }
    data.quality.dateOrder = order.rawValue
    data.quality.decimalMark = commaDecimals > pointDecimals ? "," : "."
    let earliest = DateWindow.earliestDay
    let latest = options.latestDay ?? DateWindow.latestReferenceDay
    // Each order's day, in slices of orders on every core (millions of them: alone on one
    // core, this kept the other idle), what each slice dropped counted apart and added after.
    let count = orderRaw.count
    let slices = sliceCount(count)
    var orderDay = [Int32](repeating: 0, count: count)
    var keep = [Bool](repeating: true, count: count)
    let (orderRaw, orderLines) = (self.orderRaw, self.orderLines)
    let total = orderDay.withUnsafeMutableBufferPointer { orderDay in
      keep.withUnsafeMutableBufferPointer { keep in
        blockTotals(count, blockSize: max(1, (count + slices - 1) / slices), zero: DroppedOrders()) { slice in
          var days = RememberedDays(order: order)
          var counts = DroppedOrders()
          for i in slice {
            let day = days.day(of: orderRaw[i])
            if orderLines[i] == 0 {
              // Every line of it was returned: no order.
              keep[i] = false
              counts.cancelled += 1
            } else if let day, Int(day) >= earliest, Int(day) <= latest {
              orderDay[i] = day
            } else {
              keep[i] = false
              if day == nil {
                counts.badDate.orders += 1
                counts.badDate.lines += Int(orderLines[i])
              } else {
                counts.outOfRange.orders += 1
                counts.outOfRange.lines += Int(orderLines[i])
              }
            }
          }
          return counts
        } adding: { $0.add($1) }
      }
    }
    data.orderDay = orderDay
    data.quality.returns.ordersCancelled += total.cancelled
    for (reason, orders) in [(RejectReason.badDate, total.badDate), (.dateOutOfRange, total.outOfRange)] where orders.orders > 0 {
      data.quality.rejected[reason.rawValue, default: 0] += orders.lines
      data.quality.rowsUsed -= orders.lines
    }
    if !orderNotSettled.isEmpty {
      // Counted over the orders kept: one whose every line was returned, or whose day is
      // not read, is no sale of any kind.
      var counts = [Int](repeating: 0, count: OrderStatus.notSettledNames.count)
      for i in orderNotSettled.indices where orderNotSettled[i] != 0 && keep[i] { counts[Int(orderNotSettled[i]) - 1] += 1 }
      let named = Dictionary(uniqueKeysWithValues: zip(OrderStatus.notSettledNames, counts).filter { $0.1 > 0 })
      if !named.isEmpty { data.quality.salesNotSettled = named }
      orderNotSettled = []
    }
    if total.cancelled + total.badDate.orders + total.outOfRange.orders > 0 { data = data.keepingOrders(keep) }
    let encoding = self.encoding ?? .utf8
    data.categorySpend = spendByCategory.positive(categories: data.categories.count, customers: customers.count)
    data.customerIDs = CustomerIDs(reading: customers, encoding: encoding)
    return data
  }
}

/// The orders of a slice that the resolution of their days dropped: cancelled by returns,
/// with a date that does not read, or outside the accepted window (orders and their lines).
private struct DroppedOrders {
  var cancelled = 0
  var badDate = (orders: 0, lines: 0)
  var outOfRange = (orders: 0, lines: 0)

  mutating func add(_ other: DroppedOrders) {
    cancelled += other.cancelled
    badDate = (badDate.orders + other.badDate.orders, badDate.lines + other.badDate.lines)
    outOfRange = (outOfRange.orders + other.outOfRange.orders, outOfRange.lines + other.outOfRange.lines)
  }
}

/// Lower-cases, drops accents, spaces and punctuation: `Customer ID` → `customerid`.
func normalizeHeader(_ name: String) -> String {
  let folded = name.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
  return String(folded.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) && $0.isASCII }.map(Character.init))
}

@inline(__always)
func trimmed(_ field: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
  var start = field.startIndex
  var end = field.endIndex
  while start < end, field[start] == 0x20 { start += 1 }
  while end > start, field[end - 1] == 0x20 { end -= 1 }
  return UnsafeBufferPointer(rebasing: field[start..<end])
}

/// A `RawDate` in four bytes instead of eight, for the one kept per order until the
/// file's date order is known: its years have four digits and its numbers two
/// (`parseRawDate`), so 14 + 7 + 7 + 1 bits hold it.
struct PackedRawDate: Sendable {
  /// Equal bits, equal raw dates.
  private(set) var bits: UInt32

  init(_ date: RawDate) {
    bits = UInt32(UInt16(clamping: date.year)) << 16 | UInt32(UInt8(clamping: date.first)) << 8 | UInt32(UInt8(clamping: date.second)) << 1 | (date.isYearFirst ? 1 : 0)
  }

  var rawDate: RawDate {
    RawDate(year: Int32(bits >> 16), first: Int8(truncatingIfNeeded: bits >> 8 & 0x7f), second: Int8(truncatingIfNeeded: bits >> 1 & 0x7f), isYearFirst: bits & 1 == 1)
  }
}

/// The days of packed raw dates under one date order, each worked out once: an export has
/// a few hundred distinct days for millions of orders, and the calendar arithmetic per order
/// was most of the serial end of reading. A small direct-mapped table: a date that meets
/// another in its slot is worked out again, never mistaken for it.
struct RememberedDays {
  let order: DateOrder
  private var slots: [(bits: UInt32, day: Int32?)?] = Array(repeating: nil, count: 1 << 12)

  init(order: DateOrder) { self.order = order }

  /// `raw.rawDate.day(order: order)`.
  mutating func day(of raw: PackedRawDate) -> Int32? {
    let slot = Int((raw.bits &* 0x9E37_79B1) >> 20)
    if let known = slots[slot], known.bits == raw.bits { return known.day }
    let day = raw.rawDate.day(order: order)
    slots[slot] = (raw.bits, day)
    return day
  }
}
