@testable import Analytics
import Foundation
import Testing

@testable import Reports

/// The fixture as the third report of a series: a comparison with every part filled in.
private let compared: AnalysisResult = {
  var result = fixture
  let groups = LifecycleGroup.allCases.map(\.rawValue)
  var values = SeriesValues()
  values[.engagedShare] = 0.4
  values[.averageOrderValue] = 30
  var later = values
  later[.engagedShare] = 0.45
  result.comparison = Comparison(
    previousJob: "job_prev", previousAsOf: "2025-01-01", days: 30,
    kpiChanges: [.init(id: .engagedShare, unit: .share, before: 0.4, after: 0.45, change: 0.05), .init(id: .customers, unit: .count, before: 380, after: 400, change: 20)],
    segmentMigration: .init(
      rfm: .init(rows: ["Champions", Comparison.notInPrevious], columns: ["Champions", "At Risk"], counts: [[5, 2], [1, 0]], absent: [1, 0]),
      lifecycle: .init(rows: groups + [Comparison.notInPrevious], columns: groups, counts: Array(repeating: [1, 0, 0, 2, 0], count: groups.count + 1), absent: [0, 0, 0, 0, 3, 0])),
    actionFollowUp: [
      .init(action: "reactivation", segments: ["at_risk", "lost"], targeted: 10, orderedAgain: 2, rate: 0.2, kpi: "reactivation_rate", kpiBefore: nil, kpiAfter: 0.2, kpiTarget: 0.15, met: true),
      .init(action: "churn_survey", segments: ["lost"], targeted: 4, orderedAgain: 0, rate: 0, kpi: "survey_response_rate", kpiBefore: nil, kpiAfter: nil, kpiTarget: 0.2, met: nil),
    ],
    trend: [.init(job: "a", asOf: "2024-12-01", values: values), .init(job: "job_prev", asOf: "2025-01-01", values: SeriesValues()), .init(job: "b", asOf: "2025-01-31", values: later)])
  return result
}()

@Suite("Since the last report")
struct ComparisonReportTests {
  @Test("the section is in every format and language, with its figures", arguments: ReportLanguage.allCases)
  func section(language: ReportLanguage) throws {
    let md = page(compared, .md, language)
    let heading = language == .en ? "## Since the last report" : "## Depuis le dernier rapport"
    #expect(md.contains(heading))
    #expect(!page(fixture, .md, language).contains(heading))
    #expect(md.contains(language == .en ? "+5.0 pts" : "+5,0 pts"))
    // The matrix's table: a row per earlier group, columns nobody is in left out, the customers gone last.
    #expect(md.contains(language == .en ? "| Lost customers | 1 | 2 | 3 |" : "| Clients perdus | 1 | 2 | 3 |"), "\(md)")
    #expect(md.contains(language == .en ? "not measurable from purchases" : "non mesurable par les achats"))
    let html = page(compared, .html, language)
    #expect(html.contains(heading.replacingOccurrences(of: "## ", with: "<h2>")))
    #expect(html.contains("data-kind=\"lines\""))
    // The report with no figure for a point leaves a gap: two separate runs of the line.
    #expect(html.contains("<path d=\"M"))
  }

  @Test("the JSON carries the comparison as documented, and a report without one has none")
  func json() throws {
    let object = try JSONSerialization.jsonObject(with: compared.jsonData()) as! [String: Any]
    let comparison = try #require(object["comparison"] as? [String: Any])
    #expect(Set(comparison.keys) == ["previous_job", "previous_as_of", "days", "kpi_changes", "segment_migration", "action_follow_up", "trend"])
    let follow = (comparison["action_follow_up"] as! [[String: Any]])[0]
    #expect(Set(follow.keys).isSuperset(of: ["action", "targeted", "ordered_again", "rate", "kpi_target", "met"]))
    let plain = try JSONSerialization.jsonObject(with: fixture.jsonData()) as! [String: Any]
    #expect(plain["comparison"] == nil)
  }
}
