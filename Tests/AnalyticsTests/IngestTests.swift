import Foundation
import Testing

@testable import Analytics

@Suite("Ingestion")
struct IngestTests {
  func ingest(_ text: String, options: IngestOptions = IngestOptions()) throws -> TransactionData {
    try TransactionIngestor.ingest(Array(text.utf8), options: options)
  }

  @Test("orders layout with comma separator")
  func ordersLayout() throws {
    let data = try ingest("customer_id,order_id,order_date,amount\nA,1,2024-01-05,10.50\nA,2,2024-02-01,5\nB,3,2024-01-07,7.25\n")
    #expect(data.customerIDs == ["A", "B"])
    #expect(data.orderCount == 3)
    #expect(abs(data.orderAmount.reduce(0, +) - 22.75) < 1e-9)
    #expect(data.quality.rowsUsed == 3)
    #expect(data.quality.dateOrder == "ymd")
  }

  @Test("semicolons, decimal commas, BOM, CRLF and quoted fields with separators and newlines")
  func europeanExport() throws {
    let text = "\u{FEFF}Client;Commande;Date;Montant;Categorie\r\nA;1;05/01/2024;\"1 234,50\";\"maison; jardin\"\r\nB;2;13/01/2024;12,00;\"two\nlines\"\r\n"
    let data = try ingest(text)
    #expect(data.quality.encoding == TextEncoding.utf8WithBOM.rawValue)
    #expect(data.quality.separator == ";")
    #expect(data.quality.dateOrder == "dmy")
    #expect(data.orderAmount == [1234.5, 12])
    #expect(data.categories == ["maison; jardin", "two\nlines"])
    #expect(data.orderDay[0] == Int32(daysFromCivil(year: 2024, month: 1, day: 5)))
  }

  @Test("Windows-1252 text is decoded")
  func windows1252() throws {
    var bytes = Array("customer_id\tdate\tamount\n".utf8)
    bytes += [0x45, 0xE9, 0x6C, 0x6F, 0x64, 0x69, 0x65] + Array("\t2024-03-01\t3\n".utf8)  // "Élodie" with é = 0xE9
    let data = try TransactionIngestor.ingest(bytes)
    #expect(data.quality.encoding == "Windows-1252")
    #expect(data.customerIDs == ["E\u{E9}lodie"])
    #expect(data.quality.separator == "tab")
  }

  @Test("retail export: amount is quantity × price, C invoices and negative quantities are returns, month-first dates detected")
  func retailExport() throws {
    let text = """
      InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
      536365,85123A,"WHITE HANGING HEART, T-LIGHT",6,12/1/2010 8:26,2.55,17850,United Kingdom
      536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom
      C536379,D,Discount,-1,12/13/2010 9:41,27.5,14527,United Kingdom
      536380,22961,JAM MAKING SET,-2,12/13/2010 9:41,1.45,14527,United Kingdom
      536381,22961,JAM MAKING SET,2,12/13/2010 9:41,1.45,,United Kingdom
      536382,22961,JAM MAKING SET,2,12/13/2010 9:41,1.45,14527,United Kingdom
      536382,22961,JAM MAKING SET,2,12/13/2010 9:41,1.45,14527,United Kingdom

      """
    let data = try ingest(text)
    #expect(data.quality.layout == .retailExport)
    #expect(data.quality.dateOrder == "mdy")
    #expect(data.orderCount == 2)
    #expect(abs(data.orderAmount[0] - (6 * 2.55 + 6 * 3.39)) < 1e-9)
    #expect(data.quality.rejected == ["return": 2, "missing customer": 1, "duplicate line": 1])
    #expect(data.quality.rowsRead == 7)
    #expect(data.quality.rowsUsed + data.quality.rowsRejected == data.quality.rowsRead)
  }

  @Test("customer and day make an order when there is no order column")
  func dailyLayout() throws {
    let data = try ingest("customer_id,date,quantity,amount\nA,19970101,1,10\nA,19970101,2,5\nA,19970102,1,1\n")
    #expect(data.orderCount == 2)
    #expect(data.orderAmount == [15, 1])
  }

  @Test("unreadable files are refused with the line and the reason", arguments: [
    ("name,value\nx,1\n", 1, "no customer column"),
    ("customer_id,date,amount\nA,\"2024-01-01,3\n", 2, "never closed"),
    ("customer_id,date,amount\nA,13/01/2024,1\nB,01/13/2024,2\n", 3, "mix day-first"),
  ])
  func unreadable(text: String, line: Int, reason: String) throws {
    let error = #expect(throws: CSVFormatError.self) { try ingest(text) }
    #expect(error?.line == line)
    #expect(error?.description.contains(reason) == true)
  }

  @Test("bad rows are counted by reason")
  func badRows() throws {
    let data = try ingest("customer_id,order_id,order_date,amount\nA,1,2024-01-01,abc\n,2,2024-01-01,3\nA,3,2024-02-30,3\nA,4,2024-01-01,0\nA,5,2024-01-02,4\n")
    #expect(data.quality.rejected == ["bad amount": 1, "missing customer": 1, "bad date": 1])
    // The 0.00 line is a purchase without revenue: an order.
    #expect(data.orderCount == 2 && data.orderAmount == [0, 4])
  }

  @Test("a return takes back the purchase line of the same product and quantity; an order returned whole is no order")
  func fullOrderReturned() throws {
    let data = try ingest("""
      InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
      581483,23843,PAPER CRAFT,80995,12/9/2011 9:15,2.08,16446,United Kingdom
      C581484,23843,PAPER CRAFT,-80995,12/9/2011 9:27,2.08,16446,United Kingdom
      536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom
      536365,71053,LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom
      C536366,71053,LANTERN,-6,12/2/2010 8:26,3.39,17850,United Kingdom
      C536367,85123A,HEART,-1,12/3/2010 8:26,2.55,17850,United Kingdom
      C536368,85123A,HEART,-1,12/3/2010 8:26,2.55,99999,United Kingdom

      """)
    // 16446's only order is gone; 17850 keeps one order, its lantern line taken back and one
    // heart (a quantity no line had) taken off its spend; 99999 never bought: rejected.
    #expect(data.orderCount == 1 && data.customerIDs[Int(data.orderCustomer[0])] == "17850")
    #expect(abs(data.orderAmount[0] - (6 * 2.55 - 2.55)) < 1e-9)
    let returns = data.quality.returns
    #expect(returns.lines == 3 && returns.matchedLines == 2 && returns.ordersCancelled == 1)
    #expect(abs(returns.value - (80995 * 2.08 + 6 * 3.39 + 2.55)) < 1e-6)
    #expect(data.quality.rejected == ["return": 1])
    #expect(data.quality.rowsUsed + data.quality.rowsRejected == data.quality.rowsRead)
  }

  @Test("a retail export of several megabytes read in chunks, its tables sized from the file's size, nets its returns as one read whole does")
  func largeRetailExportInChunks() throws {
    var text = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    var rng = SplitMix64(seed: 4)
    for line in 0..<60_000 {
      let (customer, product, quantity) = (rng.next() % 3000, rng.next() % 40, 1 + rng.next() % 3)
      let day = 1 + line / 2500
      text += "\(500_000 + line / 3),P\(product),ITEM,\(quantity),1/\(day)/2011 9:00,\(Double(1 + rng.next() % 900) / 100),\(customer),UK\n"
      // Returns of a line bought earlier (or of none): some match a purchase line, some not.
      if line % 9 == 0 {
        let matching = rng.next() % 2 == 0
        let returned = matching ? (customer, product, quantity) : (rng.next() % 3000, rng.next() % 40, 1 + rng.next() % 3)
        text += "C\(600_000 + line),P\(returned.1),ITEM,-\(returned.2),1/\(day)/2011 10:00,1.00,\(returned.0),UK\n"
      }
    }
    let bytes = Array(text.utf8)
    #expect(bytes.count > 2 << 20)
    let whole = try TransactionIngestor.ingest(bytes)
    var reader = TransactionIngestor(expectedBytes: bytes.count)
    for start in stride(from: 0, to: bytes.count, by: 300_000) { try reader.consume(Array(bytes[start..<min(bytes.count, start + 300_000)])) }
    let chunked = try reader.finish()
    #expect(whole.quality.returns.matchedLines > 1000 && whole.quality.returns.lines > whole.quality.returns.matchedLines)
    #expect(chunked.quality.returns == whole.quality.returns)
    #expect(chunked.customerIDs == whole.customerIDs && chunked.orderCustomer == whole.orderCustomer && chunked.orderDay == whole.orderDay)
    #expect(chunked.orderAmount == whole.orderAmount)
  }

  @Test("without line identity, identical lines and 0.00 lines are purchases; with an order id, a repeated line is a duplicate")
  func everyPurchaseKept() throws {
    let panel = try ingest("customer,date,quantity,amount\nA,19970101,1,10.50\nA,19970101,1,10.50\nB,19970102,1,0.00\nB,19970110,2,5\n")
    #expect(panel.quality.rejected.isEmpty && panel.quality.rowsUsed == 4)
    #expect(panel.orderCount == 3 && panel.orderAmount == [21, 0, 5])
    let orders = try ingest("customer,order,date,amount\nA,1,2024-01-01,10.50\nA,1,2024-01-01,10.50\n")
    #expect(orders.quality.rejected == ["duplicate line": 1] && orders.orderAmount == [10.5])
  }

  @Test(
    "UUID identifiers, in either case or mixed with others, come back as written and group lines into orders",
    arguments: [
      ["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "00000000-0000-4000-8000-000000000000", "c9bf9e57-1685-4c89-bafb-ff5af830be8a"],
      ["3F2504E0-4F89-41D3-9A0C-0305E82C3301", "00000000-0000-4000-8000-000000000000", "C9BF9E57-1685-4C89-BAFB-FF5AF830BE8A"],
      ["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "C9BF9E57-1685-4C89-BAFB-FF5AF830BE8A", "c9bf9e57-1685-4c89-bafb-ff5af830be8a"],
      ["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "A", "3f2504e0-4f89-41d3-9a0c-0305e82c330"],
    ])
  func uuidIdentifiers(ids: [String]) throws {
    // Customer i places order ids[i] in two lines (one order), then a second order whose id
    // is ids[i] with each hex digit one higher, in its case.
    let digits = (Array("0123456789abcdef".utf8), Array("0123456789ABCDEF".utf8))
    let next = ids.map { id in
      String(decoding: id.utf8.map { byte in
        if let d = digits.0.firstIndex(of: byte), byte >= 0x61 || byte < 0x3A { return digits.0[(d + 1) % 16] }
        if let d = digits.1.firstIndex(of: byte) { return digits.1[(d + 1) % 16] }
        return byte
      }, as: UTF8.self)
    }
    var text = "customer_id,order_id,order_date,amount\n"
    for (i, id) in ids.enumerated() {
      text += "\(id),\(id),2024-01-0\(i + 1),10\n\(id),\(id),2024-01-0\(i + 1),5\n"
      text += "\(id),\(next[i]),2024-02-0\(i + 1),1\n"
    }
    let data = try ingest(text)
    #expect(Array(data.customerIDs) == ids)
    #expect(data.orderCount == 6 && data.quality.rowsUsed == 9 && data.quality.rejected.isEmpty)
    #expect(data.orderAmount.sorted() == [1, 1, 1, 15, 15, 15])
  }

  @Test("a customer whose returns cancel the spend stays a customer, with no predicted value")
  func netSpendZero() throws {
    let data = try ingest("customer,order,date,amount\nA,1,2024-01-01,10\nA,2,2024-02-01,10\nA,3,2024-02-05,-20\nB,4,2024-01-03,5\nB,5,2024-03-01,7\nC,6,2024-01-09,3\n")
    let (result, customers) = try Analyzer.run(data)
    let a = try #require(customers.table.ids.firstIndex(of: "A"))
    #expect(customers.table.monetary[a] == 0 && customers.table.frequency[a] == 2)
    #expect(customers.predictedCLV[a] == 0)
    #expect(result.revenue == 15 && result.dataQuality.returns.lines == 1)
  }

  @Test("explicit column mapping and date order")
  func mapping() throws {
    let options = IngestOptions(columns: ["customer": "who", "date": "when", "amount": "paid"], dateOrder: .monthFirst)
    let data = try ingest("who,when,paid\nx,01/02/2024,3\n", options: options)
    #expect(data.orderDay == [Int32(daysFromCivil(year: 2024, month: 1, day: 2))])
  }

  @Test("chunk boundaries do not change the result")
  func chunking() throws {
    let text = Array("customer_id,order_id,order_date,amount\n\"A,1\",1,2024-01-05,\"10,5\"\nB,2,2024-01-06,3\n".utf8)
    let whole = try TransactionIngestor.ingest(text)
    for size in 1...7 {
      var ingestor = TransactionIngestor()
      var offset = 0
      while offset < text.count {
        try ingestor.consume(Array(text[offset..<min(text.count, offset + size)]))
        offset += size
      }
      let data = try ingestor.finish()
      #expect(data.customerIDs == whole.customerIDs)
      #expect(data.orderAmount == whole.orderAmount)
    }
  }

  /// A file large enough to be parsed in parts on several cores, with the awkward cases at
  /// every position: quoted separators and line breaks, doubled quotes, a stray quote inside
  /// an unquoted field, CRLF, blank, short, duplicate and rejected lines.
  static func awkwardFile(lines: Int) -> [UInt8] {
    var text = "customer_id,order_id,order_date,amount,category\r\n"
    for i in 0..<lines {
      let customer = "C\(i % 997)"
      switch i % 11 {
      case 0: text += "\"\(customer)\",O\(i),2024-02-\(i % 28 + 1),\"1\(i % 90),5\",\"home,\ngarden\"\r\n"
      case 1: text += "\(customer),O\(i),2024-03-\(i % 28 + 1),\(i % 50 + 1).25,12\" screen\n"
      case 2: text += "\(customer),O\(i),2024-03-01,7.5,\"say \"\"hi\"\"\"\n"
      case 3: text += "\n"
      case 4: text += "\(customer),O\(i)\n"
      case 5: text += "\(customer),O\(i),not a date,3,books\n"
      case 6: text += "\(customer),O\(i),2024-04-0\(i % 9 + 1),-4,books\n"
      case 7: text += "D1,Q1,2024-05-01,9.99,books\n"
      default: text += "\(customer),O\(i % 5000),2024-01-\(i % 28 + 1),\(i % 70 + 1).10,toys\n"
      }
    }
    return Array(text.utf8)
  }

  @Test(
    "the quoting rules end a record only at a line break outside quotes",
    arguments: [
      ("a,b\n", [3]),
      ("\"a\nb\",c\n", [7]),  // a line break inside quotes is data
      ("\"say \"\"hi\"\"\"\n", [12]),  // doubled quotes do not close the field
      ("a\r\n\r\nb\n", [2, 4, 6]),  // CRLF, and a blank line (which the tokenizer skips)
      ("\"unclosed\nstill,inside\n", []),
    ])
  func recordEnds(text: String, ends: [Int]) {
    var quoting = CSVQuoting()
    var found: [Int] = []
    for (offset, byte) in text.utf8.enumerated() {
      switch quoting.step(byte, separator: UInt8(ascii: ",")) {
      case .recordEnd, .recordEndAtFieldStart: found.append(offset)
      default: break
      }
    }
    #expect(found == ends)
  }

  @Test("parsing in parts on several cores gives what one pass gives, whatever the chunk size")
  func partsMatchOnePass() throws {
    let bytes = Self.awkwardFile(lines: 30_000)
    #expect(bytes.count > 600_000)  // several parts per chunk
    let whole = try TransactionIngestor.ingest(bytes)
    for size in [997, 65_536, 300_000] {
      var ingestor = TransactionIngestor()
      var offset = 0
      while offset < bytes.count {
        try ingestor.consume(Array(bytes[offset..<min(bytes.count, offset + size)]))
        offset += size
      }
      let data = try ingestor.finish()
      #expect(data.customerIDs == whole.customerIDs)
      #expect(data.orderCustomer == whole.orderCustomer)
      #expect(data.orderDay == whole.orderDay)
      #expect(data.orderAmount == whole.orderAmount)
      #expect(data.categories == whole.categories)
      #expect(data.categorySpend == whole.categorySpend)
      #expect(data.quality == whole.quality)
    }
    #expect(whole.categories.contains("home,\ngarden"))
    #expect(whole.categories.contains("12\" screen"))
    #expect(whole.categories.contains("say \"hi\""))
    for reason in [RejectReason.shortLine, .badDate, .returned, .duplicateLine, .orderOfAnotherCustomer] {
      #expect((whole.quality.rejected[reason.rawValue] ?? 0) > 0, "\(reason)")
    }
  }

  @Test("line numbers stay right after the file is cut into parts")
  func lineNumbersAcrossParts() throws {
    // 40,000 ISO lines (one of them a quoted line break), then a day-first date and a
    // month-first date far down the file: the error must name both physical lines.
    var text = "customer_id,order_id,order_date,amount,note\n"
    for i in 0..<40_000 { text += "C\(i % 500),O\(i),2024-01-15,12.5,\(i == 10 ? "\"two\nlines\"" : "x")\n" }
    text += "C1,P1,25/01/2024,3,x\n"  // line 40,003 (header, 40,000 lines, one quoted break)
    text += "C2,P2,01/25/2024,3,x\n"  // line 40,004
    #expect(throws: CSVFormatError(line: 40_004, reason: "dates mix day-first (line 40003) and month-first (line 40004) forms; pass the date order explicitly (--date-order dmy|mdy)")) {
      try TransactionIngestor.ingest(Array(text.utf8))
    }
    let unclosed = Array((text.replacingOccurrences(of: "P2", with: "P3") + "C3,P4,2024-01-15,3,\"never closed\n").utf8)
    #expect(throws: CSVFormatError(line: 40_005, reason: "a quoted field opened here is never closed")) {
      try TransactionIngestor.ingest(unclosed)
    }
  }

  @Test("each raw date's remembered day is the calendar's, for dates that share a slot and dates that are no day", arguments: DateOrder.allCases)
  func rememberedDays(order: DateOrder) {
    // 2 × 3 × 32 × 32 raw dates for 4,096 slots: many meet another in their slot.
    var dates: [RawDate] = []
    for year in Int32(1999)...2001 {
      for first in Int8(0)...31 {
        for second in Int8(0)...31 {
          for isYearFirst in [false, true] { dates.append(RawDate(year: year, first: first, second: second, isYearFirst: isYearFirst)) }
        }
      }
    }
    var generator = SplitMix64(seed: 28)
    var remembered = RememberedDays(order: order)
    for date in (dates + dates.shuffled(using: &generator)) {
      #expect(remembered.day(of: PackedRawDate(date)) == date.day(order: order))
    }
  }
}
