import Analytics
import Foundation
import Testing

@testable import Reports

/// Every language speaks every sentence of the report, with the same figures as English.
@Suite("Report languages")
struct LanguageTests {
  @Test("every language has a template for every key", arguments: ReportLanguage.allCases)
  func everyKey(language: ReportLanguage) {
    let pack = language.pack
    #expect(pack.language == language)
    let missing = TextKey.allCases.filter { (pack.texts[$0] ?? "").isEmpty }
    #expect(missing.isEmpty, "\(language.rawValue) lacks \(missing.map(\.rawValue))")
  }

  @Test("every template uses exactly the placeholders of the English one", arguments: ReportLanguage.allCases)
  func samePlaceholders(language: ReportLanguage) {
    for key in TextKey.allCases {
      let english = LanguagePack.placeholders(in: LanguagePack.english.texts[key] ?? "")
      let other = LanguagePack.placeholders(in: language.pack.texts[key] ?? "")
      #expect(other == english, "\(language.rawValue).\(key.rawValue): \(other.sorted()) against English \(english.sorted())")
      // Placeholders are numbered from 0 without a gap, so a call site passes them in order.
      #expect(english == Set(0..<english.count), "\(key.rawValue) skips a placeholder number")
    }
  }

  @Test("every key is used by a builder")
  func everyKeyUsed() throws {
    let sources = testDirectory.appendingPathComponent("../../Sources/Reports")
    let files = (FileManager.default.enumerator(atPath: sources.path)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".swift") }
    let builder = try files.map { try String(contentsOf: sources.appendingPathComponent($0), encoding: .utf8) }.joined()
    let unused = TextKey.allCases.filter { key in [",", ")"].allSatisfy { !builder.contains(".\(key.rawValue)\($0)") } }
    #expect(unused.isEmpty, "keys no sentence uses: \(unused.map(\.rawValue))")
  }

  @Test("placeholders are filled in order; braces without a number stay as written")
  func filling() {
    let pack = LanguagePack.english
    #expect(pack.text(.estimateOneMoreOrder, ["10.0%", "12", "€50.00", "€5.00"]).hasPrefix("if 10.0% of the 12 customers"))
    #expect(pack.text(.labelCustomers, []) == "Customers")
    #expect(LanguagePack.placeholders(in: "{0} and {1}, {x} {") == [0, 1])
  }

  @Test("numbers, money, shares and dates follow the language's conventions")
  func conventions() {
    let en = NumberStyle(language: .en, currency: "EUR"), fr = NumberStyle(language: .fr, currency: "EUR")
    #expect(en.money(-2852.4) == "-€2,852.40" && fr.money(2852.4) == "2\u{202F}852,40\u{00A0}€")
    #expect(NumberStyle(language: .en, currency: "CHF").money(12) == "12.00 CHF")
    #expect(en.percent(0.3) == "30.0%" && fr.percent(0.3) == "30,0\u{00A0}%")
    #expect(en.date("2026-02-20") == "2026-02-20" && fr.date("2026-02-20") == "20/02/2026")
  }
}

/// Two groups of different definitions never share a name in one report.
@Suite("Group names")
struct GroupNameTests {
  @Test("lifecycle groups, RFM segments and cluster kinds have distinct names in every language", arguments: ReportLanguage.allCases)
  func distinct(language: ReportLanguage) {
    let builder = ReportBuilder(result: fixture, language: language)
    let names = LifecycleGroup.allCases.map(builder.groupName) + RFMSegment.allCases.map(builder.segmentName)
      + ClusterKind.allCases.map { builder.clusterName(ClusterName(kind: $0)) } + [builder.groupName(CustomerGroup.oneTimeBuyers), builder.groupName(CustomerGroup.oneTimeBuyersNotLost)]
    let folded = names.map { $0.lowercased() }
    #expect(Set(folded).count == folded.count, "\(language.rawValue): \(names)")
  }

  @Test("a cluster is called high value only when its orders are worth more than the average order")
  func highValueMeansOrderValue() {
    for cluster in fixture.clusters.profiles where cluster.name.kind == .highValue {
      #expect(cluster.orderValueIndex >= 1.2, "\(cluster.name): \(cluster.orderValueIndex)")
    }
  }
}
