import Analytics
import Foundation
import Testing

@testable import Reports

/// Headings of a Markdown report, `#` marks included, one per line.
func headings(_ markdown: String) -> [String] {
  markdown.split(separator: "\n").filter { $0.hasPrefix("#") }.map(String.init)
}

/// Compares `actual` with the committed file `Golden/name`. With FIDELIS_UPDATE_GOLDEN=1 the
/// file is rewritten instead (then read the diff before committing it).
func expectGolden(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
  let url = testDirectory.appendingPathComponent("Golden/\(name)")
  if ProcessInfo.processInfo.environment["FIDELIS_UPDATE_GOLDEN"] == "1" {
    try actual.write(to: url, atomically: true, encoding: .utf8)
    return
  }
  let expected = try String(contentsOf: url, encoding: .utf8)
  guard actual != expected else { return }
  let a = actual.components(separatedBy: "\n")
  let e = expected.components(separatedBy: "\n")
  let line = (0..<min(a.count, e.count)).first { a[$0] != e[$0] } ?? min(a.count, e.count)
  let written = FileManager.default.temporaryDirectory.appendingPathComponent("actual-\(name)")
  try actual.write(to: written, atomically: true, encoding: .utf8)
  Issue.record(
    "\(name) differs from the golden file at line \(line + 1):\n  golden: \(line < e.count ? e[line] : "(end)")\n  actual: \(line < a.count ? a[line] : "(end)")\nactual output: \(written.path); FIDELIS_UPDATE_GOLDEN=1 rewrites the golden files",
    sourceLocation: sourceLocation)
}

@Suite("Golden reports")
struct GoldenTests {
  @Test("the report of the fixed data set is the reviewed one", arguments: ReportLanguage.allCases, [ArtifactFormat.md, .html])
  func golden(language: ReportLanguage, format: ArtifactFormat) throws {
    let text = page(fixture, format, language)
    try expectGolden(text, "report.\(language.rawValue).\(format.rawValue)")
  }

  @Test("snapshot of the French report's headings")
  func frenchHeadings() throws {
    let md = page(fixture, .md, .fr)
    try expectGolden(headings(md).joined(separator: "\n") + "\n", "headings.fr.txt")
  }

  /// Each heading of the two hand-written seed reports (Seeds/), and the heading of ours
  /// that covers it. Theirs carry their own data's counts and cluster numbers, so ours are
  /// matched on the words that do not depend on the data.
  static let seedCoverage: [String: String] = [
    "# Augmenter la fidélisation des clients grâce à l'analyse des données d'achat": "# Rapport de fidélisation client",
    "## Introduction": "### Introduction",
    "## Histoire et Découvertes Clés": "### Histoire et découvertes clés",
    "## Visualisation": "### Visualisation",
    "## Actions et Stratégies Proposées": "### Actions et stratégies proposées",
    "## Conclusion et Suivi": "### Conclusion et suivi",
    "# SYNTHÈSE EXÉCUTIVE": "## Synthèse exécutive",
    "## 📊 Performance Globale": "### Performance globale",
    "## 🎯 Points Clés": "### Points clés",
    "# INSIGHTS STRATÉGIQUES": "## Insights stratégiques",
    "## 🚀 Opportunités de Croissance": "### Opportunités de croissance",
    "### Segment \"Clients Potentiels\" (124 clients)": "#### Clients potentiels (",
    "### Cluster 2 - \"High Value\" (51 clients)": "#### Cluster 0 – ",
    "## ⚠️ Menaces et Risques": "### Menaces et risques",
    "### Clients à Risque (175 clients - 22.1%)": "#### Clients à risque (",
    "### Clients Perdus (141 clients - 17.8%)": "#### Clients perdus (",
    "# RECOMMANDATIONS ACTIONNABLES": "## Recommandations actionnables",
    "## 1. 🎯 Campagne Réactivation Prioritaire": "Campagne de réactivation prioritaire",
    "## 2. 💎 Programme VIP Cluster 2": "Programme VIP pour le cluster",
    "## 3. 📈 Optimisation Cross-selling": "Optimisation cross-selling",
    "## 4. 🔍 Analyse Causes Churn": "Analyse des causes de churn",
    "# KPIs À SURVEILLER": "## KPIs à surveiller",
    "## 📊 Indicateurs Critiques": "### Indicateurs critiques",
    "## 🎯 Alertes Automatiques": "### Alertes automatiques",
    "# PROCHAINES ÉTAPES": "## Prochaines étapes",
    "## 📅 Plan d'Action 30 Jours": "### Plan d'action 30 jours",
    "## 📈 Objectifs 90 Jours": "### Objectifs 90 jours",
    "## 🚀 Vision 6 Mois": "### Vision 6 mois",
  ]

  @Test("every heading of the seed reports has its counterpart in the French report")
  func seedHeadings() throws {
    let md = page(fixture, .md, .fr)
    let ours = headings(md)
    for seed in ["data-story-example.md", "executive-summary-example.md"] {
      let text = try String(contentsOf: testDirectory.appendingPathComponent("Seeds/\(seed)"), encoding: .utf8)
      for heading in headings(text) {
        guard let counterpart = Self.seedCoverage[heading] else {
          Issue.record("\(seed): heading \(heading) has no counterpart listed")
          continue
        }
        #expect(ours.contains { $0.hasPrefix(counterpart) || $0.contains(counterpart) }, "\(seed): \(heading) → \(counterpart) missing")
      }
    }
  }
}
