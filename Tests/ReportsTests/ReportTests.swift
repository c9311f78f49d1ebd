import Analytics
import Foundation
import Testing

@testable import Reports

/// Where this file's fixtures, golden files and seed reports live.
let testDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

/// The small fixed data set of the golden files, with every optional column:
/// Fixtures/shop-orders.csv and shop-customers.csv, made once with
/// `scripts/generate-data.py Fixtures/shop-orders.csv --customers 400 --seed 11 --days 540
/// --customers-file Fixtures/shop-customers.csv`, analysed once.
let fixture: AnalysisResult = {
  let orders = try! Data(contentsOf: testDirectory.appendingPathComponent("Fixtures/shop-orders.csv"))
  let customers = try! Data(contentsOf: testDirectory.appendingPathComponent("Fixtures/shop-customers.csv"))
  let data = try! TransactionIngestor.ingest([UInt8](orders))
  let attributes = try! CustomerAttributesIngestor.ingest([UInt8](customers))
  return try! Analyzer.run(data, attributes: attributes.attributes, attributeRows: attributes.rows).result
}()

/// The report page of `result` in `format` (md or html), made the way a job makes it.
func page(_ result: AnalysisResult, _ format: ArtifactFormat, _ language: ReportLanguage, tenantName: String = "") -> String {
  String(decoding: Artifact.page(ReportBuilder(result: result, language: language, tenantName: tenantName).document(), format).data, as: UTF8.self)
}

/// Every number in the JSON, flattened.
func jsonNumbers(_ result: AnalysisResult) throws -> [Double] {
  var out: [Double] = []
  func walk(_ value: Any) {
    if let n = value as? NSNumber { out.append(n.doubleValue) } else if let a = value as? [Any] { a.forEach(walk) } else if let d = value as? [String: Any] { d.values.forEach(walk) }
  }
  walk(try JSONSerialization.jsonObject(with: result.jsonData()))
  return out
}

/// Formatted figures of an English report: money, percentages, decimals and grouped counts.
func printedFigures(_ text: String) -> [(value: Double, tolerance: Double, token: String)] {
  let pattern = try! NSRegularExpression(pattern: #"(-?€?-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?€?-?\d+\.\d+|-?€-?\d+)(%)?"#)
  var out: [(Double, Double, String)] = []
  let ns = text as NSString
  for match in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
    let token = ns.substring(with: match.range)
    // Skip parts of dates, identifiers and version-like labels.
    let before = match.range.location > 0 ? ns.substring(with: NSRange(location: match.range.location - 1, length: 1)) : " "
    if before.rangeOfCharacter(from: .letters) != nil || before == "-" || before == "/" || before == "+" { continue }
    let isPercent = token.hasSuffix("%")
    let digits = token.replacingOccurrences(of: "€", with: "").replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "%", with: "")
    guard var value = Double(digits) else { continue }
    let decimals = digits.split(separator: ".").dropFirst().first?.count ?? 0
    var tolerance = 0.5 * pow(10, -Double(decimals)) + 1e-9
    if isPercent {
      value /= 100
      tolerance /= 100
    }
    out.append((value, tolerance, token))
  }
  return out
}

@Suite("Reports")
struct ReportTests {
  @Test("every figure printed in Markdown and HTML is in the JSON", arguments: [ArtifactFormat.md, .html])
  func consistency(format: ArtifactFormat) throws {
    var text = page(fixture, format, .en)
    // Chart geometry is not a figure: every value a chart draws is printed in a table beside it.
    text = text.replacingOccurrences(of: #"<svg[\s\S]*?</svg>"#, with: "", options: .regularExpression)
      .replacingOccurrences(of: #"<style>[\s\S]*?</style>"#, with: "", options: .regularExpression)
    let numbers = try jsonNumbers(fixture)
    var missing: [String] = []
    for figure in printedFigures(text) where !numbers.contains(where: { abs($0 - figure.value) <= figure.tolerance || abs(-$0 - figure.value) <= figure.tolerance }) {
      missing.append(figure.token)
    }
    #expect(missing.isEmpty, "figures not in the JSON: \(missing)")
  }

  @Test("shares add up to 100 % and counts to the customer total")
  func totals() {
    #expect(abs(fixture.lifecycle.groups.map(\.share).reduce(0, +) - 1) < 1e-9)
    #expect(fixture.rfm.segments.map(\.customers).reduce(0, +) == fixture.customers)
    for group in fixture.insights.categories?.byGroup ?? [] { #expect(abs(group.shares.reduce(0, +) - 1) < 1e-9) }
  }

  @Test("every section is present, in order, in both languages", arguments: ReportLanguage.allCases)
  func sections(language: ReportLanguage) throws {
    let md = page(fixture, .md, language)
    let headings = md.split(separator: "\n").filter { $0.hasPrefix("## ") }.map { String($0.dropFirst(3)) }
    let expected = language == .en
      ? ["Executive summary", "Strategic insights: opportunities and risks", "Recommended actions", "KPIs to monitor", "Retention", "Predicted value", "Next steps", "Methodology and data quality"]
      : ["Synthèse exécutive", "Insights stratégiques : opportunités et risques", "Recommandations actionnables", "KPIs à surveiller", "Rétention", "Valeur prédite", "Prochaines étapes", "Méthodologie et qualité des données"]
    #expect(headings == expected)
  }

  @Test("no mixed language: the English report has no French sentence and the reverse")
  func languages() throws {
    let en = page(fixture, .md, .en)
    let fr = page(fixture, .md, .fr)
    for word in [" clients ", " des ", " chiffre d'affaires", " commandes "] { #expect(!en.contains(word), "English report contains '\(word)'") }
    for word in [" customers ", " the ", " revenue ", " orders "] { #expect(!fr.contains(word), "French report contains '\(word)'") }
  }

  @Test("numbers are formatted for the language")
  func numberFormats() {
    #expect(NumberStyle(language: .en, currency: "EUR").money(2852.4) == "€2,852.40")
    #expect(NumberStyle(language: .fr, currency: "EUR").money(2852.4) == "2\u{202F}852,40\u{00A0}€")
    #expect(NumberStyle(language: .fr, currency: "EUR").percent(0.3) == "30,0\u{00A0}%")
    #expect(NumberStyle(language: .en, currency: "USD").money(-5) == "-$5.00")
  }

  @Test("HTML is self-contained: inline SVG charts, no script, no external resource")
  func html() throws {
    let html = page(fixture, .html, .en)
    #expect(html.hasPrefix("<!DOCTYPE html>"))
    #expect(html.components(separatedBy: "<svg").count - 1 >= 6)
    #expect(!html.contains("<script"))
    #expect(!html.contains("http://") || html.contains("http://www.w3.org/2000/svg"))
    #expect(!html.contains("https://"))
  }
}

/// A purchase log without amounts (customer and date, as loyalty and visit logs are).
@Suite("Purchase logs without amounts")
struct NoAmountTests {
  static let log: (AnalysisResult, CustomerResults) = {
    var csv = "member,visit_date\n"
    for c in 0..<200 {
      for v in 0..<(1 + c % 7) { csv += "M\(c),2024-\(String(format: "%02d", 1 + (c + v * 2) % 12))-\(String(format: "%02d", 1 + (c * 3 + v) % 28))\n" }
    }
    let data = try! TransactionIngestor.ingest(Array(csv.utf8), options: IngestOptions(columns: ["customer": "member", "date": "visit_date"]))
    return try! Analyzer.run(data)
  }()

  @Test("it is analysed on recency and frequency; nothing that needs money is made up")
  func analysed() {
    let (result, customers) = Self.log
    #expect(!result.dataQuality.amounts && result.revenue == 0 && result.customers == 200)
    #expect(customers.scores.m == customers.scores.f)
    #expect(customers.predictedCLV.allSatisfy { $0 == 0 } && customers.expectedPurchases.contains { $0 > 0 })
    #expect(result.insights.categories == nil && result.insights.promotion == nil && result.clv.sixMonths == nil && result.clv.valuableAtRisk.isEmpty)
    #expect(!result.alerts.contains { $0.id == .orderValueDrop } && !result.targets.contains { $0.unit == .currency })
    #expect(result.actions.allSatisfy { $0.estimate == nil } && !result.keyPoints.contains { $0.id == .highValueCluster })
  }

  @Test("the report shows no amount and says why", arguments: ReportLanguage.allCases)
  func report(language: ReportLanguage) {
    let md = page(Self.log.0, .md, language)
    #expect(!md.contains("€"), "an amount is printed")
    #expect(md.contains(language == .fr ? "**Montants** : le fichier n'a pas de colonne de montant" : "**Amounts**: the file has no amount column"))
    #expect(md.contains(language == .fr ? "Sans montants, aucune valeur n'est prédite" : "Without amounts, no value is predicted"))
  }
}

/// Exports shorter than the six months the outlook is set against.
@Suite("Six-month outlook on short histories")
struct ShortHistoryOutlookTests {
  /// An export from `first` to `last` (both order days): 300 customers, one to five orders
  /// each on days spread over the span, amounts from 10.00 to 59.00.
  static func export(first: String, last: String) -> (csv: String, orders: [(day: Int, amount: Double)]) {
    let start = parseISODate(first)!, end = parseISODate(last)!
    var orders: [(day: Int, amount: Double)] = [(start, 25), (end, 35)]
    var csv = "customer_id,order_date,amount\nC0,\(first),25.00\nC1,\(last),35.00\n"
    for c in 2..<300 {
      for v in 0..<(1 + c % 5) {
        let day = start + (c * 7 + v * 13) % (end - start + 1)
        let amount = Double(10 + (c * (v + 1)) % 50)
        orders.append((day, amount))
        csv += "C\(c),\(isoDate(day)),\(String(format: "%.2f", amount))\n"
      }
    }
    return (csv, orders)
  }

  @Test(
    "the outlook is set against the complete months the data has, and says how many",
    arguments: [
      ("2024-03-10", "2024-04-20", 0), ("2024-03-01", "2024-04-20", 1), ("2024-01-01", "2024-04-15", 3), ("2023-06-01", "2024-04-20", 6),
    ])
  func months(first: String, last: String, complete: Int) throws {
    let (csv, orders) = Self.export(first: first, last: last)
    let result = try Analyzer.run(TransactionIngestor.ingest(Array(csv.utf8))).result
    let outlook = try #require(result.clv.sixMonths)
    #expect(outlook.recentMonths == complete)
    // The complete months are the whole calendar months inside the span; the last `complete`
    // of them, added up from the rows.
    let lastWhole = monthIndex(ofDay: parseISODate(last)! + 1) - 1
    let months = complete == 0 ? [] : Set((lastWhole - complete + 1)...lastWhole)
    let revenue = orders.filter { months.contains(monthIndex(ofDay: $0.day)) }.map(\.amount).reduce(0, +)
    if complete == 0 {
      #expect(outlook.recentMonthlyRevenue == nil)
    } else {
      #expect(abs(try #require(outlook.recentMonthlyRevenue) - revenue / Double(complete)) < 1e-6)
    }
    let dropout = !result.clv.diagnostics.contains { $0.id == .dropoutNotIdentified }
    let en = page(result, .md, .en), fr = page(result, .md, .fr)
    switch complete {
    case 0:
      #expect(en.contains(dropout ? "with no complete month of data to set it against" : "the data holds no complete month to tell what they bring in one"))
      #expect(fr.contains(dropout ? "sans mois complet de données auquel le comparer" : "les données ne comptent aucun mois complet"))
    case 1:
      #expect(en.contains("in the one complete month of data") && fr.contains("sur le seul mois complet de données"))
    default:
      #expect(en.contains("over the last \(complete) complete months") && fr.contains("sur les \(complete) derniers mois complets"))
    }
    if complete < 6 { #expect(!en.contains("last 6 complete months") && !fr.contains("6 derniers mois complets")) }
  }
}

/// A fit that gives every customer the same prediction.
@Suite("Predictions that tell no customer apart")
struct UndifferentiatedPredictionTests {
  @Test("seven weeks where every customer keeps buying: the report says its predictions are one figure for all")
  func sameForAll() throws {
    let (csv, _) = ShortHistoryOutlookTests.export(first: "2024-03-01", last: "2024-04-20")
    let (result, customers) = try Analyzer.run(TransactionIngestor.ingest(Array(csv.utf8)))
    let diagnostic = try #require(result.clv.diagnostics.first { $0.id == .predictionsUndifferentiated })
    let (low, high) = (customers.expectedPurchases.min()!, customers.expectedPurchases.max()!)
    #expect(high - low <= 0.01 * high && abs(diagnostic.value - (high - low) / high) < 1e-12)
    #expect(diagnostic.customers == customers.table.count)
    #expect(page(result, .md, .en).contains("The purchase model tells no customer from another on this data"))
    #expect(page(result, .md, .fr).contains("Le modèle d'achat ne distingue aucun client d'un autre"))
  }

  @Test("a history whose customers differ does not raise it; a visit log that repeats one pattern does")
  func differentCustomers() {
    #expect(!fixture.clv.diagnostics.contains { $0.id == .predictionsUndifferentiated })
    // Every member's visits follow one cycle through the year: the fit finds one rate for
    // all (3.775 expected visits each, 0.02 % apart).
    let (log, members) = NoAmountTests.log
    #expect(log.clv.diagnostics.contains { $0.id == .predictionsUndifferentiated })
    #expect(members.expectedPurchases.max()! - members.expectedPurchases.min()! <= 0.01 * members.expectedPurchases.max()!)
  }
}
