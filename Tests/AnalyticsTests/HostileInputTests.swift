import Foundation
import Testing

@testable import Analytics

/// Inputs and options that once trapped or exhausted a worker: each is now a counted
/// rejected row or a precise error, and the analysis costs what the data weighs.
@Suite("Hostile input")
struct HostileInputTests {
  func ingest(_ text: String, options: IngestOptions = IngestOptions()) throws -> TransactionData {
    try TransactionIngestor.ingest(Array(text.utf8), options: options)
  }

  @Test(
    "options whose bounds cross are refused, never trapped",
    arguments: [
      (3650, 0, "at_risk_days"), (3649, 3649, "lost_days"), (0, 0, "at_risk_days"), (-5, 0, "at_risk_days"), (90, 5000, "lost_days"),
      (Int.max, 0, "at_risk_days"),
    ])
  func crossingBounds(atRisk: Int, lost: Int, named: String) {
    var options = AnalysisOptions()
    options.atRiskDays = atRisk
    options.lostDays = lost == 0 ? max(atRisk, 180) : lost
    do {
      try options.validate()
      Issue.record("accepted at_risk_days \(atRisk), lost_days \(options.lostDays)")
    } catch {
      #expect(error.description.contains(named))
    }
  }

  @Test("other options out of range name themselves", arguments: ["clusters", "monthly_discount_rate", "as_of", "as_of late", "churn", "currency"])
  func outOfRange(named: String) {
    var options = AnalysisOptions()
    switch named {
    case "clusters": options.clusters = 99
    case "monthly_discount_rate": options.monthlyDiscountRate = .nan
    case "as_of": options.asOfDay = daysFromCivil(year: 1850, month: 1, day: 1)
    case "as_of late": options.asOfDay = daysFromCivil(year: 9999, month: 12, day: 31)
    case "churn": options.thresholds.monthlyChurn = .infinity
    default: options.currency = String(repeating: "X", count: 100_000)
    }
    let error = #expect(throws: AnalysisError.self) { try options.validate() }
    #expect(error?.description.contains(named.split(separator: " ")[0]) == true)
    #expect((error?.description.count ?? 0) < 300)
  }

  @Test("a reference date before the last purchase is refused with both dates")
  func referenceBeforeData() throws {
    let data = try ingest("customer_id,order_date,amount\nA,2024-01-05,10\nA,2024-03-01,5\nB,2024-02-07,7\n")
    var options = AnalysisOptions()
    options.asOfDay = daysFromCivil(year: 2024, month: 2, day: 1)
    let error = #expect(throws: AnalysisError.self) { _ = try Analyzer.run(data, options: options) }
    #expect(error?.description.contains("2024-02-01") == true)
    #expect(error?.description.contains("2024-03-01") == true)
    // On the last purchase's day it is accepted: recency 0.
    options.asOfDay = daysFromCivil(year: 2024, month: 3, day: 1)
    let (_, customers) = try Analyzer.run(data, options: options)
    #expect(customers.table.recency.min() == 0)
  }

  @Test("dates before 1900 or after the day the file came in are rejected rows, counted")
  func dateWindow() throws {
    let received = daysFromCivil(year: 2026, month: 11, day: 30)
    let data = try ingest(
      "customer_id,order_date,amount\nA,2024-01-05,10\nB,9999-12-31,5\nC,1899-12-31,7\nD,2026-12-01,3\nE,2026-12-02,3\n",
      options: IngestOptions(latestDay: DateWindow.latestPurchaseDay(today: received)))
    #expect(data.customerIDs.count == 5)  // customers are named before dates are checked
    #expect(data.orderCount == 2)  // A, and D one day after the file came in
    #expect(data.quality.rejected["date out of range"] == 3)
    #expect(data.quality.rowsUsed == 2)
  }

  @Test("fuzzing finds: a year of five digits is no date", arguments: ["25109/9/12", "10000-01-01", "99999-12-31"])
  func fiveDigitYears(text: String) {
    let date = Array(text.utf8).withUnsafeBufferPointer { parseRawDate($0) }
    #expect(date == nil)
  }

  @Test("amounts that are not finite or beyond any real sale are rejected rows, counted", arguments: [
    "1e309", "-1e309", "1234567890123456789012345678901234567890", "2e12", "inf", "nan",
  ])
  func hugeAmounts(amount: String) throws {
    let data = try ingest("customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-01-06,\(amount)\n")
    #expect(data.orderCount == 1)
    #expect(data.orderAmount == [10])
    let rejected = data.quality.rejected["amount out of range", default: 0] + data.quality.rejected["bad amount", default: 0]
    #expect(rejected == 1)
  }

  @Test("quantity × price that overflows is rejected")
  func overflowingProduct() throws {
    let data = try ingest("customer_id,order_date,quantity,unit_price\nA,2024-01-05,2,3\nB,2024-01-06,1e200,1e200\n")
    #expect(data.orderAmount == [6])
    #expect(data.quality.rejected["amount out of range"] == 1)
  }

  @Test("a file whose lines end with CR alone (old Mac exports) is read line by line")
  func carriageReturnsOnly() throws {
    let text = "customer_id,order_date,amount\rA,2024-01-05,10\rB,2024-01-06,5\r\"C\r2\",2024-01-07,4\r"
    // Whatever the chunk size, the CR-only file reads the same.
    for chunk in [1, 2, 7, 1 << 20] {
      var ingestor = TransactionIngestor()
      let bytes = Array(text.utf8)
      for start in stride(from: 0, to: bytes.count, by: chunk) { try ingestor.consume(Array(bytes[start..<min(bytes.count, start + chunk)])) }
      let data = try ingestor.finish()
      #expect(data.customerIDs == ["A", "B", "C\n2"], "chunk \(chunk)")
      #expect(data.quality.rowsUsed == 3)
    }
    let attributes = try CustomerAttributesIngestor.ingest(Array("customer_id,satisfaction\rA,4\rB,5\r".utf8))
    #expect(attributes.rows == 2)
  }

  @Test("a header of a million columns is refused with a short reason")
  func millionColumns() {
    let header = (0..<1_000_000).map { "c\($0)" }.joined(separator: ",") + "\n"
    let error = #expect(throws: CSVFormatError.self) { _ = try ingest(header + "1\n") }
    #expect(error?.reason.contains("1000000 columns") == true)
    #expect((error?.description.count ?? .max) <= CSVFormatError.maxReasonLength + 20)
  }

  @Test("a file with no line break is refused after a bounded read, not buffered whole")
  func noLineBreak() {
    var ingestor = TransactionIngestor()
    let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
    #expect(throws: CSVFormatError.self) {
      for _ in 0..<64 { try ingestor.consume(chunk) }
    }
  }

  @Test("a quote never closed is refused after a bounded read, at the line where its record starts", arguments: [1 << 20, 300_000])
  func unclosedQuote(chunkSize: Int) {
    var ingestor = TransactionIngestor()
    var file = Array("customer_id,order_date,amount\nA,2024-01-05,3\nB,2024-01-06,\"4\nC,2024-01-07,5\n".utf8)
    // Then lines without a quote, which the open quote makes part of line 3's record.
    let line = Array("D,2024-01-08,6\n".utf8)
    while file.count < 64 << 20 { file += line }
    var consumed = 0
    let error = #expect(throws: CSVFormatError.self) {
      while consumed < file.count {
        try ingestor.consume(Array(file[consumed..<min(file.count, consumed + chunkSize)]))
        consumed += chunkSize
      }
    }
    #expect(error?.line == 3 && error?.reason.contains("4 MiB") == true)
    #expect(consumed < 8 << 20, "read \(consumed) bytes before refusing")
  }

  @Test("a header naming no customer column lists at most twenty names in its reason")
  func longHeaderReason() {
    let header = (0..<5000).map { "column_with_a_long_name_\($0)" }.joined(separator: ",")
    let error = #expect(throws: CSVFormatError.self) { _ = try ingest(header + "\n1\n") }
    #expect(error?.reason.contains("and 4980 more") == true)
    #expect((error?.reason.count ?? .max) < 1200)
  }

  @Test("a category column that names each line's product: memory follows the pairs, the report shows five and 'other'")
  func categoryPerLine() throws {
    // 60,000 categories over 20,000 customers: rows as wide as the categories took 8 bytes
    // per customer per category, 9.6 GB here (a 5 MB file of 100,000 such lines took
    // every gigabyte of the machine).
    var csv = "customer_id,order_id,order_date,amount,category\n"
    var spend: [String: Double] = [:]
    for line in 0..<60_000 {
      let amount = Double(5 + line % 70)
      csv += "C\(line % 20_000),O\(line),2024-\(1 + line % 12)-\(1 + line % 28),\(amount),product \(line)\n"
      spend["product \(line)", default: 0] += amount
    }
    let data = try ingest(csv)
    #expect(data.categories.count == 60_000 && data.categorySpend.count == 60_000)
    #expect(data.categorySpend.keys == data.categorySpend.keys.sorted())
    for i in stride(from: 0, to: data.categorySpend.count, by: 997) {
      let name = data.categories[data.categorySpend.category(i)]
      #expect(data.categorySpend.amounts[i] == spend[name])
      #expect(data.customerIDs[data.categorySpend.customer(i)] == "C\(Int(name.dropFirst(8))! % 20_000)")
    }
    let categories = try #require(try Analyzer.run(data).result.insights.categories)
    #expect(categories.categories.count == 6 && categories.categories.last == "other")
  }

  @Test("one purchase in 1900 and one today: the analysis costs what two purchases weigh")
  func centurySpan() throws {
    let today = DateWindow.today()
    let text = "customer_id,order_date,amount\nA,1900-01-01,10\nB,\(isoDate(today)),5\nB,\(isoDate(today - 40)),5\n"
    let data = try ingest(text, options: IngestOptions(latestDay: today + 1))
    let clock = ContinuousClock()
    let elapsed = try clock.measure { _ = try Analyzer.run(data) }
    #expect(elapsed < .seconds(20))
  }

  @Test("monthly base, retention and cohorts equal a customers × months count", arguments: [1, 30, 90, 400])
  func sparseMonthlyFigures(atRiskDays: Int) throws {
    let data = sampleData(customers: 300, seed: 11)
    let table = CustomerTable(data)
    let kpis = Indicators.compute(data, table: table, atRiskDays: atRiskDays)
    // The plain definition: a customers × months grid.
    let firstMonth = monthIndex(ofDay: Int(data.orderDay.min()!))
    let months = monthIndex(ofDay: table.lastDataDay) - firstMonth + 1
    let row = table.rowsBySource(sourceCount: data.customerIDs.count)
    var active = [[Bool]](repeating: [Bool](repeating: false, count: months), count: table.count)
    var inBase = active
    for o in 0..<data.orderCount {
      let c = Int(row[Int(data.orderCustomer[o])])
      let day = Int(data.orderDay[o])
      let m = monthIndex(ofDay: day) - firstMonth
      active[c][m] = true
      for k in m..<months {
        let index = firstMonth + k
        let end = min(daysFromCivil(year: index / 12, month: index % 12 + 1, day: Int(daysInMonth(year: index / 12, month: index % 12 + 1))), table.lastDataDay)
        if end - atRiskDays < day { inBase[c][k] = true } else { break }
      }
    }
    for m in 0..<months {
      #expect(kpis.monthly[m].activeCustomers == active.filter { $0[m] }.count)
      #expect(kpis.monthly[m].activeBase == inBase.filter { $0[m] }.count)
      if m > 0 {
        let previous = inBase.filter { $0[m - 1] }.count
        let retained = inBase.filter { $0[m - 1] && $0[m] }.count
        #expect(kpis.monthly[m].retention == (previous > 0 ? Double(retained) / Double(previous) : nil))
      }
    }
    for cohort in kpis.cohorts {
      let start = monthIndexOf(label: cohort.month) - firstMonth
      let members = (0..<table.count).filter { monthIndex(ofDay: Int(table.firstDay[$0])) - firstMonth == start }
      #expect(cohort.customers == members.count)
      for (offset, share) in cohort.retention.enumerated() {
        #expect(share == Double(members.filter { active[$0][start + offset] }.count) / Double(members.count))
      }
    }
  }

  func monthIndexOf(label: String) -> Int {
    let parts = label.split(separator: "-")
    return Int(parts[0])! * 12 + Int(parts[1])! - 1
  }

  @Test("spreadsheet formulas in exported ids and names are neutralised", arguments: [
    "=cmd|' /C calc'!A0", "+SUM(1+1)", "-2+3", "@SUM(1)", "\tTAB", "\rCR",
  ])
  func formulaInjection(id: String) {
    let field = csvField(id)
    let unquoted = field.hasPrefix("\"") ? String(field.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"") : field
    #expect(unquoted.hasPrefix("'"))
    #expect(unquoted.dropFirst() == Substring(id))
  }
}
