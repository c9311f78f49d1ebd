import Analytics
import Foundation
import Testing

@testable import Reports

/// What comes from the data (a tenant's name, customer ids, category names) is text in
/// every format: never markup, a link, a heading or a script.
@Suite("Report injection")
struct InjectionTests {
  static let hostile = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "x\n# Injected heading", "[click](javascript:alert(1))",
    "<javascript:alert(1)>", "**bold** _it_ `code` | pipe", "=cmd|' /C calc'!A0", "![img](http://example.invalid/x.png)",
  ]

  func hostileResult() -> AnalysisResult {
    var result = fixture
    for (i, name) in Self.hostile.enumerated() where i < result.clv.valuableAtRisk.count {
      result.clv.valuableAtRisk[i].customerId = name
    }
    result.clv.valuableAtRisk[0].customerId = Self.hostile.joined(separator: " ")
    if var categories = result.insights.categories {
      for i in categories.categories.indices where categories.categories[i] != "other" { categories.categories[i] = Self.hostile[i % Self.hostile.count] }
      result.insights.categories = categories
    }
    return result
  }

  @Test("the Markdown escapes what it takes from the data", arguments: ReportLanguage.allCases)
  func markdown(language: ReportLanguage) throws {
    let text = page(hostileResult(), .md, language, tenantName: "Evil <b>Corp</b>\n# Owned")
    // Markup would be these characters without a backslash before them.
    for pattern in [#"(?<!\\)<(script|img|b>|javascript)"#, #"(?<!\\)\]\(javascript"#, #"(?<!\\)!(?<!\\)\["#, #"(?<!\\)\*\*bold"#] {
      #expect(text.range(of: pattern, options: .regularExpression) == nil, "\(pattern)")
    }
    let lines = text.split(separator: "\n")
    #expect(!lines.contains { $0.hasPrefix("# Injected") || $0.hasPrefix("# Owned") })
    // Still readable: the characters are there, escaped.
    #expect(text.contains("\\<script\\>alert(1)\\</script\\>"))
  }

  @Test("the HTML shows the data as text, without the Markdown escapes", arguments: ReportLanguage.allCases)
  func html(language: ReportLanguage) throws {
    let text = page(hostileResult(), .html, language, tenantName: "Evil <b>Corp</b>")
    #expect(!text.contains("<script"))
    #expect(!text.contains("<img"))
    #expect(!text.contains("<b>Corp"))
    #expect(!text.contains("href="))
    #expect(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    #expect(text.contains("Evil &lt;b&gt;Corp&lt;/b&gt;"))
    #expect(!text.contains("\\<"))
  }

  @Test("literal text round-trips through the HTML renderer", arguments: InjectionTests.hostile)
  func roundTrip(text: String) {
    let flattened = text.replacingOccurrences(of: "\n", with: " ")
    #expect(MarkdownText.unescaped(MarkdownText.literal(text)) == flattened)
  }
}
