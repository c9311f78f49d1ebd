import Foundation
import Testing

@testable import Analytics

/// Shop, payment and point-of-sale exports as their tools write them: their columns are
/// found without `--column`, and the lines of orders that were no sale are left out.
@Suite("Export headers and order statuses")
struct ExportHeaderTests {
  func ingest(_ text: String, options: IngestOptions = IngestOptions()) throws -> TransactionData {
    try TransactionIngestor.ingest(Array(text.utf8), options: options)
  }

  /// A header of each export and the columns it must be read with.
  static let exports: [(name: String, header: String, line: String, columns: [String: String])] = [
    (
      "Shopify orders", "Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku",
      "#1001,ann@example.com,paid,2024-03-01 10:00:00 -0500,fulfilled,USD,40.00,45.00,2024-03-01 09:58:00 -0500,2,Mug,20.00,MUG-1",
      ["order": "Name", "customer": "Email", "date": "Created at", "amount": "Total", "quantity": "Lineitem quantity", "price": "Lineitem price",
       "product": "Lineitem sku", "status": "Financial Status", "currency": "Currency"]
    ),
    (
      "Stripe charges", "id,Description,Created (UTC),Amount,Amount Refunded,Currency,Captured,Status,Customer ID,Customer Email",
      "ch_1,Plan,2024-03-01 10:00,45.00,0.00,usd,true,Paid,cus_1,ann@example.com",
      ["customer": "Customer ID", "date": "Created (UTC)", "amount": "Amount", "status": "Status", "currency": "Currency", "refunded": "Amount Refunded"]
    ),
    (
      "WooCommerce orders", "Order Number,Order Status,Order Date,First Name (Billing),Email (Billing),Order Total Amount,Customer User ID",
      "1001,completed,2024-03-01 10:00,Ann,ann@example.com,45.00,0",
      ["customer": "Email (Billing)", "order": "Order Number", "date": "Order Date", "amount": "Order Total Amount", "status": "Order Status"]
    ),
    (
      "point of sale", "Receipt No,Receipt Date,Loyalty Number,Item Name,Units,Price Each,Department",
      "R-1,01/03/2024,L-77,Mug,2,22.50,Kitchen",
      ["order": "Receipt No", "date": "Receipt Date", "customer": "Loyalty Number", "product": "Item Name", "quantity": "Units",
       "price": "Price Each", "category": "Department"]
    ),
  ]

  @Test("an export's columns are found by the names its tool gives them", arguments: 0..<exports.count)
  func exportColumns(_ index: Int) throws {
    let export = Self.exports[index]
    let data = try ingest("\(export.header)\n\(export.line)\n")
    #expect(data.quality.columns == export.columns, "\(export.name)")
    #expect(data.quality.rowsUsed == 1)
    #expect(data.orderAmount == [45])
  }

  @Test("Shopify's orders export: one order per Name, its total and status on its first line, its further line items counted apart")
  func shopifyOrders() throws {
    let data = try ingest(
      """
      Name,Email,Financial Status,Paid at,Subtotal,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku
      #1001,ann@example.com,paid,2024-03-01 10:00:00 -0500,40.00,45.00,2024-03-01 09:58:00 -0500,1,Mug,20.00,MUG-1
      #1001,ann@example.com,,,,,2024-03-01 09:58:00 -0500,1,Bowl,20.00,BOWL-1
      #1002,ann@example.com,paid,2024-03-01 11:00:00 -0500,10.00,15.00,2024-03-01 10:58:00 -0500,1,Spoon,10.00,SPOON-1
      #1003,bob@example.com,refunded,2024-03-02 10:00:00 -0500,60.00,65.00,2024-03-02 09:00:00 -0500,2,Mug,20.00,MUG-1
      #1003,bob@example.com,,,,,2024-03-02 09:00:00 -0500,1,Plate,20.00,PLATE-1
      #1004,cy@example.com,voided,,30.00,35.00,2024-03-03 09:00:00 -0500,1,Cup,30.00,CUP-1
      #1005,cy@example.com,pending,,30.00,35.00,2024-03-04 09:00:00 -0500,1,Cup,30.00,CUP-1
      #1005,cy@example.com,,,,,2024-03-04 09:00:00 -0500,1,Saucer,5.00,SAUCER-1

      """)
    #expect(data.quality.layout == .shopifyOrders)
    #expect(data.quality.columns["order"] == "Name")
    // Two orders of one customer on one day stay two.
    #expect(data.orderAmount == [45, 15, 35])
    #expect(data.customerIDs == ["ann@example.com", "cy@example.com"])
    // The further line items are neither used nor rejected: their orders are counted, or left
    // out, by their first lines, and the three counts add up to the lines read.
    #expect(data.quality.rejected == [RejectReason.cancelledOrder.rawValue: 2])
    #expect(data.quality.furtherLineItems == 3)
    #expect(data.quality.rowsUsed == 3)
    #expect(data.quality.rowsRead == data.quality.rowsUsed + data.quality.rowsRejected + 3)
  }

  @Test("a Name column is an order id in Shopify's export alone, and a blank amount elsewhere is a bad amount")
  func nameIsNoOrderElsewhere() throws {
    let data = try ingest("Name,Email,Date,Total\nAnn,ann@example.com,2024-01-01,5\nAnn,ann@example.com,2024-01-02,\n")
    #expect(data.quality.columns["order"] == nil)
    #expect(data.quality.rejected == [RejectReason.badAmount.rawValue: 1])
  }

  @Test("a name read before the export names were known still wins over them, wherever it stands")
  func primaryNamesFirst() throws {
    let data = try ingest("email,created_at,total,customer_id,date\nann@example.com,2024-01-01,5,C1,2024-02-01\n")
    #expect(data.quality.columns["customer"] == "customer_id")
    #expect(data.quality.columns["date"] == "date")
    #expect(data.customerIDs == ["C1"])
  }

  @Test("among export names, the earlier in the list wins: Shopify's Created at, which every order has, over Paid at")
  func fallbackOrder() throws {
    let data = try ingest("Paid at,Email,Created at,Total\n,ann@example.com,2024-01-01,5\n")
    #expect(data.quality.columns["date"] == "Created at")
    #expect(data.quality.rowsUsed == 1)
  }

  @Test("a column given with --column is not taken by another role, which finds its next column")
  func overridesComeFirst() throws {
    let data = try ingest(
      "order,invoice,customer,date,amount\nC1,I1,x,2024-01-01,5\n", options: IngestOptions(columns: ["customer": "order"]))
    #expect(data.quality.columns["customer"] == "order")
    #expect(data.quality.columns["order"] == "invoice")
    #expect(data.customerIDs == ["C1"])
  }

  @Test(
    "statuses that mean no sale",
    arguments: ["cancelled", "Canceled", "FAILED", "voided", "Refunded", "fully_refunded", "Declined", "charged-back", "wc-cancelled",
                "Annulée", "ANNULÉE", "remboursé", "échoué", "Storniert", " failed "])
  func noSale(_ value: String) {
    #expect(OrderStatus.isNoSale(value))
  }

  @Test(
    "statuses that keep the line",
    arguments: ["paid", "Completed", "processing", "pending", "partially_refunded", "on-hold", "", "gold", "active", "cancellation requested",
                "refund pending", "CA", "1"])
  func sale(_ value: String) {
    #expect(!OrderStatus.isNoSale(value))
  }

  @Test(
    "statuses that keep the line and say its payment is not settled, each under its name",
    arguments: [("pending", "pending"), ("Pending payment", "pending"), ("wc-pending", "pending"), ("UNPAID", "pending"), ("En attente", "pending"),
                ("on-hold", "on hold"), ("wc-on-hold", "on hold"), ("authorized", "authorized"), ("Autorisée", "authorized"),
                ("partially_paid", "partially paid"), ("partially_refunded", "partially refunded"), ("Partiellement remboursée", "partially refunded")])
  func notSettled(_ value: String, name: String) {
    guard case .notSettled(let index) = OrderStatus.settlement(value) else {
      Issue.record("\(value) read as \(OrderStatus.settlement(value))")
      return
    }
    #expect(OrderStatus.notSettledNames[index] == name)
  }

  @Test("orders counted as sales though their status says the payment is not settled are counted by status, over the orders kept; a partial refund only where no refunded amount is given")
  func salesNotSettled() throws {
    let header = "order,customer,status,date,amount\n"
    let lines = """
      1,ann,completed,2024-01-01,10
      2,ann,pending,2024-01-02,20
      2,ann,pending,2024-01-02,5
      3,bob,on-hold,2024-01-03,30
      4,bob,partially_refunded,2024-01-04,40
      5,cy,pending,2024-02-30,50
      6,cy,cancelled,2024-01-05,60
      7,cy,Pending payment,2024-01-06,70

      """
    let data = try ingest(header + lines)
    // Order 5's day does not read: it is no sale, pending or not. Order 2 is one order.
    #expect(data.quality.salesNotSettled == ["pending": 2, "on hold": 1, "partially refunded": 1])
    #expect(data.orderCount == 5)
    // With a refunded amount, a partial refund is taken off: nothing is left unknown.
    let refunded = try ingest("order,customer,status,date,amount,refunded amount\n1,ann,partially_refunded,2024-01-04,40,10\n")
    #expect(refunded.quality.salesNotSettled == nil && refunded.orderAmount == [30])
    let settled = try ingest("order,customer,status,date,amount\n1,ann,paid,2024-01-04,40\n")
    #expect(settled.quality.salesNotSettled == nil)
  }

  static let amounts: [(text: String, value: Double?)] = [
    ("12.50", 12.5), ("(12.50)", -12.5), ("($1,234.56)", -1234.56), ("(1 234,50 €)", -1234.5), ("12.50-", -12.5), ("1,234.56 -", -1234.56),
    ("-12.50", -12.5), ("$-5.00", -5), ("+3.5", 3.5), ("1e3", 1000), ("-1.5e-1", -0.15),
    ("(12.50", nil), ("12.50)", nil), ("((12))", nil), ("1(2)", nil), ("(-12)", nil), ("-12-", nil), ("12-5", nil), ("1+2", nil),
    ("(1e3)", nil), ("()", nil), ("12.50 USD", nil), ("N/A", nil), ("", nil),
  ]

  @Test("amounts as ledgers and accounting exports write them: a negative one in parentheses or with its minus after it", arguments: 0..<amounts.count)
  func ledgerAmounts(_ index: Int) {
    let (text, value) = Self.amounts[index]
    var field = text
    #expect(field.withUTF8 { parseDecimal($0) } == value, "\(text)")
  }

  @Test("a refund written (45.00) is a return, not a purchase")
  func parenthesisedRefund() throws {
    let data = try ingest("customer,date,amount\nA,2024-01-01,100.00\nA,2024-01-05,(45.00)\n")
    #expect(data.orderAmount == [55])
    #expect(data.quality.returns.lines == 1)
  }

  static let namedDates: [(text: String, date: (Int, Int, Int)?)] = [
    ("15-Jan-2024", (2024, 1, 15)), ("15 Jan 2024", (2024, 1, 15)), ("Jan 15, 2024", (2024, 1, 15)), ("January 15 2024", (2024, 1, 15)),
    ("Mon, 15 Jan 2024 10:23:45 GMT", (2024, 1, 15)), ("Monday, January 15, 2024 at 10:23 AM", (2024, 1, 15)),
    ("15/Jan/2024:10:23:45 +0000", (2024, 1, 15)), ("2024-Jan-15", (2024, 1, 15)), ("2024-Jan-15T10:00:00Z", (2024, 1, 15)),
    ("15-JAN-24", (2024, 1, 15)), ("Sept 3rd, 1999", (1999, 9, 3)), ("Dec 31 2023 11:59PM", (2023, 12, 31)),
    ("15 janv. 2024", (2024, 1, 15)), ("1er février 2024", (2024, 2, 1)), ("3 août 2024", (2024, 8, 3)), ("mar. 5 mars 2024", (2024, 3, 5)),
    ("samedi 14 décembre 2024", (2024, 12, 14)), ("29 Feb 2023", nil), ("Jan 2024", nil), ("Jan 15", nil), ("15 Foo 2024", nil),
    ("Jui 15 2024", nil), ("never", nil), ("N/A", nil), ("Jan 15 2024 2025", nil), ("Jan 32 2024", nil), ("Jan 15 20245", nil),
  ]

  @Test("dates that name their month, in English or French", arguments: 0..<namedDates.count)
  func namedMonthDates(_ index: Int) {
    let (text, expected) = Self.namedDates[index]
    var field = text
    let day = field.withUTF8 { parseRawDate($0) }.flatMap { $0.day(order: .dayFirst) }
    #expect(day == expected.map { Int32(daysFromCivil(year: $0.0, month: $0.1, day: $0.2)) }, "\(text)")
    // The month's name fixes the order: month-first reads the same day.
    #expect(field.withUTF8 { parseRawDate($0) }.flatMap { $0.day(order: .monthFirst) } == day, "\(text)")
  }

  @Test("dates counted from an epoch: Unix seconds and milliseconds, a spreadsheet's day number", arguments: [
    ("1705314225", (2024, 1, 15)), ("1705314225.5", (2024, 1, 15)), ("1705314225123", (2024, 1, 15)), ("45306", (2024, 1, 15)),
    ("45306.4375", (2024, 1, 15)), (" 45306 ", (2024, 1, 15)), ("25569", (1970, 1, 1)), ("1000000000", (2001, 9, 9)),
  ])
  func countedDates(_ text: String, _ expected: (Int, Int, Int)) {
    var field = text
    let day = field.withUTF8 { parseRawDate($0) }.flatMap { $0.day(order: .dayFirst) }
    #expect(day == Int32(daysFromCivil(year: expected.0, month: expected.1, day: expected.2)), "\(text)")
  }

  @Test("counts of other lengths, or with more than a fraction, are no date", arguments: ["123", "1234", "123456", "12345678901", "45306.", "45306.5x", "4530 6", "1705314225,5", "-45306"])
  func notCountedDates(_ text: String) {
    var field = text
    #expect(field.withUTF8 { parseRawDate($0) } == nil, "\(text)")
  }

  @Test("a file of month-named dates reads without a date-order guess or warning")
  func namedMonthFile() throws {
    let data = try ingest("customer,date,amount\nA,03-Feb-2024,5\nB,\"Feb 4, 2024\",6\n")
    #expect(data.quality.rejected.isEmpty)
    #expect(data.quality.warnings.isEmpty)
    #expect(data.orderDay == [Int32(daysFromCivil(year: 2024, month: 2, day: 3)), Int32(daysFromCivil(year: 2024, month: 2, day: 4))])
  }

  @Test("a line's currency agrees with the report's by its code in any case, its symbol, or an empty field", arguments: [
    ("USD", "usd", true), ("USD", " USD ", true), ("USD", "", true), ("USD", "$", true), ("USD", "US$", true), ("CAD", "$", true),
    ("EUR", "€", true), ("GBP", "£", true), ("EUR", "eur", true),
    ("USD", "EUR", false), ("USD", "CAD", false), ("EUR", "$", false), ("USD", "€", false), ("USD", "USDX", false), ("CHF", "$", false),
  ])
  func currencyAgreement(_ report: String, _ field: String, _ agrees: Bool) {
    var value = field
    #expect(value.withUTF8 { CurrencyCheck(column: 0, code: report).accepts($0) } == agrees)
  }

  @Test("with the report's currency known, the lines of another are left out and counted; without it, the column is not read")
  func otherCurrencyLines() throws {
    let text = "customer,date,amount,currency\nA,2024-01-01,10,usd\nA,2024-01-02,20,EUR\nB,2024-01-03,30,USD\nB,2024-01-04,40,\n"
    let checked = try ingest(text, options: IngestOptions(currency: "USD"))
    #expect(checked.orderAmount == [10, 30, 40])
    #expect(checked.quality.rejected == [RejectReason.otherCurrency.rawValue: 1])
    #expect(checked.quality.columns["currency"] == "currency")
    let unchecked = try ingest(text)
    #expect(unchecked.orderAmount == [10, 20, 30, 40])
  }

  @Test("a sale paid back in part counts what stays; paid back in full, it is none; a return's own column is not read")
  func refundedAmounts() throws {
    let data = try ingest(
      """
      id,Created (UTC),Amount,Amount Refunded,Status,Customer ID
      ch_1,2024-01-01 10:00,45.00,10.00,Paid,cus_1
      ch_2,2024-01-02 10:00,30.00,30.00,Paid,cus_1
      ch_3,2024-01-03 10:00,20.00,,Paid,cus_2
      ch_4,2024-01-04 10:00,-5.00,5.00,Paid,cus_2
      ch_5,2024-01-05 10:00,12.00,n/a,Paid,cus_2

      """)
    #expect(data.quality.columns["refunded"] == "Amount Refunded")
    #expect(data.orderAmount == [35, 15, 12])
    #expect(data.quality.rejected == [RejectReason.cancelledOrder.rawValue: 1])
    #expect(data.quality.returns.lines == 1)
  }

  @Test("a file wholly in another currency fails with what to do")
  func wholeFileInAnotherCurrency() throws {
    let data = try ingest("customer,date,amount,Currency\nA,2024-01-01,10,usd\nB,2024-01-03,30,usd\n", options: IngestOptions(currency: "EUR"))
    #expect(throws: AnalysisError.noUsableRows(data.quality)) { try Analyzer.run(data) }
    let message = AnalysisError.noUsableRows(data.quality).description
    #expect(message.contains("other currency 2"))
    #expect(message.contains("currency column (Currency) names another currency than the report's: give the file's with --currency"))
  }

  static let amountCurrencies: [(field: String, report: String?, reading: AmountCurrency.Reading)] = [
    ("12.50", "USD", .value(12.5)), ("12.50 USD", "USD", .value(12.5)), ("USD 12.50", "USD", .value(12.5)), ("usd12.50", "USD", .value(12.5)),
    ("-3.00 USD", "USD", .value(-3)), ("(USD 1,234.56)", "USD", .value(-1234.56)), ("$7.25", "USD", .value(7.25)), ("US$ 3.00", "USD", .value(3)),
    ("$7.25", "CAD", .value(7.25)), ("CA$ 4.00", "CAD", .value(4)), ("12,50 €", "EUR", .value(12.5)), ("EUR 5", "EUR", .value(5)),
    ("120 kr", "SEK", .value(120)), ("1 234,50 zł", "PLN", .value(1234.5)), ("₹ 499", "INR", .value(499)), ("1e2", "USD", .value(100)),
    ("12.50 USD", "EUR", .otherCurrency), ("$7.25", "EUR", .otherCurrency), ("CA$ 4.00", "USD", .otherCurrency), ("12,50 €", "GBP", .otherCurrency),
    ("£3", "EUR", .otherCurrency), ("120 kr", "EUR", .otherCurrency),
    // An unknown symbol is passed over, as before; letters that name no currency are no amount.
    ("₴ 50", "EUR", .value(50)), ("abc12", "EUR", .bad), ("12 apples", "EUR", .bad), ("XYZ 12", "EUR", .bad), ("N/A", "EUR", .bad),
    // Without the report's currency, a currency in the field is read over, not checked.
    ("12.50 USD", nil, .value(12.5)), ("$7.25", nil, .value(7.25)),
  ]

  @Test("a currency written in an amount, before or after its number, is read and checked against the report's", arguments: amountCurrencies)
  func amountCurrency(_ field: String, report: String?, reading: AmountCurrency.Reading) {
    var field = field
    let read = field.withUTF8 { AmountCurrency.read($0, report: report.map { Array($0.utf8) }) }
    #expect(read == reading, "\(field)")
  }

  @Test("lines whose amount or price names another currency are left out as such; a file wholly in one says which")
  func otherCurrencyAmounts() throws {
    let data = try ingest("customer,date,amount\nA,2024-01-01,USD 10.00\nA,2024-01-02,12.50 EUR\nB,2024-01-03,$30\n", options: IngestOptions(currency: "USD"))
    #expect(data.quality.rejected == [RejectReason.otherCurrency.rawValue: 1])
    #expect(data.orderAmount == [10, 30])
    let priced = try ingest("customer,date,quantity,price\nA,2024-01-01,2,€5\nA,2024-01-02,1,£4\n", options: IngestOptions(currency: "EUR"))
    #expect(priced.quality.rejected == [RejectReason.otherCurrency.rawValue: 1] && priced.orderAmount == [10])
    let dollars = try ingest("customer,date,amount\nA,2024-01-01,$10\nB,2024-01-03,$30\n", options: IngestOptions(currency: "EUR"))
    let message = AnalysisError.noUsableRows(dollars.quality).description
    #expect(message.contains("the file's amounts name another currency than the report's: give the file's with --currency"), "\(message)")
  }

  @Test("exports joined end to end: each repeated header is counted as such, not as a bad date or another currency, quoted or not")
  func repeatedHeaders() throws {
    let january = "Order Number,Customer ID,Order Date,Total,Currency\n1,A,2024-01-02,10,EUR\n2,B,2024-01-05,20,EUR\n"
    let february = "Order Number,Customer ID,Order Date,Total,Currency\n3,A,2024-02-02,30,EUR\n"
    let march = "\"Order Number\",\"Customer ID\",\"Order Date\",\"Total\",\"Currency\"\n4,C,2024-03-02,40,EUR\n"
    let data = try ingest(january + february + march, options: IngestOptions(currency: "EUR"))
    #expect(data.quality.rejected == [RejectReason.repeatedHeader.rawValue: 2])
    #expect(data.orderAmount.reduce(0, +) == 100 && data.orderCount == 4)
    // A customer whose id is the column's name, on a line that is not the header, is one.
    let named = try ingest("customer,date,amount\ncustomer,2024-01-01,5\n")
    #expect(named.quality.rejected.isEmpty && named.orderCount == 1)
  }

  static let leadingLineCases: [(text: String, columns: [String: String], skipped: Int?)] = [
    ("customer,date,amount\nA,2024-01-01,5\n", [:], nil),
    ("Sales by Customer Detail\nJanuary 1 - March 31, 2024\n\nClient,Date,Amount\nA,2024-01-01,5\n", [:], 3),
    ("sep=;\r\ncustomer;date;amount\r\nA;2024-01-01;5\r\n", [:], 1),
    ("Acme Ltd,,\nReport,,\nBuyer,When,Paid\nA,2024-01-01,5\n", ["customer": "Buyer", "date": "When", "amount": "Paid"], 2),
    // No line among the first names a customer and a date: read as it is, to fail on line 1.
    ("Title\nfoo,bar\n1,2\n", [:], nil),
    // A title that names a customer column alone is no header.
    ("customer report\ncustomer,date,amount\nA,2024-01-01,5\n", [:], 1),
  ]

  @Test("the lines above a header (a report's title, Excel's sep= line) are found by the first line that names a customer and a date", arguments: leadingLineCases)
  func leadingLines(_ text: String, columns: [String: String], skipped: Int?) throws {
    let bytes = Array(text.utf8)
    let found = bytes.withUnsafeBufferPointer { LeadingLines.find(in: $0, columns: columns) }
    #expect(found?.count == skipped)
    guard let found else { return }
    var rest = bytes
    rest.removeSubrange(found.range)
    // What is left reads as the file whose header is its first line.
    let data = try TransactionIngestor.ingest(rest, options: IngestOptions(columns: columns))
    #expect(data.orderAmount == [5] && data.quality.rowsRead == 1)
    // A UTF-8 byte-order mark stays where it was.
    let marked = [0xEF, 0xBB, 0xBF] + bytes
    let withMark = marked.withUnsafeBufferPointer { LeadingLines.find(in: $0, columns: columns) }
    #expect(withMark?.range == found.range.lowerBound + 3..<found.range.upperBound + 3)
  }

  @Test("customer ids that stand for no one", arguments: [
    "0", "000", " 0 ", "0.0", "-", "?", "Guest", "GUEST", "N/A", "n/a", "#N/A", "NULL", "None", "nan", "unknown", "Walk-in Customer", "Invité", "INVITÉ",
    "Client de passage", "anonymous", "CASH",
  ])
  func anonymousIDs(_ id: String) {
    #expect(AnonymousCustomer.isAnonymous(id))
  }

  @Test("customer ids of someone", arguments: [
    "C001042", "10", "01", "guest1", "cus_000", "Guestrin", "ann@example.com", "guest@example.com", "0@0", "Contact 116", "Nadia", "na@ex.com", "Émile", "00A",
    "8c7f2a4e-0000-4000-8000-000000000000", "0-0-1",
  ])
  func realIDs(_ id: String) {
    #expect(!AnonymousCustomer.isAnonymous(id))
  }

  @Test("the lines of an anonymous customer are left out and counted apart from those without one")
  func anonymousLines() throws {
    let data = try ingest(
      "Order Number,Customer User ID,Order Date,Order Total Amount\n1,17,2024-01-01,10\n2,0,2024-01-02,20\n3,0,2024-01-03,30\n4,,2024-01-04,40\n5,Guest,2024-01-05,50\n",
      options: IngestOptions(columns: ["customer": "Customer User ID"]))
    #expect(data.customerIDs == ["17"])
    #expect(data.quality.rejected == [RejectReason.anonymousCustomer.rawValue: 3, RejectReason.missingCustomer.rawValue: 1])
  }

  @Test("accents read in Windows-1252 as in UTF-8")
  func windows1252Status() {
    let annulee: [UInt8] = [0x41, 0x6E, 0x6E, 0x75, 0x6C, 0xE9, 0x65]
    #expect(annulee.withUnsafeBufferPointer(OrderStatus.isNoSale))
    let invite: [UInt8] = [0x49, 0x6E, 0x76, 0x69, 0x74, 0xC9]
    #expect(invite.withUnsafeBufferPointer(AnonymousCustomer.isAnonymous))
  }

  @Test("the lines of cancelled, failed and refunded orders are left out and counted; the others are read")
  func statusLines() throws {
    let data = try ingest(
      """
      Order Number,Order Status,Order Date,Email (Billing),Order Total Amount
      1,completed,2024-01-05,ann@example.com,10.00
      2,cancelled,2024-01-06,ann@example.com,20.00
      3,failed,2024-01-07,bob@example.com,30.00
      4,processing,2024-01-08,bob@example.com,40.00
      5,refunded,2024-01-09,cy@example.com,50.00
      5,refunded,2024-01-09,cy@example.com,50.00
      6,,2024-01-10,cy@example.com,60.00

      """)
    #expect(data.orderAmount == [10, 40, 60])
    #expect(data.customerIDs == ["ann@example.com", "bob@example.com", "cy@example.com"])
    #expect(data.quality.rejected == [RejectReason.cancelledOrder.rawValue: 3, RejectReason.duplicateLine.rawValue: 1])
    #expect(data.quality.rowsRead == 7)
    #expect(data.quality.rowsUsed == 3)
  }

  @Test("a customer with cancelled orders alone is no customer")
  func onlyCancelled() throws {
    let data = try ingest("customer,date,amount,status\nA,2024-01-01,5,paid\nB,2024-01-02,7,canceled\n")
    #expect(data.customerIDs == ["A"])
  }

  @Test("a status column given with --column is read, and one whose values are no status leaves every line")
  func statusMapping() throws {
    let mapped = try ingest(
      "customer,date,amount,etat_paiement\nA,2024-01-01,5,payé\nA,2024-01-02,7,échec\n", options: IngestOptions(columns: ["status": "etat_paiement"]))
    #expect(mapped.orderAmount == [5])
    let tier = try ingest("customer,date,amount,status\nA,2024-01-01,5,gold\nB,2024-01-02,7,silver\n")
    #expect(tier.orderAmount == [5, 7])
    #expect(tier.quality.rejected.isEmpty)
  }

  @Test("an append plans with the columns reading takes")
  func appendColumnsAgree() throws {
    for export in Self.exports {
      let names = export.header.split(separator: ",").map(String.init)
      let planned = try overlapColumns(names, overrides: [:])
      let read = try ColumnRole.mapping(names: names, overrides: [:])
      #expect(planned.date == read[.date], "\(export.name)")
      #expect(planned.order == read[.order], "\(export.name)")
    }
  }

  @Test("docs/datasets.md lists every header name read and every status that means no sale")
  func documented() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let doc = try String(contentsOf: root.appendingPathComponent("docs/datasets.md"), encoding: .utf8)
    for role in ColumnRole.allCases {
      for name in role.aliases + role.fallbackAliases {
        #expect(doc.contains("`\(name)`"), "\(role.rawValue): \(name)")
      }
    }
    for value in OrderStatus.noSaleValues + OrderStatus.notSettledValues.map(\.value) {
      #expect(doc.contains("`\(value)`"), "status \(value)")
    }
    for id in AnonymousCustomer.ids {
      #expect(doc.contains("`\(id)`"), "anonymous \(id)")
    }
  }
}
